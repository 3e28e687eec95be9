"""The graph in Neo4j over Bolt: batched, idempotent, resumable loading, read-only queries,
vector search.

Loading: uniqueness constraints on every label's key and lookup indexes, then one
``UNWIND $rows … MERGE`` per batch, per label and per relationship type (relationships MATCH
both ends by label and key). Labels and types the database holds none of yet are written with
``CREATE`` instead, by several sessions at once (nothing can exist to merge with); such a label's
constraint and indexes are built once its nodes are in. Every node batch returns the ids of its
nodes, so when every batch of a label was written by this load its relationships find their ends
by id rather than by an index seek. Every value travels as a query parameter; labels and types come
from the store's own table names and are checked before they are written into a query.
Each batch commits together with its checkpoint (a ``MedkgLoad`` node keyed by the build's
input checksum), so a load that is interrupted resumes after its last committed batch and
ends identical to a clean load; loading twice changes nothing. Transient errors are retried
by the driver's managed transactions.
"""


from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graph.model import NODE_KEYS
from graph.neo4j.batches import BatchWriter
from graph.neo4j.client import Neo4jClient
from graph.neo4j.client import name as _name
from graph.neo4j.client import prop as _prop
from graph.store import read_manifest
from kg.core.errors import InvalidInput

CHECKPOINT_LABEL = "MedkgLoad"
INDEXES = {"Study": ["patientId"], "Image": ["studyId"], "Report": ["studyId"], "Concept": ["name"]}



@dataclass
class LoadReport:
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    skipped_batches: int = 0
    created: list[str] = field(default_factory=list)  # "node:Label" / "rel:TYPE" written with CREATE


def _schema(label: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of medkg's uniqueness constraint and indexes on one label."""
    out = []
    if label in NODE_KEYS:
        out.append((f"medkg_{label.lower()}_key", f"CREATE CONSTRAINT medkg_{label.lower()}_key IF NOT EXISTS "
                    f"FOR (n:{_name(label)}) REQUIRE n.{NODE_KEYS[label]} IS UNIQUE"))
    for prop in INDEXES.get(label, []):
        out.append((f"medkg_{label.lower()}_{prop.lower()}", f"CREATE INDEX medkg_{label.lower()}_{prop.lower()} "
                    f"IF NOT EXISTS FOR (n:{_name(label)}) ON (n.{prop})"))
    return out


def create_schema(g: Neo4jClient, dim: int = 0, labels=None) -> None:
    """Uniqueness constraints on every key, lookup indexes, and the vector index when ``dim``
    (``labels``: only those labels' constraints and indexes)."""
    g.run(f"CREATE CONSTRAINT medkg_load_id IF NOT EXISTS FOR (n:{CHECKPOINT_LABEL}) REQUIRE n.id IS UNIQUE")
    for label in (labels if labels is not None else sorted(set(NODE_KEYS) | set(INDEXES))):
        for _, statement in _schema(label):
            g.run(statement)
    if dim > 0:
        create_vector_index(g, "Image", "embedding", dim)


def vector_properties(out: Path) -> list[tuple[str, str, int]]:
    """(label, property, dimension) of every node property of a built graph that holds float vectors
    (a list-of-float column, e.g. ``Concept.gnnEmbedding`` written back by a GNN); each gets a cosine
    vector index named ``medkg_<label>_<property>`` when loaded."""
    found = []
    for p in sorted((out / "nodes").glob("*.parquet")):
        for f in pq.read_schema(p):
            t = f.type
            if not ((pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))
                    and pa.types.is_floating(t.value_type)):
                continue
            lengths = pc.unique(pc.drop_null(pc.list_value_length(pq.read_table(p, columns=[f.name]).column(f.name))))
            dims = sorted(lengths.to_pylist())
            if len(dims) > 1:
                raise InvalidInput(f"nodes/{p.name} column {f.name!r} holds vectors of {len(dims)} lengths ({dims[:5]})", code="E150",
                                 fix="write one dimension per vector property")
            if dims and dims[0] > 0:
                found.append((p.stem, f.name, int(dims[0])))
    return found


def create_vector_index(g: Neo4jClient, label: str, prop: str, dim: int) -> str:
    name = f"medkg_{label.lower()}_{prop.lower()}"
    g.run(f"CREATE VECTOR INDEX {name} IF NOT EXISTS FOR (n:{_name(label)}) ON (n.{_prop(prop)}) OPTIONS "
          f"{{indexConfig: {{`vector.dimensions`: {int(dim)}, `vector.similarity_function`: 'cosine'}}}}")
    return name


