"""`kg eval extract`: run the extractor over reports and score it against labels or RadGraph gold."""

from __future__ import annotations

import json
from pathlib import Path

from extract.base import get_extractor
from extract.evaluate import (
    load_finding_map,
    load_labels,
    predict_findings,
    score_labels,
)
from extract.lexicon import Lexicon
from extract.radgraph import align_to_gold, read_radgraph, score_radgraph
from extract.sections import split_sections, target_sections
from kg.corpus import Study, read_corpus


def eval_labels(source: Path, labels_path: Path, map_path: Path | None, *, extractor: str = "rules",
                errors: Path | None = None) -> dict:
    fmap = load_finding_map(map_path)
    labels = load_labels(labels_path)
    x = get_extractor(extractor, Lexicon.default())
    preds: dict[str, dict[str, str]] = {}
    for rec in read_corpus(source):
        if not isinstance(rec, Study):
            continue
        sections = split_sections(rec.text)
        if not target_sections(sections):
            preds[rec.report_id] = {}
            continue
        preds[rec.report_id] = predict_findings(x.extract(rec.report_id, rec.text, sections).concepts, fmap)
    scores = score_labels(preds, labels, fmap)
    if errors is not None:
        with errors.open("w", encoding="utf-8") as fh:
            for e in scores.errors:
                fh.write(json.dumps(e) + "\n")
    out = scores.as_dict()
    out["extractor"] = x.id
    return out


def eval_radgraph(gold_path: Path, *, labeler: str | None = None, extractor: str = "rules") -> dict:
    gold = read_radgraph(gold_path, labeler=labeler)
    x = get_extractor(extractor, Lexicon.default())
    pred = {}
    for g in gold:
        # the gold text has no section headers: the whole document is read as one section
        from extract.records import Section

        sec = (Section("findings", "", 0, len(g.text)),)
        pred[g.id] = align_to_gold(g, x.extract(g.id, g.text, sec), g.text)
    out = score_radgraph(gold, pred)
    out["extractor"] = x.id
    return out
