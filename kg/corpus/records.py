"""Typed records the corpus readers yield."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True)
class Rejected:
    """A record the reader could not turn into a Study; it goes to quarantine.jsonl."""

    record_id: str
    source: str
    stage: str
    reason: str
    fix: str = ""

    def as_dict(self) -> dict:
        return {
            "record": self.record_id,
            "source": self.source,
            "stage": self.stage,
            "reason": self.reason,
            "fix": self.fix,
        }
