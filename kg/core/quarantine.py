"""The quarantine: records a stage could not use, each with its reason and the fix, kept instead of lost.

:class:`Rejected` is every stage's quarantine record (a corpus reader's unreadable record, a report without
FINDINGS, an image that does not decode, a MedMKG row that does not parse). :class:`Quarantine` collects them
for one command, stops the command at the first one under ``strict``, and writes them as JSON lines — the one
place medkg writes a quarantine file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.core.errors import InvalidInput


@dataclass(frozen=True)
class Rejected:
    """A record left out, why, and how to fix it; one line of a quarantine file."""

    record_id: str
    source: str
    stage: str  # read, sections, extract, image, import
    reason: str
    fix: str = ""
    row: dict[str, Any] | None = None  # the offending row as read, where the input is tabular

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record_id, "source": self.source, "stage": self.stage,
                               "reason": self.reason, "fix": self.fix}
        if self.row is not None:
            out["row"] = self.row
        return out


@dataclass
class Quarantine:
    """The records one command left out. ``strict``: the first one stops the command (E110) instead."""

    strict: bool = False
    records: list[Rejected] = field(default_factory=list)

    def add(self, r: Rejected) -> None:
        if self.strict:
            raise InvalidInput(f"{r.reason} (record {r.record_id})", code="E110", where=r.source,
                               fix=r.fix or "fix the record")
        self.records.append(r)

    def __len__(self) -> int:
        return len(self.records)

    def count(self, *, images: bool = False) -> int:
        """Records (``images`` False: every stage but the image stage) or images (True) left out."""
        return sum(1 for r in self.records if (r.stage == "image") == images)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.records]

    def write(self, path: Path, *, if_empty: bool = True) -> Path | None:
        """One JSON object per line, sorted keys, written whole (a temporary file renamed into place), so a
        killed command leaves the previous file. ``if_empty`` False: nothing is written when nothing was left out."""
        if not self.records and not if_empty:
            return None
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(json.dumps(d, sort_keys=True) + "\n" for d in self.as_dicts()), encoding="utf-8")
        os.replace(tmp, path)
        return path
