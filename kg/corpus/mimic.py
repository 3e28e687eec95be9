"""MIMIC-CXR reports (``files/pXX/pNNNNNNNN/sNNNNNNNN.txt``) with MIMIC-CXR-JPG images.

Images live in ``files/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg`` under the same root or the
``--images`` root. ``mimic-cxr-2.0.0-metadata.csv(.gz)`` gives each image's ViewPosition and
lists images that should exist; ``mimic-cxr-2.0.0-split.csv(.gz)`` gives each study's split.
Both are looked for in the report root and the image root (and their parents).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from kg.corpus.common import find_first, read_csv_rows, read_report
from kg.corpus.records import ImageRef, Rejected, Study

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".dcm")
_PXX = re.compile(r"p\d\d")
_PATIENT = re.compile(r"p\d+")
_STUDY = re.compile(r"s\d+")


def files_dir(root: Path) -> Path | None:
    """The ``files`` folder of a MIMIC-style root (the root itself may be it)."""
    if (root / "files").is_dir():
        return root / "files"
    if root.is_dir() and any(_PXX.fullmatch(p.name) and p.is_dir() for p in root.iterdir()):
        return root
    return None


def looks_like(root: Path) -> bool:
    f = files_dir(root) if root.is_dir() else None
    if f is None:
        return False
    for group in sorted(f.iterdir()):
        if group.is_dir() and _PXX.fullmatch(group.name):
            for patient in group.iterdir():
                if patient.is_dir() and any(p.suffix == ".txt" for p in patient.iterdir()):
                    return True
    return False


def _meta_dirs(*roots: Path) -> list[Path]:
    out: list[Path] = []
    for r in roots:
        for d in (r, r.parent):
            if d not in out:
                out.append(d)
    return out


def _load_metadata(dirs: list[Path]) -> tuple[dict[str, list[tuple[str, str]]], dict[str, str]]:
    """study id -> [(dicom id, view position)], study id -> split."""
    by_study: dict[str, list[tuple[str, str]]] = {}
    splits: dict[str, str] = {}
    meta = find_first(dirs, ["mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-metadata.csv"])
    if meta is not None:
        for row in read_csv_rows(meta):
            sid, did = (row.get("study_id") or "").strip(), (row.get("dicom_id") or "").strip()
            if sid and did:
                by_study.setdefault(sid, []).append((did, (row.get("ViewPosition") or "").strip()))
    split = find_first(dirs, ["mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-split.csv"])
    if split is not None:
        for row in read_csv_rows(split):
            sid = (row.get("study_id") or "").strip()
            if sid and row.get("split"):
                splits.setdefault(sid, row["split"].strip())
    return by_study, splits


def read(source: Path, *, images: Path | None = None, limit: int | None = None) -> Iterator[Study | Rejected]:
    reports = files_dir(source)
    if reports is None:
        return
    image_files = (files_dir(images) or images) if images is not None else reports
    by_study, splits = _load_metadata(_meta_dirs(source, *( [images] if images else [])))
    n = 0
    for group in sorted(p for p in reports.iterdir() if p.is_dir() and _PXX.fullmatch(p.name)):
        for patient in sorted(p for p in group.iterdir() if p.is_dir() and _PATIENT.fullmatch(p.name)):
            for report in sorted(patient.glob("s*.txt")):
                if not _STUDY.fullmatch(report.stem):
                    continue
                if limit is not None and n >= limit:
                    return
                n += 1
                study_id = report.stem
                text, problem = read_report(report)
                if text is None:
                    yield Rejected(study_id, str(report), "read", problem, "fix or remove the report file")
                    continue
                yield Study(
                    id=study_id,
                    patient_id=patient.name,
                    report_id=study_id,
                    text=text,
                    images=_images(image_files / group.name / patient.name / study_id, by_study.get(study_id[1:], [])),
                    split=splits.get(study_id[1:]),
                    source=str(report),
                )


def _images(study_dir: Path, meta: list[tuple[str, str]]) -> tuple[ImageRef, ...]:
    views = {did: vp or None for did, vp in meta}
    found: dict[str, Path] = {}
    if study_dir.is_dir():
        for p in sorted(study_dir.iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                found.setdefault(p.stem, p)
    refs = [ImageRef(did, str(path), views.get(did)) for did, path in found.items()]
    # listed in the metadata but absent on disk: keep the ref, the image stage quarantines it
    for did, vp in meta:
        if did not in found:
            refs.append(ImageRef(did, str(study_dir / f"{did}.jpg"), vp or None))
    return tuple(sorted(refs, key=lambda r: r.id))
