"""Score extraction against finding-level labels (present / absent / uncertain per finding).

Labels look like ``{report_id: {finding: "definitely present" | "definitely absent" | "uncertain"}}``
(the radlabels format). A table maps each finding to concepts (``extract/data/finding_map.tsv``);
a finding's prediction is: present if any of its concepts is positive in the report, else uncertain
if any is uncertain, else absent if any is negative, else not mentioned.

For each polarity p, over all (report, finding) pairs of mapped findings:
TP = predicted p and labelled p; FP = predicted p, labelled otherwise (or not labelled);
FN = labelled p, predicted otherwise. Micro P/R/F1 sum these over findings; per-finding
scores are reported too.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract.records import Polarity, StudyConcept
from extract.tables import cuis_of, tsv_rows
from kg.core.errors import InvalidInput

POLARITY_OF_LABEL = {  # a label file's words
    "definitely present": Polarity.POSITIVE,
    "present": Polarity.POSITIVE,
    "positive": Polarity.POSITIVE,
    "definitely absent": Polarity.NEGATIVE,
    "absent": Polarity.NEGATIVE,
    "negative": Polarity.NEGATIVE,
    "uncertain": Polarity.UNCERTAIN,
}
POLARITIES = tuple(Polarity)


def load_finding_map(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """``{finding: CUIs}`` from the bundled table or ``path`` (finding, CUIs per row)."""
    rows = tsv_rows("finding_map.tsv", path, columns=2, layout="finding<TAB>CUI|CUI", what="finding map")
    return {finding: cuis_of(cuis) for _, (finding, cuis) in rows}


def finding_key(name: str) -> str:
    """A finding's name as the finding map spells its keys: 'Pleural effusion' -> 'pleural_effusion'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass(frozen=True)
class FindingNames:
    """How the labels' finding names were read: ``resolved`` maps each name to the finding it is scored as (a
    key of the finding map, or a `kg label` label added to it with its concepts); ``unmapped`` names the rest,
    each with the closest known name (or None)."""

    resolved: dict[str, str]
    added: dict[str, tuple[str, ...]]
    unmapped: dict[str, str | None]


def resolve_finding_names(names: Iterable[str], fmap: dict[str, tuple[str, ...]]) -> FindingNames:
    """Accept the names users write: the map's keys, the same in natural spelling ("pleural effusion", "Pleural
    Effusion"), and the CheXpert / ChestX-ray14 labels `kg label` writes ("Edema", "Support Devices")."""
    from extract.labels import DERIVED, SCHEMAS, load_label_map

    keys = {finding_key(k): k for k in fmap}
    same_cuis = {frozenset(v): k for k, v in fmap.items()}
    labels: dict[str, tuple[str, tuple[str, ...]]] = {}
    for schema in SCHEMAS:
        for label, cuis in load_label_map(schema).items():
            if label != DERIVED[schema]:
                labels.setdefault(finding_key(label), (label, cuis))
    resolved, added, unmapped = {}, {}, {}
    for name in sorted(set(names)):
        norm = finding_key(name)
        if name in fmap:
            resolved[name] = name
        elif norm in keys:
            resolved[name] = keys[norm]
        elif norm in labels:
            label, cuis = labels[norm]
            key = same_cuis.get(frozenset(cuis))  # a label with exactly a finding's concepts is that finding
            if key is None:
                key = label
                added[label] = cuis
            resolved[name] = key
        else:
            near = difflib.get_close_matches(norm, [*keys, *labels], n=1, cutoff=0.75)
            unmapped[name] = (keys.get(near[0]) or labels[near[0]][0]) if near else None
    return FindingNames(resolved, added, unmapped)


def load_labels(path: Path) -> dict[str, dict[str, Polarity]]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read labels: {exc}", code="E115", where=str(path),
                           fix="pass a JSON object {report: {finding: label}}") from None
    out: dict[str, dict[str, Polarity]] = {}
    for rid, findings in raw.items():
        row: dict[str, Polarity] = {}
        for f, lab in findings.items():
            pol = POLARITY_OF_LABEL.get(str(lab).strip().lower())
            if pol is None:
                raise InvalidInput(f"unknown label {lab!r} for {f}", code="E116", where=f"{path} report {rid}",
                                 fix="use definitely present / definitely absent / uncertain")
            row[f] = pol
        out[rid] = row
    return out


def predict_findings(concepts: tuple[StudyConcept, ...], fmap: dict[str, tuple[str, ...]]) -> dict[str, Polarity]:
    pol = {c.cui: c.polarity for c in concepts}
    out: dict[str, Polarity] = {}
    for finding, cuis in fmap.items():
        got = {pol[c] for c in cuis if c in pol}
        for p in (Polarity.POSITIVE, Polarity.UNCERTAIN, Polarity.NEGATIVE):
            if p in got:
                out[finding] = p
                break
    return out


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


@dataclass
class LabelScores:
    micro: dict[str, PRF] = field(default_factory=lambda: {p: PRF() for p in POLARITIES})
    per_finding: dict[str, dict[str, PRF]] = field(default_factory=dict)
    reports: int = 0
    missing_reports: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    hints: dict[str, str | None] = field(default_factory=dict)  # unmapped name -> the closest known name
    resolved: dict[str, str] = field(default_factory=dict)  # label name -> the finding it was scored as
    errors: list[dict[str, Any]] = field(default_factory=list)  # (report, finding, gold, predicted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reports": self.reports,
            "missingReports": self.missing_reports,
            "unmappedFindings": self.unmapped,
            "unmappedHints": self.hints,
            "findingNames": self.resolved,
            "micro": {p: s.as_dict() for p, s in self.micro.items()},
            "perFinding": {f: {p: s.as_dict() for p, s in d.items()} for f, d in sorted(self.per_finding.items())},
        }


def score_labels(
    predictions: dict[str, dict[str, Polarity]], labels: dict[str, dict[str, Polarity]], fmap: dict[str, tuple[str, ...]]
) -> LabelScores:
    """``predictions``: report -> finding -> polarity (from :func:`predict_findings` with the same ``fmap``, after
    :func:`resolve_finding_names` added what the labels name). Label names are read as that function reads them."""
    s = LabelScores()
    names = resolve_finding_names({f for row in labels.values() for f in row}, fmap)
    s.unmapped, s.hints = sorted(names.unmapped), names.unmapped
    s.resolved = {n: k for n, k in names.resolved.items() if n != k}
    labels = {rid: {names.resolved[f]: pol for f, pol in row.items() if f in names.resolved}
              for rid, row in labels.items()}
    for rid in sorted(labels):
        gold = labels[rid]
        if rid not in predictions:  # not in the corpus: left out of the scores (the caller warns)
            s.missing_reports.append(rid)
            continue
        pred = predictions[rid]
        s.reports += 1
        for finding in fmap:
            g, p = gold.get(finding), pred.get(finding)
            if g is None and p is None:
                continue
            per = s.per_finding.setdefault(finding, {q: PRF() for q in POLARITIES})
            for q in POLARITIES:
                if p == q and g == q:
                    per[q].tp += 1
                    s.micro[q].tp += 1
                elif p == q:
                    per[q].fp += 1
                    s.micro[q].fp += 1
                elif g == q:
                    per[q].fn += 1
                    s.micro[q].fn += 1
            if g != p:
                s.errors.append({"report": rid, "finding": finding, "gold": g, "predicted": p})
    return s
