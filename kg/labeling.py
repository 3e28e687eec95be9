"""`kg label`: finding labels per report in the CheXpert or ChestX-ray14 layout (extract.labels)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from extract.labels import LabelPolicy, label_row, load_label_map, write_labels
from extract.sections import target_text
from kg.corpus import Rejected, read_corpus, unique_records
from kg.executors import executor_for
from kg.step import StepConfig


@dataclass
class LabelCounts:
    read: int = 0
    labelled: int = 0
    quarantined: int = 0


def run_label(source: Path, out: Path, *, schema: str, policy: LabelPolicy, map_path: Path | None = None,
              ids: bool = False, fmt: str = "auto", limit: int | None = None, workers: int = 1,
              extractor: str = "rules", umls: Path | None = None, advance=lambda n=1: None) -> LabelCounts:
    """Label every report of ``source``; rows in corpus order. The CSV is written whole (a temporary file renamed)
    and records that could not be read go to ``OUT.quarantine.jsonl``."""
    policy.check()
    mapping = load_label_map(schema, map_path)
    counts, rows, rejected = LabelCounts(), [], []
    ex = executor_for(None, workers)
    try:
        for r in ex.map(StepConfig(extractor=extractor, umls=umls), unique_records(read_corpus(source, fmt=fmt, limit=limit))):
            counts.read += 1
            advance()
            if isinstance(r, Rejected):
                counts.quarantined += 1
                rejected.append(r.as_dict())
                continue
            key = r.study.report_id if (ids or schema == "chestxray14") else target_text(r.study.text, r.extraction.sections)
            rows.append((key, label_row(r.extraction.concepts, schema, mapping, policy)))
            counts.labelled += 1
    finally:
        ex.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    write_labels(rows, schema, out, id_header="id" if ids and schema == "chexpert" else None)
    if rejected:
        q = out.with_name(out.name + ".quarantine.jsonl")
        q.write_text("".join(json.dumps(x, sort_keys=True) + "\n" for x in rejected), encoding="utf-8")
    return counts

