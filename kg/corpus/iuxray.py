"""IU X-ray / Open-i XML: one ``<eCitation>`` per report, sections in ``AbstractText``.

Images are the ``parentImage`` ids, looked for as ``<id>.png`` / ``<id>.jpg`` in the
``--images`` folder (the Open-i PNG bundle), else beside the XML files.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from kg.corpus.records import ImageRef, Rejected, Study

SECTION_ORDER = ("COMPARISON", "INDICATION", "FINDINGS", "IMPRESSION")


def looks_like(source: Path) -> bool:
    if source.is_file():
        return source.suffix.lower() == ".xml"
    return source.is_dir() and next(iter(source.glob("*.xml")), None) is not None


def _xml_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    return sorted(source.glob("*.xml"), key=lambda p: (len(p.stem), p.stem))


def read(source: Path, *, images: Path | None = None, limit: int | None = None) -> Iterator[Study | Rejected]:
    n = 0
    for path in _xml_files(source):
        if limit is not None and n >= limit:
            return
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            n += 1
            line = exc.position[0] if exc.position else "?"
            yield Rejected(path.stem, f"{path}:{line}", "read", f"XML parse error: {exc}",
                           "repair the XML (a truncated download?) or remove the file")
            continue
        except OSError as exc:
            n += 1
            yield Rejected(path.stem, str(path), "read", f"cannot read file: {exc.strerror}", "check permissions")
            continue
        cites = [root] if root.tag == "eCitation" else list(root.iter("eCitation"))
        if not cites:
            n += 1
            yield Rejected(path.stem, str(path), "read", "no <eCitation> element",
                           "pass Open-i report XML (one <eCitation> per report)")
            continue
        for k, cite in enumerate(cites):
            if limit is not None and n >= limit:
                return
            n += 1
            yield _study(cite, path, k, images or path.parent)


def _study(cite: ET.Element, path: Path, k: int, image_dir: Path) -> Study | Rejected:
    uid = cite.find("uId")
    rid = (uid.get("id") if uid is not None else None) or (path.stem if k == 0 else f"{path.stem}-{k}")
    parts: dict[str, str] = {}
    for at in cite.iter("AbstractText"):
        label = (at.get("Label") or "").strip().upper()
        body = "".join(at.itertext()).strip()
        if label and body:
            parts[label] = body
    text = "\n\n".join(f"{label}: {parts[label]}" for label in SECTION_ORDER if label in parts)
    if not text:
        return Rejected(rid, str(path), "read", "no AbstractText with COMPARISON/INDICATION/FINDINGS/IMPRESSION",
                        "the report has no text; remove it or add its sections")
    refs = []
    for pi in cite.iter("parentImage"):
        iid = pi.get("id")
        if not iid:
            continue
        cand = [image_dir / f"{iid}.png", image_dir / f"{iid}.jpg"]
        path_found = next((c for c in cand if c.is_file()), cand[0])
        refs.append(ImageRef(iid, str(path_found), None))
    return Study(id=rid, patient_id=rid, report_id=rid, text=text, images=tuple(refs), source=str(path))
