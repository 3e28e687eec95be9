"""`kg extract`: run an extractor over any corpus and write one JSON object per report.

Each line: ``{"id", "sections": {name: {"start", "end", "header"}}, "entities": <RadGraph entities>,
"concepts": [{"cui", "name", "polarity", "start", "end", "text", "section"}], "merged": [...]}``.
Records that cannot be read or extracted go to ``<out>.quarantine.jsonl`` with their reason; the
counts reconcile (read = written + quarantined). No exception escapes for a bad record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from extract.radgraph import to_radgraph
from kg.core.quarantine import Quarantine
from kg.corpus import read_corpus
from kg.engines import engine_for
from kg.runner import StepRun, quarantine_path
from kg.step import Processed, StepConfig


def record_object(p: Processed) -> dict:
    """The JSON object `kg extract` writes for one processed study."""
    study, x = p.study, p.extraction
    return {
        "id": study.id,
        "sections": {s.name: {"start": s.start, "end": s.end, "header": s.header} for s in x.sections},
        "entities": to_radgraph(x, study.text),
        "concepts": [
            {"cui": m.cui, "name": m.name, "polarity": m.polarity, "certainty": m.certainty, "rule": m.rule,
             "modifiers": list(m.modifiers), "start": m.start, "end": m.end, "text": m.text, "section": m.section}
            for m in x.mentions
        ],
        "merged": [{"cui": c.cui, "name": c.name, "polarity": c.polarity, "certainty": c.certainty,
                    "modifiers": list(c.modifiers), "conflict": c.conflict} for c in x.concepts],
        "extractor": x.extractor,
    }


@dataclass
class ExtractCounts:
    read: int = 0
    written: int = 0
    quarantined: int = 0


def run_extract(source: Path, out: Path, *, fmt: str = "auto", limit: int | None = None, workers: int | None = None,
                extractor: str = "rules", umls: Path | None = None, engine: str | None = None,
                ray_address: str | None = None, gpus_per_actor: float | None = None,
                advance: Callable[..., None] = lambda n=1: None) -> ExtractCounts:
    out.parent.mkdir(parents=True, exist_ok=True)
    quarantine = Quarantine()
    run = StepRun(read_corpus(source, fmt=fmt, limit=limit), StepConfig(extractor=extractor, umls=umls),
                  engine=engine_for(engine, workers, ray_address=ray_address, gpus_per_actor=gpus_per_actor),
                  quarantine=quarantine, advance=advance)
    with run, out.open("w", encoding="utf-8") as fo:
        for p in run:
            fo.write(json.dumps(record_object(p), ensure_ascii=False) + "\n")
    quarantine.write(quarantine_path(out))
    return ExtractCounts(run.counts.read, run.counts.processed, run.counts.quarantined)
