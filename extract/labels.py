"""Finding labels per report, written as the labelers users compare with write them.

Two schemas, each a fixed list of labels and a concept table (``extract/data/label_map.tsv``, editable, or
``--map``):

* ``chexpert``: the CheXpert labeler's 14 observations in its CSV layout (``Reports`` then No Finding,
  Enlarged Cardiomediastinum, ..., Support Devices) with ``1.0`` present, ``0.0`` absent, ``-1.0`` uncertain and
  blank for not mentioned. No Finding is 1.0 when no other observation but Support Devices is present or
  uncertain, else blank (the labeler's rule).
* ``chestxray14``: the 14 ChestX-ray14 findings in the NegBio gold layout (``filename``, the findings,
  ``normal``), ``1`` present and ``0`` otherwise; ``normal`` is 1 when no finding is.

A label's state is the most certain of its concepts' states in the report (:mod:`extract.certainty`):
definite > probable > possible > absent. Then the policies: ``probable`` = ``positive`` (default: "likely
atelectasis" is atelectasis, as NegBio and the radiologists' labels count it) or ``uncertain``; ``uncertain`` =
``ones`` / ``zeros`` (CheXpert's U-Ones / U-Zeros) or ``keep`` (-1); ``differential`` = ``positive`` or
``uncertain``: a finding hedged only by being one side of a differential ("atelectasis or pneumonia", "effusion
versus pleural thickening"). Defaults: chexpert ``keep`` and differentials uncertain (its own output);
chestxray14 ``zeros`` with differentials positive, as NegBio writes them (its uncertainty patterns do not hedge
the sides of a differential; on the Open-i NegBio dev labels the hedged findings it does count as present are
mostly those).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract.certainty import certainty_of
from extract.records import StudyConcept
from extract.tables import cuis_of, tsv_rows
from kg.core.errors import InvalidInput

SCHEMAS: dict[str, tuple[str, ...]] = {
    "chexpert": ("No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity", "Edema",
                 "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                 "Fracture", "Support Devices"),
    "chestxray14": ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
                    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"),
}
ID_COLUMN = {"chexpert": "Reports", "chestxray14": "filename"}
DERIVED = {"chexpert": "No Finding", "chestxray14": "normal"}  # computed from the others, not from concepts
STATE_RANK = {"definite": 4, "probable": 3, "differential": 2, "possible": 1, "absent": 0}
DIFFERENTIAL_TRIGGERS = frozenset({"or", "versus", "vs", "and/or"})  # "atelectasis or pneumonia", "X versus Y"
UNCERTAIN_POLICIES = ("ones", "zeros", "keep")
PROBABLE_POLICIES = ("positive", "uncertain")


@dataclass(frozen=True)
class LabelPolicy:
    uncertain: str = "keep"  # ones | zeros | keep
    probable: str = "positive"  # positive | uncertain
    differential: str = "uncertain"  # positive | uncertain: a finding named as one side of a differential

    def check(self) -> None:
        if self.uncertain not in UNCERTAIN_POLICIES:
            raise InvalidInput(f"unknown uncertainty policy {self.uncertain!r}", code="E1124",
                               fix="use --uncertain ones, zeros or keep")
        if self.probable not in PROBABLE_POLICIES:
            raise InvalidInput(f"unknown probable policy {self.probable!r}", code="E1125",
                               fix="use --probable positive or uncertain")
        if self.differential not in PROBABLE_POLICIES:
            raise InvalidInput(f"unknown differential policy {self.differential!r}", code="E1137",
                               fix="use --differential positive or uncertain")


def default_policy(schema: str) -> LabelPolicy:
    if schema == "chestxray14":  # NegBio's patterns do not hedge the sides of a differential
        return LabelPolicy(uncertain="zeros", differential="positive")
    return LabelPolicy(uncertain="keep")


def check_schema(schema: str) -> None:
    if schema not in SCHEMAS:
        raise InvalidInput(f"unknown label schema {schema!r}", code="E1126", fix="use --schema chexpert or chestxray14")


def load_label_map(schema: str, path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """``{label: CUIs}`` of one schema from the bundled table or ``path`` (schema, label, CUIs per row)."""
    check_schema(schema)
    out: dict[str, tuple[str, ...]] = {}
    for where, (sch, label, cuis) in tsv_rows("label_map.tsv", path, columns=3, layout="schema<TAB>label<TAB>CUI|CUI",
                                              what="label map"):
        if sch != schema:
            continue
        if label not in SCHEMAS[schema] or label == DERIVED[schema]:
            raise InvalidInput(f"{label!r} is not a {schema} label", code="E1129", where=where,
                               fix="use one of: " + ", ".join(x for x in SCHEMAS[schema] if x != DERIVED[schema]))
        out[label] = out.get(label, ()) + cuis_of(cuis)
    return out


def label_states(concepts: tuple[StudyConcept, ...], mapping: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """``{label: definite|probable|differential|possible|absent}`` for the labels the report mentions
    (``differential``: a possible finding hedged only by being one side of "X or Y", "X versus Y")."""
    by_cui = {c.cui: c for c in concepts}
    out = {}
    for label, cuis in mapping.items():
        states = [_state(by_cui[c]) for c in cuis if c in by_cui]
        if states:
            out[label] = max(states, key=STATE_RANK.__getitem__)
    return out


def _state(c: StudyConcept) -> str:
    state = c.certainty or certainty_of(c.polarity, c.rule)
    if state == "possible" and c.rule.split(":", 1)[-1] in DIFFERENTIAL_TRIGGERS:
        return "differential"
    return state


def label_row(concepts: tuple[StudyConcept, ...], schema: str, mapping: dict[str, tuple[str, ...]],
              policy: LabelPolicy) -> dict[str, float | int | None]:
    """One report's labels in the schema's own values (see the module docstring)."""
    states = label_states(concepts, mapping)
    value: dict[str, float | None] = {}
    for label in SCHEMAS[schema]:
        if label == DERIVED[schema]:
            continue
        s = states.get(label)
        if s == "probable" and policy.probable == "uncertain":
            s = "possible"
        if s == "differential":
            s = "definite" if policy.differential == "positive" else "possible"
        v = {"definite": 1.0, "probable": 1.0, "absent": 0.0, None: None}.get(s, -1.0)
        if v == -1.0 and policy.uncertain != "keep":
            v = 1.0 if policy.uncertain == "ones" else 0.0
        value[label] = v
    if schema == "chexpert":
        findings = [v for k, v in value.items() if k != "Support Devices"]
        return {"No Finding": 1.0 if not any(v in (1.0, -1.0) for v in findings) else None, **value}
    binary = {k: 1 if v == 1.0 else 0 for k, v in value.items()}  # NegBio's binary gold: uncertain by policy
    return {**binary, "normal": int(not any(binary.values()))}


def write_labels(rows: list[tuple[str, dict[str, Any]]], schema: str, path: Path, *, id_header: str | None = None) -> None:
    """CSV in the schema's layout (``rows``: (id or report text, labels)), written whole or not at all;
    ``id_header`` renames the first column (``id`` when CheXpert rows are keyed by report id)."""
    cols = [id_header or ID_COLUMN[schema], *SCHEMAS[schema]] + (["normal"] if schema == "chestxray14" else [])
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for key, row in rows:
            w.writerow([key] + [_cell(row.get(c)) for c in cols[1:]])
    tmp.replace(path)


def _cell(v: Any) -> str:
    return "" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))


# -- scoring -----------------------------------------------------------------------------------------------------


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def prf(self) -> dict[str, Any]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(p, 4), "recall": round(r, 4),
                "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}


@dataclass
class LabelEval:
    labels: dict[str, Counts] = field(default_factory=dict)
    reports: int = 0
    missing: list[str] = field(default_factory=list)  # gold reports without a prediction
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        micro = Counts(sum(c.tp for c in self.labels.values()), sum(c.fp for c in self.labels.values()),
                       sum(c.fn for c in self.labels.values()))
        return {"reports": self.reports, "missing": self.missing, "micro": micro.prf(),
                "perLabel": {k: c.prf() for k, c in self.labels.items()}}


def read_label_csv(path: Path) -> tuple[str, dict[str, dict[str, str]]]:
    """``(id column, {id: {label: cell}})`` of a labels CSV in either layout (the first column is the key)."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read {path}: {e}", code="E1130", where=str(path),
                           fix="pass a CSV written by kg label, the CheXpert labeler or NegBio") from None
    if not rows or len(rows[0]) < 2:
        raise InvalidInput(f"{path} has no header with labels", code="E1131", where=str(path),
                           fix="the first row names the id column and the labels")
    head = rows[0]
    out = {}
    for n, r in enumerate(rows[1:], 2):
        if len(r) != len(head):
            raise InvalidInput(f"row {n} has {len(r)} cells, the header {len(head)}", code="E1132",
                               where=f"{path}:{n}", fix="write one cell per column (blank for not mentioned)")
        out[r[0]] = dict(zip(head[1:], r[1:]))
    return head[0], out


