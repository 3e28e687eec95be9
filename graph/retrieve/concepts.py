"""A concept by CUI or name, and its neighbourhood: relations to other concepts and cross-modal edge counts."""

from __future__ import annotations

from typing import Any

from extract.records import EDGE_TYPES
from graph.retrieve.records import ConceptEdge, ConceptRef, Neighbourhood
from graph.store import Store
from kg.core.errors import NotFound

POLARITIES = EDGE_TYPES


def _ref(row: dict[str, Any]) -> ConceptRef:
    return ConceptRef(cui=row["cui"], name=row.get("name") or row["cui"], group=row.get("group"),
                      semantic_types=tuple(row.get("semanticTypes") or ()))


def find_concept(store: Store, query: str) -> ConceptRef:
    """A CUI (any case), else the one concept whose name is ``query`` (case-insensitive), else the one whose
    name contains it; several or none is an error listing candidates."""
    q = query.strip()
    row = store.node("Concept", q.upper())
    if row is not None:
        return _ref(row)
    rows = store.nodes("Concept")
    exact = [r for r in rows if (r.get("name") or "").lower() == q.lower()]
    part = [r for r in rows if q.lower() in (r.get("name") or "").lower()]
    hits = exact or part
    if len(hits) != 1:
        sugg = ", ".join(f"{r['cui']} {r['name']}" for r in hits[:8])
        raise NotFound(f"no concept named {q!r} in the graph" if not hits else f"{q!r} matches {len(hits)} concepts: "
                       f"{sugg}", code="E212", fix="pass a CUI or a more precise name (see `kg stats`)")
    return _ref(hits[0])


def neighbourhood(store: Store, concept: ConceptRef, *, limit: int = 20) -> Neighbourhood:
    """Concept-to-concept edges (at most ``limit`` per type) and, per polarity and source label, how many
    images or studies link to the concept."""
    counts: dict[tuple[str, str], int] = {}
    per_type: dict[str, int] = {}
    edges: list[ConceptEdge] = []
    for e in store.edges_of("Concept", concept.cui):
        if e.type in POLARITIES and e.direction == "in" and e.other_label != "Concept":
            counts[(e.type, e.other_label)] = counts.get((e.type, e.other_label), 0) + 1
            continue
        if e.other_label != "Concept" or per_type.get(e.type, 0) >= limit:
            continue
        per_type[e.type] = per_type.get(e.type, 0) + 1
        other = store.node("Concept", e.other_key) or {}
        edges.append(ConceptEdge(direction=e.direction, type=e.type, other=e.other_key, name=other.get("name", ""),
                                 properties=dict(sorted(e.properties.items()))))
    for (typ, label), n in sorted(counts.items()):
        edges.append(ConceptEdge(direction="in", type=typ, other=f"{n} {label} nodes"))
    return Neighbourhood(concept=concept, edges=tuple(edges))
