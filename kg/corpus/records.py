"""Typed records the corpus readers yield."""

from __future__ import annotations

from dataclasses import dataclass

from kg.core.quarantine import Rejected

__all__ = ["ImageRef", "Rejected", "Study"]  # Rejected lives in kg.core.quarantine; re-exported for the readers


@dataclass(frozen=True)
class ImageRef:
    id: str  # dicom id (MIMIC), image id (IU), or file stem
    path: str  # absolute or as given; may not exist (the image stage quarantines it)
    view_position: str | None = None  # PA, AP, LATERAL, LL, ... when the corpus says


@dataclass(frozen=True)
class Study:
    """One study: a report and its images. ``text`` is the report as written."""

    id: str
    patient_id: str
    report_id: str
    text: str
    images: tuple[ImageRef, ...] = ()
    split: str | None = None
    source: str = ""  # file (and line/element) it came from
