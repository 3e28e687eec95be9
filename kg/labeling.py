"""`kg label`: finding labels per report in the CheXpert or ChestX-ray14 layout (extract.labels)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from extract.labels import LabelPolicy, label_row, load_label_map, write_labels
from extract.sections import target_text
from kg.core.quarantine import Quarantine
from kg.corpus import read_corpus
from kg.engines import engine_for
from kg.runner import StepRun, quarantine_path
from kg.step import StepConfig


@dataclass
class LabelCounts:
    read: int = 0
    labelled: int = 0
    quarantined: int = 0


def run_label(source: Path, out: Path, *, schema: str, policy: LabelPolicy, map_path: Path | None = None,
              ids: bool = False, fmt: str = "auto", limit: int | None = None, workers: int = 1,
              extractor: str = "rules", umls: Path | None = None,
              advance: Callable[..., None] = lambda n=1: None) -> LabelCounts:
    """Label every report of ``source``; rows in corpus order. The CSV is written whole (a temporary file renamed)
    and records that could not be read go to ``OUT.quarantine.jsonl``."""
    policy.check()
    mapping = load_label_map(schema, map_path)
    rows = []
    quarantine = Quarantine()
    with StepRun(read_corpus(source, fmt=fmt, limit=limit), StepConfig(extractor=extractor, umls=umls),
                 engine=engine_for(None, workers), quarantine=quarantine, advance=advance) as run:
        for r in run:
            key = r.study.report_id if (ids or schema == "chestxray14") else target_text(r.study.text, r.extraction.sections)
            rows.append((key, label_row(r.extraction.concepts, schema, mapping, policy)))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_labels(rows, schema, out, id_header="id" if ids and schema == "chexpert" else None)
    quarantine.write(quarantine_path(out), if_empty=False)
    return LabelCounts(run.counts.read, run.counts.processed, run.counts.quarantined)
