"""extract/evaluate.py: label files name findings as users write them; the scores do not depend on the spelling."""

import json
import subprocess
import sys

from extract.evaluate import finding_key, load_finding_map, resolve_finding_names


def test_natural_names_and_kg_label_labels_are_findings():
    fmap = load_finding_map()
    names = resolve_finding_names(["pleural effusion", "Pleural Effusion", "pneumothorax", "Edema", "Support Devices",
                                   "pleural efusion", "unicorn"], fmap)
    assert names.resolved["pleural effusion"] == names.resolved["Pleural Effusion"] == "pleural_effusion"
    assert names.resolved["pneumothorax"] == "pneumothorax"
    assert names.resolved["Edema"] == "pulmonary_edema"  # the same concepts as the map's finding: that finding
    assert names.resolved["Support Devices"] == "Support Devices" and names.added["Support Devices"]
    assert names.unmapped == {"pleural efusion": "pleural_effusion", "unicorn": None}
    assert finding_key("Pleural_Thickening") == "pleural_thickening"


def test_scores_are_the_same_whatever_the_spelling(tmp_path):
    from kg.sample import sample_corpus

    keys = {"s50000011": {"pleural_effusion": "definitely absent", "pneumothorax": "definitely absent"},
            "s50000021": {"pleural_effusion": "definitely present", "cardiomegaly": "definitely present"}}
    natural = {r: {k.replace("_", " ").capitalize(): v for k, v in row.items()} for r, row in keys.items()}
    out = []
    for labels in (keys, natural):
        path = tmp_path / f"l{len(out)}.json"
        path.write_text(json.dumps(labels))
        p = subprocess.run([sys.executable, "-m", "kg", "eval", "extract", str(sample_corpus()), "--labels", str(path),
                            "--json"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        out.append(json.loads(p.stdout))
    assert out[0]["micro"] == out[1]["micro"] and out[0]["perFinding"] == out[1]["perFinding"]
    assert out[1]["unmappedFindings"] == [] and out[1]["findingNames"]["Pleural effusion"] == "pleural_effusion"
    assert out[0]["micro"]["negative"]["tp"] >= 1
