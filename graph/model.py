"""Node and edge tables: the graph as users see it (labels, types, properties).

Labels are CamelCase, relationship types UPPER_SNAKE, properties camelCase, ids strings.
Each table is a list of rows sorted by key, so the same input always gives the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Generic, NotRequired, TypedDict, TypeVar

import pyarrow as pa

from extract.records import Certainty, ConceptMention, Polarity

# what a label, relationship type or property name may look like (they are written into Cypher and file names)
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
PROP_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NODE_KEYS = {"Patient": "id", "Study": "id", "Report": "id", "Image": "id", "Concept": "cui"}
RADGRAPH_TYPES = {"located_at": "LOCATED_AT", "suggestive_of": "SUGGESTIVE_OF", "modify": "MODIFY"}


@dataclass(frozen=True)
class Evidence:
    """One span of a report that states a cross-modal edge's finding: stored as a struct in the edge's
    ``evidence`` list (Parquet ``list<struct>``, :data:`EVIDENCE_TYPE`), read back field for field; in Neo4j, which
    stores no maps, as parallel lists (``evidenceStart[i]``, ``evidenceText[i]``, ...)."""

    report_id: str
    section: str
    start: int  # character offsets into the report text
    end: int
    polarity: Polarity
    certainty: Certainty
    extractor: str
    text: str  # the span itself (``report[start:end]``)

    @classmethod
    def of(cls, m: ConceptMention, report_id: str, extractor: str) -> Evidence:
        return cls(report_id, m.section, m.start, m.end, m.polarity, m.certainty, extractor, m.text)

    def as_row(self) -> EvidenceRow:
        return {"reportId": self.report_id, "section": self.section, "start": self.start, "end": self.end,
                "polarity": self.polarity.value, "certainty": self.certainty.value,
                "extractor": self.extractor, "text": self.text}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Evidence:
        return cls(row["reportId"], row["section"], int(row["start"]), int(row["end"]), Polarity(row["polarity"]),
                   Certainty(row["certainty"]), row["extractor"], row["text"])


EVIDENCE_TYPE = pa.list_(pa.struct([
    ("reportId", pa.string()), ("section", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
    ("polarity", pa.string()), ("certainty", pa.string()), ("extractor", pa.string()), ("text", pa.string()),
]))
# the columns whose Arrow type is declared rather than inferred from the rows (an empty table keeps it too)
COLUMN_TYPES: dict[str, pa.DataType] = {"evidence": EVIDENCE_TYPE}


class EvidenceRow(TypedDict):
    """:class:`Evidence` as stored (``Evidence.as_row``)."""

    reportId: str
    section: str
    start: int
    end: int
    polarity: str
    certainty: str
    extractor: str
    text: str


# The rows of each table a build writes, declared once: the assembler builds them (mypy checks every key and
# type), the store writes them as Parquet columns of the same names, retrieval and the Neo4j loader read them.
# Node keys are NODE_KEYS; an edge row names its two ends by their keys.

class PatientRow(TypedDict):
    id: str


class StudyRow(TypedDict):
    id: str
    patientId: str
    split: str | None


class ReportRow(TypedDict):
    id: str
    studyId: str
    findings: NotRequired[str | None]  # the report's text, unless the build was asked not to keep it
    impression: NotRequired[str | None]


class ImageRow(TypedDict):
    id: str
    studyId: str
    viewPosition: str | None
    path: str
    kept: NotRequired[bool]  # NaF's choice (graph.naf)
    nafScore: NotRequired[float]


class ConceptRow(TypedDict):
    cui: str
    name: str
    semanticTypes: list[str]
    group: str
    definition: NotRequired[str]


class EdgeRow(TypedDict):
    """HAS_STUDY, HAS_REPORT, HAS_IMAGE: the two ends and nothing else."""

    _start: str
    _end: str


class FindingEdgeRow(EdgeRow):
    """(Image|Study)-[:POSITIVE|NEGATIVE|UNCERTAIN]->(Concept): the MEDMKG cross-modal edge and its evidence."""

    reportId: str
    evidence: list[EvidenceRow]
    certainty: str | None
    certaintyRule: str | None
    modifiers: list[str] | None
    section: str  # the sections that state it, comma-separated
    extractor: str


class ReportRelationRow(EdgeRow):
    """(Concept)-[:LOCATED_AT|SUGGESTIVE_OF|MODIFY]->(Concept), as the reports state it."""

    support: int  # reports that state it
    reportIds: list[str]  # a sample of them


class IndexRelationRow(EdgeRow):
    """(Concept)-[:ISA|<UMLS RELA>]->(Concept), from the concept index."""

    source: str
    sab: list[str]


class SimilarRow(EdgeRow):
    """(Image)-[:SIMILAR_TO]->(Image)."""

    score: float


R = TypeVar("R")


@dataclass
class NodeTable(Generic[R]):
    label: str
    rows: list[R]

    @property
    def key(self) -> str:
        return NODE_KEYS[self.label]


@dataclass
class EdgeTable(Generic[R]):
    """Rows have ``_start`` and ``_end`` (node keys of the two ends) plus properties."""

    type: str
    source_label: str
    target_label: str
    rows: list[R]

    @property
    def name(self) -> str:
        """File stem: the type, qualified by labels when one type joins several label pairs."""
        return f"{self.source_label}_{self.type}_{self.target_label}"


@dataclass
class Graph:
    nodes: dict[str, NodeTable[Any]] = field(default_factory=dict)
    edges: dict[str, EdgeTable[Any]] = field(default_factory=dict)  # by EdgeTable.name

    def add_edges(self, type: str, source_label: str, target_label: str, rows: list[Any]) -> None:
        t: EdgeTable[Any] = EdgeTable(type, source_label, target_label, rows)
        if t.name in self.edges:
            self.edges[t.name].rows.extend(rows)
        else:
            self.edges[t.name] = t

    def sort(self) -> Graph:
        for t in self.nodes.values():
            t.rows.sort(key=lambda r: r[t.key])
        for e in self.edges.values():
            e.rows.sort(key=lambda r: (r["_start"], r["_end"]))
        self.nodes = dict(sorted(self.nodes.items()))
        self.edges = dict(sorted(self.edges.items()))
        return self

    def counts(self) -> dict[str, dict[str, int]]:
        nodes = {label: len(t.rows) for label, t in self.nodes.items()}
        edges: dict[str, int] = {}
        for t in self.edges.values():
            edges[t.type] = edges.get(t.type, 0) + len(t.rows)
        return {"nodes": nodes, "relationships": dict(sorted(edges.items()))}
