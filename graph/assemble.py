"""Turn per-study results into the graph's node and edge tables (the MEDMKG model).

* corpus structure: ``(Patient)-[:HAS_STUDY]->(Study)-[:HAS_IMAGE]->(Image)``, ``(Study)-[:HAS_REPORT]->(Report)``;
* cross-modal edges ``(Image)-[:POSITIVE|NEGATIVE|UNCERTAIN]->(Concept)`` for every decoded
  image of the study (on ``Study`` when a study has no decoded image), one per concept after
  the study-level merge rule, with ``reportId``, ``evidence`` spans, ``section`` and ``extractor``;
  only OBSERVATION and DEVICE concepts (anatomy enters through relations);
* RadGraph relations between concepts, aggregated over reports: ``LOCATED_AT``,
  ``SUGGESTIVE_OF``, ``MODIFY`` with ``support`` and sample ``reportIds`` (only from
  mentions that are not negated);
* ``ISA`` edges from the concept index among concepts present in the graph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from extract.concepts import ConceptIndex
from extract.records import StudyConcept
from graph.model import (
    RADGRAPH_TYPES,
    ConceptRow,
    EdgeRow,
    Evidence,
    EvidenceRow,
    FindingEdgeRow,
    Graph,
    ImageRow,
    IndexRelationRow,
    NodeTable,
    PatientRow,
    ReportRelationRow,
    ReportRow,
    StudyRow,
)

EDGE_GROUPS = frozenset({"OBSERVATION", "DEVICE"})
SAMPLE_REPORTS = 5


@dataclass(frozen=True)
class ImageInput:
    id: str
    path: str
    view_position: str | None
    ok: bool  # decoded and embedded


@dataclass(frozen=True)
class ConceptRelation:
    type: str  # located_at / suggestive_of / modify
    source: str  # CUI
    target: str  # CUI


@dataclass(frozen=True)
class StudyInput:
    study_id: str
    patient_id: str
    report_id: str
    split: str | None
    findings: str | None
    impression: str | None
    images: tuple[ImageInput, ...]
    concepts: tuple[StudyConcept, ...]
    relations: tuple[ConceptRelation, ...]
    extractor: str


@dataclass
class LinkStats:
    conflicts: int = 0
    studies_without_images: int = 0
    cross_modal: dict[str, int] = field(default_factory=dict)


def _evidence(c: StudyConcept, report_id: str, extractor: str) -> list[EvidenceRow]:
    return [Evidence.of(m, report_id, extractor).as_row() for m in c.evidence]


def _ancestors(index: ConceptIndex, cuis: set[str], depth: int) -> set[str]:
    out, frontier = set(), set(cuis)
    for _ in range(depth):
        nxt = set()
        for cui in frontier:
            c = index.concept(cui)
            for p in c.parents if c else ():
                if p not in cuis and p not in out:
                    nxt.add(p)
        out |= nxt
        frontier = nxt
    return out


def _rel_type(rel: str, rela: str) -> str:
    t = re.sub(r"[^A-Za-z0-9]+", "_", rela or rel).strip("_").upper()
    return t if t and t[0].isalpha() else f"REL_{t}"


@dataclass
class _Rows:
    """The rows one pass over the studies collects, by table."""

    patients: dict[str, PatientRow] = field(default_factory=dict)
    studies: list[StudyRow] = field(default_factory=list)
    reports: list[ReportRow] = field(default_factory=list)
    images: list[ImageRow] = field(default_factory=list)
    has: dict[str, list[EdgeRow]] = field(default_factory=lambda: {"HAS_STUDY": [], "HAS_REPORT": [], "HAS_IMAGE": []})
    cross: dict[tuple[str, str], list[FindingEdgeRow]] = field(default_factory=dict)  # (holder label, type) -> rows
    used: set[str] = field(default_factory=set)  # concepts in the graph
    rel_support: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)  # (src, type, dst) -> reports


def assemble(studies: list[StudyInput], index: ConceptIndex, *, keep_text: bool = True,
             parents: int = 0) -> tuple[Graph, LinkStats]:
    """The graph of the studies: patients, studies, reports, images, the cross-modal edges to their concepts,
    the relations the reports state between concepts, and the concept index's relations among those concepts."""
    g = Graph()
    stats = LinkStats()
    rows = _Rows()
    for s in studies:
        _add_study(rows, s, index, stats, keep_text=keep_text)
    g.nodes["Patient"] = NodeTable("Patient", list(rows.patients.values()))
    g.nodes["Study"] = NodeTable("Study", rows.studies)
    g.nodes["Report"] = NodeTable("Report", rows.reports)
    g.nodes["Image"] = NodeTable("Image", rows.images)
    g.add_edges("HAS_STUDY", "Patient", "Study", rows.has["HAS_STUDY"])
    g.add_edges("HAS_REPORT", "Study", "Report", rows.has["HAS_REPORT"])
    g.add_edges("HAS_IMAGE", "Study", "Image", rows.has["HAS_IMAGE"])
    for (label, rtype), cross in rows.cross.items():
        g.add_edges(rtype, label, "Concept", cross)
        stats.cross_modal[rtype] = stats.cross_modal.get(rtype, 0) + len(cross)
    _add_report_relations(g, rows)
    if parents:
        rows.used |= _ancestors(index, rows.used, parents)
    _add_index_relations(g, index, rows.used)
    concept_rows: list[ConceptRow] = []
    for cui in sorted(rows.used):
        known = index.concept(cui)
        if known is None:
            continue
        row: ConceptRow = {"cui": cui, "name": known.name, "semanticTypes": list(known.semantic_types), "group": known.group}
        if known.definition:
            row["definition"] = known.definition
        concept_rows.append(row)
    g.nodes["Concept"] = NodeTable("Concept", concept_rows)
    return g.sort(), stats


