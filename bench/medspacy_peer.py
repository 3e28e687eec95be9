"""medspacy's ConText pipeline as a ChestX-ray14 labeler: the peer bench/extract_quality.py runs in its own Python.

    MEDSPACY_PYTHON/bin/python bench/medspacy_peer.py IN.jsonl OUT.jsonl

Reads {"id", "text"} lines, writes {"id", "labels": {finding: "present"|"uncertain"|"absent"}} lines. medspacy's
default pipeline (PyRuSH sentences, its target matcher, ConText with its default rules) plus one target rule per
finding phrase below (written for this benchmark, the ChestX-ray14 findings' usual wordings). A finding is present
when any of its mentions is neither negated nor uncertain nor historical/hypothetical/family, else uncertain when
one is uncertain, else absent when one is negated.
"""

import json
import sys

TARGETS = {
    "Atelectasis": ["atelectasis", "atelectatic", "collapse"],
    "Cardiomegaly": ["cardiomegaly", "enlarged heart", "enlargement of the heart", "heart is enlarged",
                     "cardiac enlargement", "enlarged cardiac silhouette"],
    "Effusion": ["pleural effusion", "pleural effusions", "effusion", "effusions", "pleural fluid"],
    "Infiltration": ["infiltrate", "infiltrates", "infiltration"],
    "Mass": ["mass", "masses"],
    "Nodule": ["nodule", "nodules"],
    "Pneumonia": ["pneumonia", "pneumonias"],
    "Pneumothorax": ["pneumothorax", "pneumothoraces"],
    "Consolidation": ["consolidation", "consolidations"],
    "Edema": ["edema", "pulmonary edema", "vascular congestion"],
    "Emphysema": ["emphysema", "emphysematous"],
    "Fibrosis": ["fibrosis", "fibrotic"],
    "Pleural_Thickening": ["pleural thickening", "thickening of the pleura", "pleural scarring", "apical capping",
                           "pleural capping"],
    "Hernia": ["hernia", "hiatal hernia"],
}


def main() -> None:
    from loguru import logger

    logger.remove()  # PyRuSH logs every sentence at DEBUG
    import medspacy
    from medspacy.target_matcher import TargetRule

    nlp = medspacy.load(medspacy_enable=["medspacy_pyrush", "medspacy_target_matcher", "medspacy_context"])
    nlp.get_pipe("medspacy_target_matcher").add(
        [TargetRule(p, label) for label, phrases in TARGETS.items() for p in phrases])
    with open(sys.argv[1], encoding="utf-8") as fi, open(sys.argv[2], "w", encoding="utf-8") as fo:
        for line in fi:
            rec = json.loads(line)
            states: dict[str, str] = {}
            for e in nlp(rec["text"]).ents:
                if e._.is_historical or e._.is_hypothetical or e._.is_family:
                    continue
                s = "absent" if e._.is_negated else "uncertain" if e._.is_uncertain else "present"
                old = states.get(e.label_)
                rank = {"present": 2, "uncertain": 1, "absent": 0}
                if old is None or rank[s] > rank[old]:
                    states[e.label_] = s
            fo.write(json.dumps({"id": rec["id"], "labels": states}) + "\n")


if __name__ == "__main__":
    main()
