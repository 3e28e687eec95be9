"""Summaries of a built graph for `kg stats` and the build report."""

from __future__ import annotations

from pathlib import Path

from extract.records import EDGE_TYPES
from graph.model import Graph
from graph.store import FileStore

POLARITIES = EDGE_TYPES


def concept_polarity(g: Graph) -> list[dict]:
    """Per concept: cross-modal edges by polarity, most edges first (ties by CUI)."""
    names = {r["cui"]: r.get("name") or r["cui"] for r in g.nodes["Concept"].rows} if "Concept" in g.nodes else {}
    per: dict[str, dict[str, int]] = {}
    for t in g.edges.values():
        if t.type in POLARITIES and t.target_label == "Concept":
            for r in t.rows:
                per.setdefault(r["_end"], dict.fromkeys(POLARITIES, 0))[t.type] += 1
    ranked = sorted(per.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return [{"cui": c, "name": names.get(c, c), **d} for c, d in ranked]


def graph_stats(out: Path | FileStore, top: int = 15) -> dict:
    store = out if isinstance(out, FileStore) else FileStore(out)
    m, g = store.manifest, store.graph
    per = concept_polarity(g)
    pol = {p: sum(c[p] for c in per) for p in POLARITIES}
    return {
        "nodes": m.graph.nodes | {k: len(t.rows) for k, t in g.nodes.items()},
        "relationships": g.counts()["relationships"],
        "polarity": pol,
        "polarityConflicts": m.extractor.polarity_conflicts,
        "naf": m.naf.model_dump(mode="json", by_alias=True),
        "records": m.records.model_dump(mode="json", by_alias=True),
        "images": m.images.model_dump(mode="json", by_alias=True),
        "topConcepts": per[:top],
        "similarity": _similarity(m),
    }


def _similarity(m) -> dict | None:
    """The images' best-match cosine outside their own patient at a few percentiles (the retrieval guard's floor is
    the 1st by default)."""
    q = m.similarity.patient if m.similarity is not None else None
    if not q:
        return None
    return {"encoder": m.similarity.encoder, "sample": m.similarity.sample,
            "bestMatchOtherPatient": {f"p{p}": q[p] for p in (1, 5, 50, 95)}}
