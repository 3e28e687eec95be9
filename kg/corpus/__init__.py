"""Corpus readers: each streams :class:`Study` records (or :class:`Rejected` ones).

Formats by name: ``mimic``, ``iu-xml``, ``jsonl``, ``csv``, ``text``; ``auto`` detects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from kg.corpus import iuxray, mimic, tabular, textdir
from kg.corpus.records import ImageRef, Rejected, Study
from kg.errors import UsageError

Reader = Callable[..., Iterator[Study | Rejected]]

READERS: dict[str, Reader] = {
    "mimic": mimic.read,
    "iu-xml": iuxray.read,
    "jsonl": tabular.read_jsonl,
    "csv": tabular.read_csv,
    "text": textdir.read,
}
FORMATS = ("auto", *READERS)
FILE_FORMATS = ("jsonl", "csv")

__all__ = ["FORMATS", "READERS", "ImageRef", "Rejected", "Study", "detect_format", "read_corpus"]


def detect_format(source: Path) -> str:
    if not source.exists():
        raise UsageError(f"corpus not found: {source}", fix="pass an existing file or folder as SOURCE")
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
    raise UsageError(
        f"cannot tell the corpus format of {source}",
        fix="pass --format with one of: " + ", ".join(READERS),
    )


def _detected_fix(source: Path) -> str:
    try:
        return f"--format auto detects {detect_format(source)!r} here: leave --format out"
    except UsageError:
        return "pass the corpus file or folder that format expects (see the README's format table)"


def read_corpus(
    source: Path, *, fmt: str = "auto", images: Path | None = None, limit: int | None = None
) -> Iterator[Study | Rejected]:
    if fmt == "auto":
        fmt = detect_format(source)
    elif fmt not in READERS:
        raise UsageError(f"unknown corpus format {fmt!r}", fix="use one of: " + ", ".join(FORMATS))
    elif not source.exists():
        raise UsageError(f"corpus not found: {source}", fix="pass an existing file or folder as SOURCE")
    elif fmt in FILE_FORMATS and not source.is_file():
        raise UsageError(f"--format {fmt} reads one file, and {source} is a folder", fix=_detected_fix(source))
    elif fmt == "mimic" and not source.is_dir():
        raise UsageError(f"--format mimic reads a folder, and {source} is a file", fix=_detected_fix(source))
    if images is not None and not images.exists():
        raise UsageError(f"image folder not found: {images}", fix="pass an existing folder to --images")
    return READERS[fmt](source, images=images, limit=limit)