def _positive(cell: str, uncertain_as: str, where: str = "") -> bool:
    v = cell.strip()
    if v in ("", "nan"):
        return False
    try:
        x = float(v)
    except ValueError:
        raise InvalidInput(f"label value {cell!r} is not 1, 0, -1 or blank", code="E1133", where=where or None,
                           fix="use 1/0/-1 (or 1.0/0.0/-1.0) and blank") from None
    return x == 1 or (x == -1 and uncertain_as == "positive")


def score_label_csvs(pred: Path, gold: Path, *, uncertain_as: str = "negative",
                     exclude: frozenset[str] = frozenset()) -> LabelEval:
    """Per-label and micro precision/recall/F1 of present labels (1) over the reports of ``gold``, joined on the
    first column; labels in both files only, less ``exclude``. ``uncertain_as``: how a -1 counts on either side."""
    _, p = read_label_csv(pred)
    _, g = read_label_csv(gold)
    ev = LabelEval()
    common = [k for k in next(iter(g.values()), {}) if k in next(iter(p.values()), {})]
    ev.labels = {k: Counts() for k in common if k not in ("normal", "No Finding") and k not in exclude}
    for rid, grow in g.items():
        prow = p.get(rid)
        if prow is None:
            ev.missing.append(rid)
            continue
        ev.reports += 1
        for label, c in ev.labels.items():
            gp = _positive(grow[label], uncertain_as, f"{gold}: {rid}, {label}")
            pp = _positive(prow[label], uncertain_as, f"{pred}: {rid}, {label}")
            c.tp += gp and pp
            c.fp += pp and not gp
            c.fn += gp and not pp
            if gp != pp:
                ev.errors.append({"id": rid, "label": label, "gold": grow[label], "predicted": prow[label]})
    return ev
