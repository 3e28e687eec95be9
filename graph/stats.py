"""Summaries of a built graph for `kg stats` and `kg neighbors`."""

from __future__ import annotations

from pathlib import Path

from graph.model import POLARITY_TYPES
from graph.store import read_graph, read_manifest
from kg.core.errors import NotFound

POLARITIES = tuple(POLARITY_TYPES.values())


def graph_stats(out: Path, top: int = 15) -> dict:
    m = read_manifest(out)
    g = read_graph(out)
    names = {r["cui"]: r["name"] for r in g.nodes["Concept"].rows} if "Concept" in g.nodes else {}
    per: dict[str, dict[str, int]] = {}
    pol = {p: 0 for p in POLARITIES}
    for t in g.edges.values():
        if t.type in POLARITIES:
            pol[t.type] += len(t.rows)
            for r in t.rows:
                d = per.setdefault(r["_end"], {p: 0 for p in POLARITIES})
                d[t.type] += 1
    ranked = sorted(per.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:top]
    return {
        "nodes": m.graph.nodes | {k: len(t.rows) for k, t in g.nodes.items()},
        "relationships": g.counts()["relationships"],
        "polarity": pol,
        "polarityConflicts": m.extractor.polarity_conflicts,
        "naf": m.naf.model_dump(mode="json", by_alias=True),
        "records": m.records.model_dump(mode="json", by_alias=True),
        "images": m.images.model_dump(mode="json", by_alias=True),
        "topConcepts": [{"cui": c, "name": names.get(c, c), **d} for c, d in ranked],
    }


def concept_neighbors(out: Path, query: str, limit: int = 20) -> dict:
    g = read_graph(out)
    rows = g.nodes.get("Concept").rows if "Concept" in g.nodes else []
    by_cui = {r["cui"]: r for r in rows}
    q = query.strip()
    if q.upper() in by_cui:
        c = by_cui[q.upper()]
    else:
        exact = [r for r in rows if r["name"].lower() == q.lower()]
        part = [r for r in rows if q.lower() in r["name"].lower()]
        hits = exact or part
        if len(hits) != 1:
            sugg = ", ".join(f"{r['cui']} {r['name']}" for r in hits[:8])
            raise NotFound(
                f"no concept named {q!r} in the graph" if not hits else f"{q!r} matches {len(hits)} concepts: {sugg}", code="E212",
                fix="pass a CUI or a more precise name (see `kg stats`)",
            )
        c = hits[0]
    cui = c["cui"]
    edges = []
    for t in g.edges.values():
        if t.type in POLARITIES and t.target_label == "Concept":
            n = sum(1 for r in t.rows if r["_end"] == cui)
            if n:
                edges.append({"direction": "in", "type": t.type, "other": f"{n} {t.source_label} nodes",
                              "properties": {}})
            continue
        if t.source_label != "Concept" or t.target_label != "Concept":
            continue
        listed = 0
        for r in t.rows:
            if listed >= limit:
                break
            if cui not in (r["_start"], r["_end"]):
                continue
            other = r["_end"] if r["_start"] == cui else r["_start"]
            props = {k: v for k, v in r.items() if k not in ("_start", "_end") and v is not None}
            edges.append({
                "direction": "out" if r["_start"] == cui else "in",
                "type": t.type,
                "other": other,
                "name": by_cui.get(other, {}).get("name", ""),
                "properties": dict(sorted(props.items())),
            })
            listed += 1
    return {"concept": c, "edges": edges}