def _drop_schema(g: Neo4jClient, label: str) -> None:
    """Drop medkg's constraint and indexes on a label that holds no nodes (they are built after its nodes)."""
    constraints = {r["n"] for r in g.run("SHOW CONSTRAINTS YIELD name AS n RETURN n")}
    for name, _ in _schema(label):
        g.run(f"DROP {'CONSTRAINT' if name in constraints else 'INDEX'} {name} IF EXISTS")


def _fresh(g: Neo4jClient, out: Path) -> list[str]:
    """Labels and relationship types the database holds none of yet (count store lookups)."""
    # only names the database knows are counted (counting an unknown one draws a warning)
    labels = {r["l"] for r in g.run("CALL db.labels() YIELD label RETURN label AS l")}
    types = {r["t"] for r in g.run("CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType AS t")}
    fresh = []
    for p in sorted((out / "nodes").glob("*.parquet")):
        if p.stem not in labels or g.run(f"MATCH (n:{_name(p.stem)}) RETURN count(n) AS c")[0]["c"] == 0:
            fresh.append(f"node:{p.stem}")
    for typ in sorted({_edge_type(p)[1] for p in (out / "edges").glob("*.parquet")}):
        if typ not in types or g.run(f"MATCH ()-[r:{_name(typ)}]->() RETURN count(r) AS c")[0]["c"] == 0:
            fresh.append(f"rel:{typ}")
    return fresh


def _edge_type(p: Path) -> tuple[str, str, str]:
    src, _, rest = p.stem.partition("_")
    typ, _, dst = rest.rpartition("_")
    return src, typ, dst


def _has_duplicates(table, columns: list[str]) -> bool:
    """Tables are sorted by their key columns, so duplicates sit next to each other."""
    n = table.num_rows
    if n < 2:
        return False
    same = None
    for c in columns:
        col = table.column(c)
        eq = pc.equal(col.slice(1), col.slice(0, n - 1))
        same = eq if same is None else pc.and_(same, eq)
    return bool(pc.any(same).as_py())


def _node_cypher(label: str, key: str, props: list[str], create: bool) -> str:
    """One node batch: rows are ``[key, *props]``; returns the ids of its nodes in row order."""
    if create:  # properties inline in CREATE: about half the server time of a separate SET
        inline = "".join(f", {_prop(c)}: row[{i + 1}]" for i, c in enumerate(props))
        cypher = f"UNWIND $rows AS row CREATE (n:{_name(label)} {{{_prop(key)}: row[0]{inline}}})"
    else:
        sets = ", ".join(f"n.{_prop(c)} = row[{i + 1}]" for i, c in enumerate(props))
        cypher = f"UNWIND $rows AS row MERGE (n:{_name(label)} {{{_prop(key)}: row[0]}})" + (f" SET {sets}" if sets else "")
    return cypher + " RETURN collect(id(n)) AS ids"


def edge_cypher(src: str, typ: str, dst: str, props: list[str], create: bool, by_id: tuple[bool, bool]) -> str:
    """One relationship batch. CREATE rows are grouped by start node, ``[start, [[end, *props], …]]``
    (one lookup of the start per group); MERGE rows are ``[start, end, *props]``. An end is found by
    node id when ``by_id`` says so, else by label and key."""
    def match(var: str, label: str, at: str, by_id: bool) -> str:
        if by_id:
            return f"MATCH ({var}) WHERE id({var}) = {at}"
        return f"MATCH ({var}:{_name(label)} {{{_prop(NODE_KEYS.get(label, 'id'))}: {at}}})"

    match_a = match("a", src, "row[0]", by_id[0])
    if create:
        inline = ", ".join(f"{_prop(c)}: x[{i + 1}]" for i, c in enumerate(props))
        return (f"UNWIND $rows AS row {match_a} UNWIND row[1] AS x {match('b', dst, 'x[0]', by_id[1])} "
                f"CREATE (a)-[r:{_name(typ)}" + (f" {{{inline}}}" if inline else "") + "]->(b)")
    sets = ", ".join(f"r.{_prop(c)} = row[{i + 2}]" for i, c in enumerate(props))
    return (f"UNWIND $rows AS row {match_a} {match('b', dst, 'row[1]', by_id[1])} "
            f"MERGE (a)-[r:{_name(typ)}]->(b)" + (f" SET {sets}" if sets else ""))


def parallel_lists(table: pa.Table) -> pa.Table:
    """Neo4j stores no maps: each ``list<struct>`` column (an edge's ``evidence``) becomes one list column per
    field, ``evidenceStart``, ``evidenceText``, ... (the i-th entries of each are the i-th struct)."""
    for name in [f.name for f in table.schema if pa.types.is_list(f.type) and pa.types.is_struct(f.type.value_type)]:
        col = table.column(name).combine_chunks()
        at = table.column_names.index(name)
        table = table.remove_column(at)
        values = col.flatten()
        for n, field_ in enumerate(col.type.value_type):
            lists = pa.ListArray.from_arrays(col.offsets, values.field(n), mask=col.is_null())
            table = table.add_column(at + n, name + field_.name[:1].upper() + field_.name[1:], lists)
    return table


