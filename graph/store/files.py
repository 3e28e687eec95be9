"""The file store (default): a folder of Parquet tables, the vector index and a manifest.

Layout::

    OUT/manifest.json            versions, settings, counts, input checksum, NaF report
    OUT/quarantine.jsonl         one JSON object per rejected record or image, with reason and fix
    OUT/nodes/<Label>.parquet    one table per node label (Patient, Study, Report, Image, Concept)
    OUT/edges/<Src>_<TYPE>_<Dst>.parquet   one table per relationship type and label pair
    OUT/index/vectors.npy, ids.txt         image vectors (see embed.index)
    OUT/retrieval/image_findings.parquet   every Image->Concept edge before NaF (retrieval sees dropped images too)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from extract.records import EDGE_TYPES
from graph.model import COLUMN_TYPES, NODE_KEYS, PROP_RE, EdgeTable, Graph, NodeTable
from graph.store.manifest import Manifest, NodeProperty, load_manifest, save_manifest
from graph.store.outdir import locked, read_manifest
from kg.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from embed.encoders import Encoder
    from embed.index import VectorIndex


def _table(rows: list[dict[str, Any]], first: list[str]) -> pa.Table:
    cols: list[str] = list(first)
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return pa.table({c: pa.array([r.get(c) for r in rows], COLUMN_TYPES.get(c)) if rows
                     else pa.array([], COLUMN_TYPES.get(c, pa.string())) for c in cols})


def write_graph(g: Graph, out: Path) -> None:
    (out / "nodes").mkdir(parents=True, exist_ok=True)
    (out / "edges").mkdir(parents=True, exist_ok=True)
    for label, nt in g.nodes.items():
        pq.write_table(_table(nt.rows, [nt.key]), out / "nodes" / f"{label}.parquet")
    for name, et in g.edges.items():
        pq.write_table(_table(et.rows, ["_start", "_end"]), out / "edges" / f"{name}.parquet")


FINDINGS = "retrieval/image_findings.parquet"
FINDING_COLUMNS = ("image", "type", "cui", "reportId", "section", "evidence", "extractor", "certainty", "certaintyRule",
                   "modifiers")


def image_findings(g: Graph) -> pa.Table:
    """Every (Image)-[:POSITIVE|NEGATIVE|UNCERTAIN]->(Concept) edge of ``g`` as one table, sorted. Taken before
    NaF, so retrieval sees the findings of the images NaF leaves without edges in the graph."""
    rows = [r | {"_type": t.type} for t in g.edges.values()
            if t.source_label == "Image" and t.target_label == "Concept" and t.type in EDGE_TYPES
            for r in t.rows]
    rows.sort(key=lambda r: (r["_start"], r["_type"], r["_end"]))
    cols = {"image": [r["_start"] for r in rows], "type": [r["_type"] for r in rows], "cui": [r["_end"] for r in rows]}
    for c in FINDING_COLUMNS[3:]:
        cols[c] = [r.get(c) for r in rows]
    types = COLUMN_TYPES | {"modifiers": pa.list_(pa.string())}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})


def write_findings(table: pa.Table, out: Path) -> None:
    (out / FINDINGS).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / FINDINGS)


def write_manifest(manifest: Manifest | dict[str, Any], out: Path) -> None:
    save_manifest(manifest, out)


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


def to_networkx(g: Graph) -> Any:
    """A ``networkx.MultiDiGraph``: nodes ``"Label:key"`` with ``label`` and properties,
    edges keyed by relationship type with their properties."""
    import networkx as nx

    G = nx.MultiDiGraph()
    for label, nt in g.nodes.items():
        key = NODE_KEYS.get(label, "id")
        for r in nt.rows:
            G.add_node(node_id(label, r[key]), label=label, **r)
    for et in g.edges.values():
        for r in et.rows:
            props = {k: v for k, v in r.items() if k not in ("_start", "_end")}
            G.add_edge(node_id(et.source_label, r["_start"]), node_id(et.target_label, r["_end"]), key=et.type,
                       type=et.type, **props)
    return G


def load_networkx(out: Path) -> Any:
    return to_networkx(read_graph(out))


@dataclass(frozen=True)
class EdgeRef:
    """One relationship seen from a node: ``direction`` is "out" (the node starts it) or "in"."""

    direction: str
    type: str
    other_label: str
    other_key: str
    properties: dict[str, Any]


def _kind(values: list[Any]) -> tuple[str, int]:
    """("vector", dim) for lists of numbers of one length, else ("number" | "boolean" | "text", 0)."""
    present = [v for v in values if v is not None]
    if not present:
        raise InvalidInput("no values to write", code="E167", fix="pass at least one node key with a value")
    if all(isinstance(v, (list, tuple, np.ndarray)) for v in present):
        dims = {len(v) for v in present}
        if len(dims) != 1:
            raise InvalidInput(f"vectors of {len(dims)} lengths ({sorted(dims)[:5]})", code="E168",
                               fix="write one dimension per vector property")
        return "vector", dims.pop()
    if all(isinstance(v, bool) for v in present):
        return "boolean", 0
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "number", 0
    if all(isinstance(v, str) for v in present):
        return "text", 0
    raise InvalidInput("values mix types", code="E169", fix="write vectors, numbers, booleans or strings, one kind")


class FileStore:
    """The read side of a build folder: the manifest, the tables and the vector index are read once and answer
    many queries; :meth:`write_node_property` adds a column (a GNN's embeddings) atomically."""

    name = "files"

    def __init__(self, out: Path | str):
        self.out = Path(out)
        self.manifest: Manifest = read_manifest(self.out)
        self._memos: dict[str, dict[Any, Any]] = {}

    @property
    def files(self) -> FileStore:
        """The build folder behind the store: for a file store, itself."""
        return self

    def close(self) -> None:
        """Nothing to release (the tables are in memory); a store opened with ``open_store`` is closed the same way
        whichever it is."""

    def __enter__(self) -> FileStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def memo(self, name: str) -> dict[Any, Any]:
        """A dict for values derived from this build's nodes and edges (retrieval's concept records, say), kept
        while the store is open and emptied when a property is written."""
        return self._memos.setdefault(name, {})

    def warm(self) -> FileStore:
        """Read everything the queries use now (a service does this before it takes requests)."""
        self.graph, self.index, self._by_key, self._findings, self._concept_adjacency  # noqa: B018
        return self

    @cached_property
    def graph(self) -> Graph:
        return read_graph(self.out)

    @cached_property
    def index(self) -> VectorIndex:
        from embed.index import VectorIndex

        return VectorIndex.load(self.out / "index")

    @cached_property
    def encoder(self) -> Encoder:
        """The build's own image encoder, made when an image is first encoded (a model encoder loads once)."""
        from embed.encoders import get_encoder

        return get_encoder(self.manifest.encoder.spec or self.manifest.encoder.id)

    def encoder_loaded(self) -> Encoder | None:
        """The encoder if an image was encoded already, else None (nothing is loaded to answer)."""
        loaded: Encoder | None = self.__dict__.get("encoder")
        return loaded

    @cached_property
    def _by_key(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {label: {r[t.key]: r for r in t.rows} for label, t in self.graph.nodes.items()}

    def nodes(self, label: str) -> list[dict[str, Any]]:
        t = self.graph.nodes.get(label)
        return t.rows if t else []

    def node(self, label: str, key: str) -> dict[str, Any] | None:
        return self._by_key.get(label, {}).get(key)

    def nodes_by_key(self, label: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        table = self._by_key.get(label, {})
        return {k: table[k] for k in keys if k in table}

    def edges_of_many(self, label: str, keys: list[str], *, other: str | None = None) -> dict[str, list[EdgeRef]]:
        return {k: self.edges_of(label, k, other=other) for k in keys}

    def nearest_images(self, vector: np.ndarray, k: int, *, exact: bool = False) -> list[tuple[str, float]]:
        return self.index.search(vector, k, exact=exact)

    @cached_property
    def _adjacency(self) -> dict[tuple[str, str], list[EdgeRef]]:
        adj: dict[tuple[str, str], list[EdgeRef]] = {}
        for t in self.graph.edges.values():
            for r in t.rows:
                props = {k: v for k, v in r.items() if k not in ("_start", "_end") and v is not None}
                adj.setdefault((t.source_label, r["_start"]), []).append(
                    EdgeRef("out", t.type, t.target_label, r["_end"], props))
                adj.setdefault((t.target_label, r["_end"]), []).append(
                    EdgeRef("in", t.type, t.source_label, r["_start"], props))
        return adj

    @cached_property
    def _findings(self) -> dict[str, list[dict[str, Any]]]:
        path = self.out / FINDINGS
        by_image: dict[str, list[dict[str, Any]]] = {}
        if path.is_file():
            for r in pq.read_table(path).to_pylist():
                by_image.setdefault(r["image"], []).append(r)
            return by_image
        for t in self.graph.edges.values():  # a build from before the findings table: the graph's edges
            if t.source_label == "Image" and t.target_label == "Concept" and t.type in EDGE_TYPES:
                for r in t.rows:
                    by_image.setdefault(r["_start"], []).append(
                        {"image": r["_start"], "type": t.type, "cui": r["_end"]} | {c: r.get(c) for c in FINDING_COLUMNS[3:]})
        return by_image

    def findings_of(self, image_id: str) -> list[dict[str, Any]]:
        """The image's cross-modal edges (``type``, ``cui``, ``reportId``, ``section``, ``evidence``,
        ``extractor``), NaF-dropped images included."""
        return self._findings.get(image_id, [])

    @cached_property
    def _concept_adjacency(self) -> dict[str, list[EdgeRef]]:
        return {key: [e for e in edges if e.other_label == "Concept"]
                for (label, key), edges in self._adjacency.items() if label == "Concept"}

    def edges_of(self, label: str, key: str, *, other: str | None = None) -> list[EdgeRef]:
        """Every relationship of one node (only those to ``other`` nodes when given), in table order."""
        if other == "Concept" and label == "Concept":
            return self._concept_adjacency.get(key, [])
        edges = self._adjacency.get((label, key), [])
        return edges if other is None else [e for e in edges if e.other_label == other]

    def networkx(self) -> Any:
        return to_networkx(self.graph)

    def write_calibration(self, calibration: dict[str, Any]) -> None:
        """Record `kg calibrate`'s result (chosen k, guarantee) in the manifest, atomically, under the lock."""
        with locked(self.out):
            self._change_manifest(lambda m: setattr(m, "calibration", calibration))

    def record_gnn(self, model: str, record: dict[str, Any], files: list[str]) -> None:
        """Record a trained model (settings, data hash, split, metrics) in the manifest and list the ``files`` it
        wrote (relative to the folder) as the build's own, so a rebuild replaces them; atomically, under the lock."""
        def change(m: Manifest) -> None:
            m.gnn = {**m.gnn, model: record}
            if m.files is not None:
                m.files = sorted(set(m.files) | set(files))

        with locked(self.out):
            self._change_manifest(change)

    def _change_manifest(self, change: Callable[[Manifest], None]) -> None:
        """Read the manifest, apply ``change`` to it, write it back (the caller holds the folder's lock)."""
        m = load_manifest(self.out)  # under the folder's lock: no swap can be half done
        change(m)
        save_manifest(m, self.out)
        self.manifest = m

    def write_node_property(self, label: str, name: str, values: Mapping[str, Any], *,
                            writer: str = "") -> NodeProperty:
        """Set ``label.name`` for the nodes whose keys ``values`` maps (others get null), replacing an earlier
        column of that name. Written to a temporary file and swapped in, the manifest last, under the build
        folder's lock: a reader sees the old table or the new one, never half of one."""
        if not PROP_RE.match(name) or name in (NODE_KEYS.get(label, "id"),):
            raise InvalidInput(f"{name!r} cannot be a property of {label}", code="E170",
                               fix="use a camelCase name that is not the node key, e.g. gnnEmbedding")
        path = self.out / "nodes" / f"{label}.parquet"
        if not path.is_file():
            raise NotFound(f"the graph has no {label} nodes", code="E214",
                           fix="use one of: " + ", ".join(sorted(self.manifest.graph.nodes)))
        with locked(self.out):
            table = pq.read_table(path)
            keys = table.column(NODE_KEYS.get(label, "id")).to_pylist()
            unknown = sorted(set(values) - set(keys))
            if unknown:
                raise NotFound(f"{len(unknown)} {label} key(s) are not in the graph (first: {unknown[:3]})",
                               code="E215", fix=f"write values for {label} nodes of this build only")
            col = [values.get(k) for k in keys]
            kind, dim = _kind(col)
            if kind == "vector":
                arr = pa.array([None if v is None else np.asarray(v, dtype=np.float32).tolist() for v in col],
                               pa.list_(pa.float32()))
            else:
                arr = pa.array(col)
            if name in table.column_names:
                table = table.drop_columns([name])
            table = table.append_column(name, arr)
            tmp = path.with_name(f".{path.name}.tmp")
            pq.write_table(table, tmp)
            os.replace(tmp, path)
            prop = NodeProperty(label=label, name=name, kind=kind, dim=dim,
                                count=sum(v is not None for v in col), writer=writer)
            self._change_manifest(lambda m: setattr(
                m, "properties", [p for p in m.properties if (p.label, p.name) != (label, name)] + [prop]))
        for attr in ("graph", "_by_key", "_adjacency", "_concept_adjacency", "_findings"):
            self.__dict__.pop(attr, None)
        self._memos.clear()
        return prop
