"""JSONL / CSV corpora: ``id`` + ``text`` (or ``findings`` / ``impression``), optional
``image`` (one path, a list, or ``;``-separated), ``patient_id``, ``split``, ``view``.

Relative image paths resolve against ``--images`` when given, else the corpus file's folder.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from kg.core.locations import is_url, location
from kg.corpus.common import open_text
from kg.corpus.records import ImageRef, Rejected, Study

FIX = "give each record an 'id' and a 'text' (or 'findings'/'impression')"


def _record(obj: dict, where: str, base: Path) -> Study | Rejected:
    rid = str(obj.get("id") or "").strip()
    if not rid:
        return Rejected(f"<{where}>", where, "read", "record has no 'id'", FIX)
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        parts = []
        for key in ("findings", "impression"):
            v = obj.get(key)
            if isinstance(v, str) and v.strip():
                parts.append(f"{key.upper()}: {v.strip()}")
        text = "\n\n".join(parts)
    if not text.strip():
        return Rejected(rid, where, "read", "empty report (no 'text', 'findings' or 'impression')", FIX)
    imgs = obj.get("image") or obj.get("images") or []
    if isinstance(imgs, str):
        imgs = [p for p in imgs.split(";") if p.strip()]
    refs = []
    view = obj.get("view") or obj.get("view_position") or None
    for p in imgs:
        path = location(str(p).strip())
        if not is_url(path) and not path.is_absolute():
            path = base / path
        refs.append(ImageRef(path.stem, str(path), view))
    return Study(
        id=rid,
        patient_id=str(obj.get("patient_id") or rid),
        report_id=rid,
        text=text,
        images=tuple(refs),
        split=(obj.get("split") or None),
        source=where,
    )


def read_jsonl(source: Path, *, images: Path | None = None, limit: int | None = None) -> Iterator[Study | Rejected]:
    base = images or source.parent
    with source.open("rb") as fh:
        n = 0
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            if limit is not None and n >= limit:
                return
            n += 1
            where = f"{source}:{lineno}"
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield Rejected(f"<line {lineno}>", where, "read", f"not valid UTF-8 at byte {exc.start}", "re-encode the file as UTF-8")
                continue
            except json.JSONDecodeError as exc:
                yield Rejected(f"<line {lineno}>", where, "read", f"invalid JSON: {exc.msg} (column {exc.colno})",
                               "fix the JSON on that line")
                continue
            if not isinstance(obj, dict):
                yield Rejected(f"<line {lineno}>", where, "read", "line is not a JSON object", FIX)
                continue
            yield _record(obj, where, base)


def read_csv(source: Path, *, images: Path | None = None, limit: int | None = None) -> Iterator[Study | Rejected]:
    base = images or source.parent
    try:
        fh = open_text(source)
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
    except UnicodeDecodeError as exc:
        yield Rejected(source.name, str(source), "read", f"not valid UTF-8: {exc}", "re-encode the file as UTF-8")
        return
    with fh:
        n = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                yield Rejected(f"<line {reader.line_num + 1}>", f"{source}:{reader.line_num + 1}", "read",
                               f"not valid UTF-8: {exc.reason}", "re-encode the file as UTF-8")
                return
            except csv.Error as exc:
                yield Rejected(f"<line {reader.line_num}>", f"{source}:{reader.line_num}", "read", f"CSV error: {exc}",
                               "fix the quoting on that line")
                continue
            if limit is not None and n >= limit:
                return
            n += 1
            where = f"{source}:{reader.line_num}"
            if None in row or any(row.get(h) is None for h in header):
                yield Rejected(str(row.get("id") or f"<line {reader.line_num}>"), where, "read",
                               f"row has the wrong number of fields (header has {len(header)})",
                               "quote fields that contain commas")
                continue
            yield _record(row, where, base)
