"""Helpers shared by the readers: strict text decoding, compressed CSVs."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path


def decode_report(data: bytes) -> tuple[str | None, str]:
    """(text, problem). Reports must be UTF-8; a BOM is accepted."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
    if "\x00" in text:
        return None, "contains NUL bytes (binary file?)"
    if not text.strip():
        return None, "empty report"
    return text, ""


def read_report(path: Path) -> tuple[str | None, str]:
    """(text, problem) for a report file: unreadable, binary, empty or non-UTF-8 files give a problem."""
    try:
        return decode_report(path.read_bytes())
    except OSError as exc:
        return None, f"cannot read file: {exc.strerror}"


def open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path.open("rb"), "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def find_first(dirs: list[Path], names: list[str]) -> Path | None:
    for d in dirs:
        for n in names:
            p = d / n
            if p.is_file():
                return p
    return None


def read_csv_rows(path: Path):
    with open_text(path) as fh:
        yield from csv.DictReader(fh)
