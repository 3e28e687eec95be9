"""`kg extract`: run an extractor over any corpus and write one JSON object per report.

Each line: ``{"id", "sections": {name: {"start", "end", "header"}}, "entities": <RadGraph entities>,
"concepts": [{"cui", "name", "polarity", "start", "end", "text", "section"}], "merged": [...]}``.
Records that cannot be read or extracted go to ``<out>.quarantine.jsonl`` with their reason; the
counts reconcile (read = written + quarantined). No exception escapes for a bad record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from extract.base import get_extractor
from extract.lexicon import Lexicon
from extract.radgraph import to_radgraph
from extract.sections import split_sections, target_sections
from kg.corpus import Rejected, Study, read_corpus

_X: dict = {}


def _init(extractor: str) -> None:
    _X["x"] = get_extractor(extractor, Lexicon.default())


def extract_record(study: Study) -> tuple[dict | None, dict | None]:
    """(output object, quarantine object) for one study; exactly one is None."""
    try:
        sections = split_sections(study.text)
        if not target_sections(sections):
            return None, Rejected(study.id, study.source, "sections", "no FINDINGS or IMPRESSION text",
                                  "add a FINDINGS or IMPRESSION section, or text without headers").as_dict()
        x = _X["x"].extract(study.report_id, study.text, sections)
    except Exception as exc:  # a bug must not lose the record: quarantine it with the reason
        return None, Rejected(study.id, study.source, "extract", f"extractor error: {type(exc).__name__}: {exc}",
                              "report this record to the medkg developers").as_dict()
    obj = {
        "id": study.id,
        "sections": {s.name: {"start": s.start, "end": s.end, "header": s.header} for s in sections},
        "entities": to_radgraph(x, study.text),
        "concepts": [
            {"cui": m.cui, "name": m.name, "polarity": m.polarity, "start": m.start, "end": m.end, "text": m.text,
             "section": m.section}
            for m in x.mentions
        ],
        "merged": [{"cui": c.cui, "name": c.name, "polarity": c.polarity, "conflict": c.conflict} for c in x.concepts],
        "extractor": x.extractor,
    }
    return obj, None


def _work(rec):
    if isinstance(rec, Rejected):
        return None, rec.as_dict()
    return extract_record(rec)


def _unique(records):
    """The second record with an id already read becomes a Rejected one (it is quarantined, never merged)."""
    seen: dict[str, str] = {}
    for rec in records:
        if isinstance(rec, Study):
            first = seen.get(rec.report_id)
            if first is not None:
                rec = Rejected(rec.id, rec.source, "read", f"duplicate record id {rec.report_id!r}: already read "
                               f"from {first}", "give every record its own id (this one was left out)")
            else:
                seen[rec.report_id] = rec.source
        yield rec


@dataclass
class ExtractCounts:
    read: int = 0
    written: int = 0
    quarantined: int = 0


def run_extract(source: Path, out: Path, *, fmt: str = "auto", limit: int | None = None, workers: int = 1,
                extractor: str = "rules", advance=lambda n=1: None) -> ExtractCounts:
    records = _unique(read_corpus(source, fmt=fmt, limit=limit))
    counts = ExtractCounts()
    qpath = out.with_name(out.name + ".quarantine.jsonl") if out.suffix != ".jsonl" else out.with_suffix(".quarantine.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    if workers > 1:
        pool = get_context("spawn").Pool(workers, initializer=_init, initargs=(extractor,))
        results = pool.imap(_work, records, chunksize=32)
    else:
        pool = None
        _init(extractor)
        results = map(_work, records)
    try:
        with out.open("w", encoding="utf-8") as fo, qpath.open("w", encoding="utf-8") as fq:
            for obj, bad in results:
                counts.read += 1
                advance()
                if bad is not None:
                    counts.quarantined += 1
                    fq.write(json.dumps(bad, sort_keys=True) + "\n")
                else:
                    counts.written += 1
                    fo.write(json.dumps(obj, ensure_ascii=False) + "\n")
    finally:
        if pool is not None:
            pool.terminate()
    return counts
