"""Node and edge tables: the graph as users see it (labels, types, properties).

Labels are CamelCase, relationship types UPPER_SNAKE, properties camelCase, ids strings.
Each table is a list of rows sorted by key, so the same input always gives the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from extract.records import EDGE_TYPES

# what a label, relationship type or property name may look like (they are written into Cypher and file names)
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
PROP_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NODE_KEYS = {"Patient": "id", "Study": "id", "Report": "id", "Image": "id", "Concept": "cui"}
POLARITY_TYPES = EDGE_TYPES  # (Image|Study)-[:POSITIVE|NEGATIVE|UNCERTAIN]->(Concept): extract.records.Polarity.edge_type
RADGRAPH_TYPES = {"located_at": "LOCATED_AT", "suggestive_of": "SUGGESTIVE_OF", "modify": "MODIFY"}


@dataclass
class NodeTable:
    label: str
    rows: list[dict]

    @property
    def key(self) -> str:
        return NODE_KEYS[self.label]


@dataclass
class EdgeTable:
    """Rows have ``_start`` and ``_end`` (node keys of the two ends) plus properties."""

    type: str
    source_label: str
    target_label: str
    rows: list[dict]

    @property
    def name(self) -> str:
        """File stem: the type, qualified by labels when one type joins several label pairs."""
        return f"{self.source_label}_{self.type}_{self.target_label}"


@dataclass
class Graph:
    nodes: dict[str, NodeTable] = field(default_factory=dict)
    edges: dict[str, EdgeTable] = field(default_factory=dict)  # by EdgeTable.name

    def add_edges(self, type: str, source_label: str, target_label: str, rows: list[dict]) -> None:
        t = EdgeTable(type, source_label, target_label, rows)
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
