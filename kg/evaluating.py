"""`kg eval extract`: run the per-study step over reports and score it against labels or RadGraph gold."""

from __future__ import annotations

import json
from pathlib import Path

from extract.evaluate import (
    load_finding_map,
    load_labels,
    predict_findings,
    resolve_finding_names,
    score_labels,
)
from extract.radgraph import align_to_gold, read_radgraph, score_radgraph
from extract.records import Polarity, Section
from kg.core.quarantine import Quarantine
from kg.corpus import read_corpus
from kg.engines import engine_for
from kg.runner import StepRun
from kg.step import StepConfig, context_for


def eval_labels(source: Path, labels_path: Path, map_path: Path | None, *, extractor: str = "rules",
                umls: Path | None = None, errors: Path | None = None, workers: int = 1) -> dict:
    labels = load_labels(labels_path)
    fmap = load_finding_map(map_path)
    # the labels may name kg label's labels ("Edema"): they join the map with their concepts before predicting
    fmap |= resolve_finding_names({f for row in labels.values() for f in row}, fmap).added
    config = StepConfig(extractor=extractor, umls=umls)
    preds: dict[str, dict[str, Polarity]] = {}
    quarantine = Quarantine()
    with StepRun(read_corpus(source), config, engine=engine_for(None, workers), quarantine=quarantine) as run:
        for r in run:
            preds[r.study.report_id] = predict_findings(r.extraction.concepts, fmap)
    for q in quarantine.records:
        if q.stage != "read":  # read, but nothing to extract: scored as predicting nothing
            preds.setdefault(q.record_id, {})
    scores = score_labels(preds, labels, fmap)
    if errors is not None:
        with errors.open("w", encoding="utf-8") as fh:
            for e in scores.errors:
                fh.write(json.dumps(e) + "\n")
    out = scores.as_dict()
    out["extractor"] = context_for(config).extractor.id
    return out


def eval_radgraph(gold_path: Path, *, labeler: str | None = None, extractor: str = "rules",
                  umls: Path | None = None) -> dict:
    """Entity and relation F1 against RadGraph gold. Gold texts have no section headers, so each document is
    read as one findings section (the extractor of the step's context, with its concept index)."""
    gold = read_radgraph(gold_path, labeler=labeler)
    x = context_for(StepConfig(extractor=extractor, umls=umls)).extractor
    pred = {}
    for g in gold:
        sec = (Section("findings", "", 0, len(g.text)),)
        pred[g.id] = align_to_gold(g, x.extract(g.id, g.text, sec), g.text)
    out = score_radgraph(gold, pred)
    out["extractor"] = x.id
    return out