def edge_rows(part, props: list[str], grouped: bool) -> list[list]:
    """A batch's payload, built column by column (see ``edge_cypher`` for the two shapes)."""
    vals = [part.column(c).to_pylist() for c in ("_start", "_end", *props)]
    if not grouped:
        return [list(r) for r in zip(*vals)]
    out: list[list] = []
    last = object()
    for start, *item in zip(*vals):
        if start == last:
            out[-1][1].append(item)
        else:
            out.append([start, [item]])
            last = start
    return out


def load_graph(out: Path, g: Neo4jClient, *, batch_size: int = 5_000, embeddings: bool = True,
               schema_only: bool = False, workers: int = 2,
               advance: Callable[[int], None] | None = None) -> LoadReport:
    """Load a built graph directory into Neo4j; see the module docstring.

    Labels and relationship types the database held none of when this load began are written with
    ``CREATE`` by ``workers`` concurrent sessions (nothing to match against, and creating
    relationships takes no lock that could deadlock two writers); everything else is ``MERGE``d one
    batch at a time. The choice is stored in the checkpoint, so a resumed load makes the same one:
    batches that did not commit left nothing behind, so creating them again cannot duplicate.
    """
    manifest = read_manifest(out)
    # properties written after the build (a GNN's embeddings) change what a load must write, so they are part of
    # the checkpoint: a build loaded before such a write is loaded again, not skipped as done
    declared = [p.model_dump(mode="json") for p in manifest.properties]
    checkpoint = manifest.checksum + "|" + json.dumps(manifest.settings, sort_keys=True) + (
        "|" + json.dumps(declared, sort_keys=True) if declared else "")
    report = LoadReport()
    dim = int(manifest.vector_index.get("dim") or 0) if embeddings else 0
    node_vectors = vector_properties(out)  # checked before anything is written
    if schema_only:
        create_schema(g, dim)
        for label, prop, d in node_vectors:
            create_vector_index(g, label, prop, d)
        return report
    done = _resume_or_start(g, out, checkpoint, report)
    writer = BatchWriter(g, checkpoint_label=CHECKPOINT_LABEL, checkpoint=checkpoint, done=done, report=report,
                         workers=workers, batch_size=batch_size, advance=advance or (lambda n: None))
    vectors: dict[str, list[float]] = {}
    if embeddings and (out / "index" / "vectors.npy").is_file():
        ids = (out / "index" / "ids.txt").read_text().splitlines()
        mat = np.load(out / "index" / "vectors.npy")
        vectors = {i: mat[n].tolist() for n, i in enumerate(ids)}
    nodes = _NodeIds()
    parallel, serial, created_labels = _node_jobs(out, writer, set(report.created), vectors, nodes, report)
    if not done:
        # a label this load creates from nothing gets its key constraint and indexes built once its
        # nodes are in (one population instead of an index insert and an entry lock per node); every
        # other label needs them now, to MERGE against
        for label in created_labels:
            _drop_schema(g, label)
        create_schema(g, 0, labels=sorted((set(NODE_KEYS) | set(INDEXES)) - set(created_labels)))
    writer.phase(parallel, serial)  # every node exists before the first relationship
    create_schema(g, 0)  # relationships whose ends are not found by id use the key indexes
    writer.phase(*_edge_jobs(out, writer, set(report.created), nodes, report))
    if vectors and dim > 0:
        create_vector_index(g, "Image", "embedding", dim)
    for label, prop, d in node_vectors:
        create_vector_index(g, label, prop, d)
    g.run("CALL db.awaitIndexes(600)")
    g.run(f"MATCH (c:{CHECKPOINT_LABEL} {{id: $id}}) SET c.complete = true, c.nodes = $n, c.relationships = $r",
          id=checkpoint, n=json.dumps(report.nodes, sort_keys=True), r=json.dumps(report.relationships, sort_keys=True))
    return report


