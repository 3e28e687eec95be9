"""The cases of a `kg eval rag` run: each image of the split, with its own report as the reference and that
report's CheXpert-14 labels read by the same extractor and labeler `kg label` uses."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from extract.labels import SCHEMAS, LabelPolicy, label_row, load_label_map
from extract.radgraph import RGDoc, extraction_doc
from extract.sections import split_sections
from graph.store import FileStore
from kg.core.errors import InvalidInput
from kg.step import StepConfig, context_for

SPLITS = ("train", "validate", "test", "all")
SCHEMA = "chexpert"


@dataclass(frozen=True)
class Case:
    image_id: str
    study_id: str
    patient_id: str
    path: str
    report_id: str
    reference: str  # the report's findings and impression
    labels: dict[str, float | None]  # CheXpert-14 of the reference: 1.0 present, 0.0 absent, -1.0 uncertain, None


class Labeler:
    """Text -> CheXpert-14 labels (through the rules extractor and `kg label`'s default policy) and the RadGraph
    entities and relations of the same extraction (``extract.radgraph``), for RadGraph-F1."""

    def __init__(self) -> None:
        self.extractor = context_for(StepConfig()).extractor
        self.mapping = load_label_map(SCHEMA)
        self.policy = LabelPolicy()
        self._seen: dict[str, tuple[dict[str, float | None], RGDoc]] = {}

    def __call__(self, key: str, text: str) -> dict[str, float | None]:
        return dict(self.read(key, text)[0])

    def graph(self, key: str, text: str) -> RGDoc:
        return self.read(key, text)[1]

    def read(self, key: str, text: str) -> tuple[dict[str, float | None], RGDoc]:
        """Labels and graph of ``text`` (remembered by text: a baseline writes the same report for many images)."""
        known = self._seen.get(text)
        if known is None:
            known = self._seen[text] = self._read(key, text)
        return known

    def _read(self, key: str, text: str) -> tuple[dict[str, float | None], RGDoc]:
        if not text.strip():
            return {label: None for label in SCHEMAS[SCHEMA]} | {"No Finding": 1.0}, RGDoc(key, "", ())
        x = self.extractor.extract(key, text, split_sections(text))
        row: dict[str, Any] = label_row(x.concepts, SCHEMA, self.mapping, self.policy)
        return {k: (None if v is None else float(v)) for k, v in row.items()}, extraction_doc(key, x, text)


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidInput(f"unknown split {split!r}", code="E1167", where="--split", fix="use one of: " + ", ".join(SPLITS))


def load_cases(store: FileStore, split: str, labeler: Labeler, *, limit: int | None = None) -> list[Case]:
    """Every image of ``split`` whose study has a report with text, in image-id order (``limit``: the first n)."""
    check_split(split)
    studies = {r["id"]: r for r in store.nodes("Study")}
    reports = {r["studyId"]: r for r in store.nodes("Report")}
    if reports and not any("findings" in r or "impression" in r for r in reports.values()):
        raise InvalidInput(f"the build in {store.out} kept no report text (built with --no-text): there is no "
                           "reference to score against", code="E1168", fix="run kg build again without --no-text")
    cases = []
    for im in sorted(store.nodes("Image"), key=lambda r: r["id"]):
        st = studies.get(im.get("studyId") or "")
        rep = reports.get(im.get("studyId") or "")
        if st is None or rep is None or (split != "all" and st.get("split") != split):
            continue
        text = "\n".join(f"{h}: {rep[k]}" for k, h in (("findings", "FINDINGS"), ("impression", "IMPRESSION"))
                         if rep.get(k))
        if not text:
            continue
        cases.append(Case(im["id"], st["id"], st.get("patientId") or "", im.get("path") or "", rep["id"], text,
                          labeler(rep["id"], text)))
        if limit is not None and len(cases) >= limit:
            break
    if not cases:
        have = Counter(str(r.get("split")) for r in studies.values())
        raise InvalidInput(f"no image of split {split!r} with a report in {store.out} (studies by split: "
                           + ", ".join(f"{k} {v}" for k, v in sorted(have.items())) + ")", code="E1169",
                           where="--split", fix="choose a split the build has, or --split all")
    return cases