def _add_study(rows: _Rows, s: StudyInput, index: ConceptIndex, stats: LinkStats, *, keep_text: bool) -> None:
    rows.patients.setdefault(s.patient_id, {"id": s.patient_id})
    rows.studies.append({"id": s.study_id, "patientId": s.patient_id, "split": s.split})
    rows.has["HAS_STUDY"].append({"_start": s.patient_id, "_end": s.study_id})
    rep: ReportRow = {"id": s.report_id, "studyId": s.study_id}
    if keep_text:
        rep["findings"], rep["impression"] = s.findings, s.impression
    rows.reports.append(rep)
    rows.has["HAS_REPORT"].append({"_start": s.study_id, "_end": s.report_id})
    ok_images = [im for im in s.images if im.ok]
    for im in ok_images:
        rows.images.append({"id": im.id, "studyId": s.study_id, "viewPosition": im.view_position, "path": im.path})
        rows.has["HAS_IMAGE"].append({"_start": s.study_id, "_end": im.id})
    # a study's findings hang on its images, or on the study itself when it has none
    holders = [("Image", im.id) for im in ok_images] or [("Study", s.study_id)]
    if not ok_images:
        stats.studies_without_images += 1
    for c in s.concepts:
        concept = index.concept(c.cui)
        if concept is None or concept.group not in EDGE_GROUPS:
            continue
        stats.conflicts += int(c.conflict)
        rows.used.add(c.cui)
        sections = sorted({m.section for m in c.evidence})
        for label, hid in holders:
            rows.cross.setdefault((label, c.polarity.edge_type), []).append({
                "_start": hid,
                "_end": c.cui,
                "reportId": s.report_id,
                "evidence": _evidence(c, s.report_id, s.extractor),
                "certainty": c.certainty or None,
                "certaintyRule": c.rule or None,
                "modifiers": list(c.modifiers) or None,
                "section": ",".join(sections),
                "extractor": s.extractor,
            })
    for r in s.relations:
        rows.rel_support.setdefault((r.source, RADGRAPH_TYPES[r.type], r.target), []).append(s.report_id)


def _add_report_relations(g: Graph, rows: _Rows) -> None:
    """(Concept)-[:LOCATED_AT|SUGGESTIVE_OF|MODIFY {support, reportIds}]->(Concept), as the reports state them."""
    concept_rels: dict[str, list[ReportRelationRow]] = {}
    for (src, rtype, tgt), reports in rows.rel_support.items():
        if src == tgt:
            continue
        rows.used.update((src, tgt))
        uniq = sorted(set(reports))
        concept_rels.setdefault(rtype, []).append(
            {"_start": src, "_end": tgt, "support": len(uniq), "reportIds": uniq[:SAMPLE_REPORTS]}
        )
    for rtype, rels in concept_rels.items():
        g.add_edges(rtype, "Concept", "Concept", rels)


def _add_index_relations(g: Graph, index: ConceptIndex, used: set[str]) -> None:
    """The concept index's relations among the graph's concepts: UMLS MRREL as (CUI2)-[:RELA]->(CUI1), as MRREL
    states it, or the lexicon's isa parents."""
    umls_rel = index.relations()
    if umls_rel is None:
        isa: list[IndexRelationRow] = []
        for cui in sorted(used):
            known = index.concept(cui)
            for parent in known.parents if known else ():
                if parent in used:
                    isa.append({"_start": cui, "_end": parent, "source": index.name, "sab": ["MEDKG"]})
        if isa:
            g.add_edges("ISA", "Concept", "Concept", isa)
        return
    r = umls_rel.to_pydict()
    agg: dict[tuple[str, str, str], set[str]] = {}
    for c1, rel, rela, c2, sab in zip(r["cui1"], r["rel"], r["rela"], r["cui2"], r["sab"]):
        if c1 in used and c2 in used:
            agg.setdefault((c2, _rel_type(rel, rela), c1), set()).add(sab)
    by_type: dict[str, list[IndexRelationRow]] = {}
    for (src, typ, dst), sabs in agg.items():
        by_type.setdefault(typ, []).append({"_start": src, "_end": dst, "source": "UMLS", "sab": sorted(sabs)})
    for typ, rels in by_type.items():
        g.add_edges(typ, "Concept", "Concept", rels)
