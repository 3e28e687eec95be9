"""The embedded store: a folder of Parquet tables, the vector index and a manifest.

Layout::

    OUT/manifest.json            versions, settings, counts, input checksum, NaF report
    OUT/quarantine.jsonl         one JSON object per rejected record or image, with reason and fix
    OUT/nodes/<Label>.parquet    one table per node label (Patient, Study, Report, Image, Concept)
    OUT/edges/<Src>_<TYPE>_<Dst>.parquet   one table per relationship type and label pair
    OUT/index/vectors.npy, ids.txt         image vectors (see embed.index)
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from graph.model import NODE_KEYS, EdgeTable, Graph, NodeTable
from kg.core.errors import NotFound

FORMAT_VERSION = 1


def _table(rows: list[dict], first: list[str]) -> pa.Table:
    cols: list[str] = list(first)
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return pa.table({c: pa.array([r.get(c) for r in rows]) if rows else pa.array([], pa.string()) for c in cols})


def write_graph(g: Graph, out: Path) -> None:
    (out / "nodes").mkdir(parents=True, exist_ok=True)
    (out / "edges").mkdir(parents=True, exist_ok=True)
    for label, t in g.nodes.items():
        pq.write_table(_table(t.rows, [t.key]), out / "nodes" / f"{label}.parquet")
    for name, t in g.edges.items():
        pq.write_table(_table(t.rows, ["_start", "_end"]), out / "edges" / f"{name}.parquet")


def write_manifest(manifest: dict, out: Path, name: str = "manifest.json") -> None:
    (out / name).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_manifest(out: Path) -> dict:
    from graph.outdir import recover

    if out.is_dir():
        recover(out)  # finish (or drop) a build that was killed while it was being written
    p = out / "manifest.json"
    if not p.is_file():
        raise NotFound(f"{out} is not a medkg graph (no manifest.json)", code="E213", fix="run `kg build ... --out DIR` first")
    return json.loads(p.read_text(encoding="utf-8"))


def read_graph(out: Path) -> Graph:
    read_manifest(out)
    g = Graph()
    for p in sorted((out / "nodes").glob("*.parquet")):
        g.nodes[p.stem] = NodeTable(p.stem, pq.read_table(p).to_pylist())
    for p in sorted((out / "edges").glob("*.parquet")):
        src, _, rest = p.stem.partition("_")
        typ, _, dst = rest.rpartition("_")
        g.edges[p.stem] = EdgeTable(typ, src, dst, pq.read_table(p).to_pylist())
    return g


def node_id(label: str, key: str) -> str:
    """The networkx node id: label-qualified so a Study and its Report may share an id."""
    return f"{label}:{key}"


def to_networkx(g: Graph):
    """A ``networkx.MultiDiGraph``: nodes ``"Label:key"`` with ``label`` and properties,
    edges keyed by relationship type with their properties."""
    import networkx as nx

    G = nx.MultiDiGraph()
    for label, t in g.nodes.items():
        key = NODE_KEYS.get(label, "id")
        for r in t.rows:
            G.add_node(node_id(label, r[key]), label=label, **r)
    for t in g.edges.values():
        for r in t.rows:
            props = {k: v for k, v in r.items() if k not in ("_start", "_end")}
            G.add_edge(node_id(t.source_label, r["_start"]), node_id(t.target_label, r["_end"]), key=t.type,
                       type=t.type, **props)
    return G


def load_networkx(out: Path):
    return to_networkx(read_graph(out))
