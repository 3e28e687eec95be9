"""A folder of ``.txt`` reports (any depth): one report per file, id = path without suffix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kg.corpus.common import read_report
from kg.corpus.records import Rejected, Study


def looks_like(source: Path) -> bool:
    if source.is_file():
        return source.suffix.lower() == ".txt"
    return source.is_dir() and next(iter(source.rglob("*.txt")), None) is not None


def read(source: Path, *, images: Path | None = None, limit: int | None = None) -> Iterator[Study | Rejected]:
    files = [source] if source.is_file() else sorted(source.rglob("*.txt"))
    root = source.parent if source.is_file() else source
    for n, path in enumerate(files):
        if limit is not None and n >= limit:
            return
        rid = path.relative_to(root).with_suffix("").as_posix()
        text, problem = read_report(path)
        if text is None:
            yield Rejected(rid, str(path), "read", problem, "fix or remove the report file")
            continue
        yield Study(id=rid, patient_id=rid, report_id=rid, text=text, source=str(path))