def _resume_or_start(g: Neo4jClient, out: Path, checkpoint: str, report: LoadReport) -> set[str]:
    """The checkpoint keys of the batches already committed (an unfinished load of the same build resumes after
    them; a finished one is simply redone: MERGE makes that a no-op on an unchanged graph and a repair on a changed
    one), with ``report.created`` set to what this load writes with CREATE."""
    # the checkpoint's constraint first; the labels' constraints and indexes once it is known which
    # labels this load creates (those get theirs after their nodes), the vector index last
    create_schema(g, 0, labels=[])
    state = g.run(f"MERGE (c:{CHECKPOINT_LABEL} {{id: $id}}) ON CREATE SET c.done = [], c.complete = false "
                  "RETURN c.complete AS complete, c.create AS create, c.done AS done", id=checkpoint)[0]
    if state["complete"] or state["create"] is None:
        report.created = _fresh(g, out)
        g.run(f"MATCH (c:{CHECKPOINT_LABEL} {{id: $id}}) SET c.done = [], c.complete = false, c.create = $create",
              id=checkpoint, create=report.created)
        return set()
    report.created = sorted(state["create"])
    create_schema(g, 0)  # a resumed load may need every key index to find what it wrote before
    return set(state["done"] or [])


class _NodeIds:
    """Node ids per label, per batch, as the batches that wrote them reported them; a label whose every batch was
    written by this load gets its relationships' ends looked up by id (no index seek, no index-entry lock) — after
    a resume the skipped batches' ids are unknown and the key is used."""

    def __init__(self) -> None:
        self.batch_ids: dict[str, dict[int, list[int]]] = {}
        self.tables: dict[str, tuple] = {}

    def of(self, label: str, keys):
        """The ids of the nodes with these keys, or None when some are unknown to this load."""
        if label not in self.tables:
            return None
        known, n_batches = self.tables[label]
        got = self.batch_ids[label]
        if not n_batches or len(got) != n_batches:  # a batch skipped on resume: its ids are unknown
            return None
        at = pc.index_in(keys, value_set=known)
        if at.null_count:
            return None
        return np.concatenate([np.asarray(got[b], dtype=np.int64) for b in range(n_batches)])[at.to_numpy()]


def _node_jobs(out: Path, writer: BatchWriter, create_set: set[str], vectors: dict[str, list[float]], nodes: _NodeIds,
               report: LoadReport) -> tuple[list, list, list[str]]:
    """The node tables' jobs (fresh labels in parallel, the rest serial) and the labels created from nothing.
    Rows travel as lists in the table's column order (no per-row key strings to pack and unpack); properties are
    set by name, and a null sets nothing / removes a stale value, as SET n += map did."""
    parallel: list = []
    serial: list = []
    created_labels: list[str] = []
    for p in sorted((out / "nodes").glob("*.parquet")):
        label = p.stem
        key = NODE_KEYS.get(label, "id")
        table = pq.read_table(p)
        cols = [c for c in table.column_names if c != key]
        with_vectors = label == "Image" and bool(vectors)
        fresh = f"node:{label}" in create_set and not _has_duplicates(table, [key])
        if fresh:
            created_labels.append(label)
        cypher = _node_cypher(label, key, cols + ["embedding"] if with_vectors else cols, fresh)

        def build(part, key=key, cols=cols, with_vectors=with_vectors):
            vals = [part.column(c).to_pylist() for c in (key, *cols)]
            if with_vectors:
                vals.append([vectors.get(k) for k in vals[0]])
            return [list(r) for r in zip(*vals)]

        nodes.batch_ids[label] = {}
        nodes.tables[label] = (table.column(key), -(-table.num_rows // writer.batch_size))
        (parallel if fresh else serial).append(writer.jobs(
            f"nodes/{label}", cypher, table, build, nodes.batch_ids[label].__setitem__))
        report.nodes[label] = table.num_rows
    return parallel, serial, created_labels


def _edge_jobs(out: Path, writer: BatchWriter, create_set: set[str], nodes: _NodeIds,
               report: LoadReport) -> tuple[list, list]:
    parallel: list = []
    serial: list = []
    for p in sorted((out / "edges").glob("*.parquet")):
        src, typ, dst = _edge_type(p)
        table = parallel_lists(pq.read_table(p))
        props = [c for c in table.column_names if c not in ("_start", "_end")]
        fresh = f"rel:{typ}" in create_set and not _has_duplicates(table, ["_start", "_end"])
        by_id = []
        for col, label in (("_start", src), ("_end", dst)):
            ids = nodes.of(label, table.column(col))
            if ids is not None:
                table = table.set_column(table.column_names.index(col), col, pa.array(ids))
            by_id.append(ids is not None)
        cypher = edge_cypher(src, typ, dst, props, fresh, (by_id[0], by_id[1]))
        build = partial(edge_rows, props=props, grouped=fresh)
        (parallel if fresh else serial).append(writer.jobs(f"edges/{p.stem}", cypher, table, build))
        report.relationships[typ] = report.relationships.get(typ, 0) + table.num_rows
    return parallel, serial
