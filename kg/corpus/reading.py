"""Corpus readers: each streams :class:`Study` records (or :class:`Rejected` ones).

Formats by name: ``mimic``, ``iu-xml``, ``jsonl``, ``csv``, ``text``; ``auto`` detects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kg.core.errors import InvalidInput, KGError, NotFound
from kg.core.registry import Registry
from kg.corpus import iuxray, mimic, tabular, textdir
from kg.corpus.records import ImageRef, Rejected, Study

READERS: Registry[Iterator[Study | Rejected]] = Registry("corpus format", option="--format")
READERS.add("mimic", mimic.read)
READERS.add("iu-xml", iuxray.read)
READERS.add("jsonl", tabular.read_jsonl)
READERS.add("csv", tabular.read_csv)
READERS.add("text", textdir.read)
FORMATS = ("auto", "mimic", "iu-xml", "jsonl", "csv", "text")
FILE_FORMATS = ("jsonl", "csv")

__all__ = ["FORMATS", "READERS", "ImageRef", "Rejected", "Study", "detect_format", "read_corpus", "unique_records"]


def detect_format(source: Path) -> str:
    if not source.exists():
        raise NotFound(f"corpus not found: {source}", code="E201", fix="pass an existing file or folder as SOURCE")
    if source.is_file():
        suffixes = [s.lower() for s in source.suffixes]
        if suffixes[-1:] in ([".jsonl"], [".ndjson"]):
            return "jsonl"
        if suffixes[-1:] == [".csv"] or suffixes[-2:] == [".csv", ".gz"]:
            return "csv"
        if suffixes[-1:] == [".xml"]:
            return "iu-xml"
        if suffixes[-1:] == [".txt"]:
            return "text"
    elif mimic.looks_like(source):
        return "mimic"
    elif iuxray.looks_like(source):
        return "iu-xml"
    elif textdir.looks_like(source):
        return "text"
    raise InvalidInput(
        f"cannot tell the corpus format of {source}", code="E106",
        fix="pass --format with one of: " + ", ".join(FORMATS[1:]),
    )


def _detected_fix(source: Path) -> str:
    try:
        return f"--format auto detects {detect_format(source)!r} here: leave --format out"
    except KGError:
        return "pass the corpus file or folder that format expects (see the README's format table)"


def read_corpus(
    source: Path, *, fmt: str = "auto", images: Path | None = None, limit: int | None = None
) -> Iterator[Study | Rejected]:
    if fmt == "auto":
        fmt = detect_format(source)
    elif fmt not in READERS:
        raise InvalidInput(f"unknown corpus format {fmt!r}", code="E107", fix="use one of: " + ", ".join(FORMATS))
    if not source.exists():
        raise NotFound(f"corpus not found: {source}", code="E203", fix="pass an existing file or folder as SOURCE")
    elif fmt in FILE_FORMATS and not source.is_file():
        raise InvalidInput(f"--format {fmt} reads one file, and {source} is a folder", code="E108", fix=_detected_fix(source))
    elif fmt == "mimic" and not source.is_dir():
        raise InvalidInput(f"--format mimic reads a folder, and {source} is a file", code="E109", fix=_detected_fix(source))
    if images is not None and not images.exists():
        raise NotFound(f"image folder not found: {images}", code="E202", fix="pass an existing folder to --images")
    reader, _ = READERS.get(fmt)
    return reader(source, images=images, limit=limit)


def unique_records(records: Iterator[Study | Rejected]) -> Iterator[Study | Rejected]:
    """The second record with an id (or report id) already read becomes a Rejected one naming both sources: it
    is quarantined, never merged into the first."""
    seen: dict[str, str] = {}
    for rec in records:
        if isinstance(rec, Study):
            first = next((seen[i] for i in (rec.id, rec.report_id) if i in seen), None)
            if first is not None:
                rid = rec.id if rec.id in seen else rec.report_id
                rec = Rejected(rec.id, rec.source, "read", f"duplicate record id {rid!r}: already read from {first}",
                               "give every record its own id (this one was left out; the first one was kept)")
            else:
                seen.setdefault(rec.id, rec.source)
                seen.setdefault(rec.report_id, rec.source)
        yield rec
