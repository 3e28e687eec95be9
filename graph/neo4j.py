"""The graph in Neo4j over Bolt: batched, idempotent, resumable loading, read-only queries,
vector search.

Loading: uniqueness constraints on every label's key first, then indexes, then one
``UNWIND $rows … MERGE`` per batch, per label and per relationship type (relationships MATCH
both ends by label and key). Every value travels as a query parameter; labels and types come
from the store's own table names and are checked before they are written into a query.
Each batch commits together with its checkpoint (a ``MedkgLoad`` node keyed by the build's
input checksum), so a load that is interrupted resumes after its last committed batch and
ends identical to a clean load; loading twice changes nothing. Transient errors are retried
by the driver's managed transactions.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq

from graph.model import NODE_KEYS
from graph.store import read_manifest
from kg.errors import MissingExtraError, UsageError

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
VECTOR_INDEX = "medkg_image_embedding"
CHECKPOINT_LABEL = "MedkgLoad"
INDEXES = {"Study": ["patientId"], "Image": ["studyId"], "Report": ["studyId"], "Concept": ["name"]}


def _driver_module():
    try:
        import neo4j

        return neo4j
    except ImportError:
        raise MissingExtraError("Neo4j access", "neo4j", "neo4j") from None


@dataclass(frozen=True)
class Neo4jSettings:
    uri: str
    user: str
    password: str = field(repr=False)
    database: str

    @classmethod
    def from_env(cls, uri: str | None = None, user: str | None = None, password: str | None = None,
                 database: str | None = None) -> "Neo4jSettings":
        uri = uri or os.environ.get("NEO4J_URI")
        if not uri:
            raise UsageError("no Neo4j URI given", fix="set NEO4J_URI (e.g. bolt://127.0.0.1:7687) or pass --neo4j URI")
        return cls(
            uri=uri,
            user=user or os.environ.get("NEO4J_USERNAME") or "neo4j",
            password=password if password is not None else os.environ.get("NEO4J_PASSWORD", ""),
            database=database or os.environ.get("NEO4J_DATABASE") or "neo4j",
        )


class Neo4jGraph:
    """An open connection to one database; use as a context manager."""

    def __init__(self, settings: Neo4jSettings):
        neo4j = _driver_module()
        self.settings = settings
        try:
            self.driver = neo4j.GraphDatabase.driver(settings.uri, auth=(settings.user, settings.password),
                                                     connection_timeout=10, max_transaction_retry_time=30)
        except ValueError as exc:
            raise UsageError(f"bad Neo4j URI {settings.uri!r}: {exc}", fix="use bolt://host:port or neo4j://host:port") from None
        self._check()

    def _check(self) -> None:
        from neo4j.exceptions import AuthError, ClientError, ServiceUnavailable

        s = self.settings
        try:
            self.driver.verify_connectivity()
            with self.driver.session(database=s.database) as session:
                session.run("RETURN 1").consume()
        except AuthError:
            self.close()
            raise UsageError(f"Neo4j at {s.uri} rejected the credentials of user {s.user!r}",
                             fix="check NEO4J_USERNAME and NEO4J_PASSWORD") from None
        except ServiceUnavailable:
            self.close()
            raise UsageError(f"cannot reach Neo4j at {s.uri}",
                             fix="start it (`kg neo4j start` or docker compose) or correct NEO4J_URI") from None
        except ClientError as exc:
            self.close()
            if "DatabaseNotFound" in (exc.code or "") or "database does not exist" in str(exc.message).lower():
                raise UsageError(f"Neo4j at {s.uri} has no database {s.database!r}",
                                 fix="create it, or use --database neo4j (Community Edition has one user database)") from None
            raise UsageError(f"Neo4j refused the connection: {exc.message}", fix="check the server log") from None

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> "Neo4jGraph":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def session(self, **kw):
        return self.driver.session(database=self.settings.database, **kw)

    def run(self, cypher: str, **params) -> list[dict]:
        with self.session() as s:
            return s.run(cypher, params).data()


def _name(n: str) -> str:
    if not NAME_RE.match(n):
        raise UsageError(f"{n!r} is not a valid label or relationship type", fix="table names must be CamelCase/UPPER_SNAKE")
    return f"`{n}`"


def _clean(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class LoadReport:
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    skipped_batches: int = 0


def create_schema(g: Neo4jGraph, dim: int = 0) -> None:
    """Uniqueness constraints on every key, lookup indexes, and the vector index when ``dim``."""
    for label, key in NODE_KEYS.items():
        g.run(f"CREATE CONSTRAINT medkg_{label.lower()}_key IF NOT EXISTS FOR (n:{_name(label)}) REQUIRE n.{key} IS UNIQUE")
    g.run(f"CREATE CONSTRAINT medkg_load_id IF NOT EXISTS FOR (n:{CHECKPOINT_LABEL}) REQUIRE n.id IS UNIQUE")
    for label, props in INDEXES.items():
        for prop in props:
            g.run(f"CREATE INDEX medkg_{label.lower()}_{prop.lower()} IF NOT EXISTS FOR (n:{_name(label)}) ON (n.{prop})")
    if dim > 0:
        g.run(
            f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (n:Image) ON (n.embedding) OPTIONS "
            f"{{indexConfig: {{`vector.dimensions`: {int(dim)}, `vector.similarity_function`: 'cosine'}}}}"
        )


def load_graph(out: Path, g: Neo4jGraph, *, batch_size: int = 10_000, embeddings: bool = True,
               schema_only: bool = False, advance: Callable[[int], None] = lambda n=1: None) -> LoadReport:
    manifest = read_manifest(out)
    checkpoint = manifest["input"]["checksum"] + "|" + json.dumps(manifest["settings"], sort_keys=True)
    report = LoadReport()
    dim = int(manifest.get("vectorIndex", {}).get("dim") or 0) if embeddings else 0
    if schema_only:
        create_schema(g, dim)
        return report
    create_schema(g, 0)  # the vector index comes last, once the embeddings are in
    # a finished load of the same build is simply redone (MERGE makes that a no-op on an unchanged
    # graph and a repair on a changed one); an unfinished one resumes after its last committed batch
    g.run(f"MERGE (c:{CHECKPOINT_LABEL} {{id: $id}}) ON CREATE SET c.done = [], c.complete = false "
          "WITH c WHERE c.complete SET c.done = [], c.complete = false", id=checkpoint)
    done = set(g.run(f"MATCH (c:{CHECKPOINT_LABEL} {{id: $id}}) RETURN c.done AS d", id=checkpoint)[0]["d"] or [])

    vectors: dict[str, list[float]] = {}
    if embeddings and (out / "index" / "vectors.npy").is_file():
        ids = (out / "index" / "ids.txt").read_text().splitlines()
        mat = np.load(out / "index" / "vectors.npy")
        vectors = {i: mat[n].tolist() for n, i in enumerate(ids)}

    def batches(path: Path):
        table = pq.read_table(path)
        for b in range(0, table.num_rows, batch_size):
            yield b // batch_size, table.slice(b, batch_size).to_pylist()

    def write(key: str, cypher: str, rows: list[dict]) -> None:
        if key in done:
            report.skipped_batches += 1
            advance(len(rows))
            return

        def tx(t):
            t.run(cypher, rows=rows).consume()
            t.run(f"MATCH (c:{CHECKPOINT_LABEL} {{id: $id}}) SET c.done = c.done + $key", id=checkpoint, key=key).consume()

        with g.session() as s:
            s.execute_write(tx)
        report.batches += 1
        advance(len(rows))

    for p in sorted((out / "nodes").glob("*.parquet")):
        label = p.stem
        key = NODE_KEYS.get(label, "id")
        cypher = (f"UNWIND $rows AS row MERGE (n:{_name(label)} {{{key}: row.key}}) SET n += row.props")
        n = 0
        for i, rows in batches(p):
            payload = []
            for r in rows:
                props = {k: _clean(v) for k, v in r.items() if k != key}
                if label == "Image" and r[key] in vectors:
                    props["embedding"] = vectors[r[key]]
                payload.append({"key": r[key], "props": props})
            write(f"nodes/{label}/{i}", cypher, payload)
            n += len(rows)
        report.nodes[label] = n
    for p in sorted((out / "edges").glob("*.parquet")):
        src, _, rest = p.stem.partition("_")
        typ, _, dst = rest.rpartition("_")
        cypher = (
            f"UNWIND $rows AS row MATCH (a:{_name(src)} {{{NODE_KEYS.get(src, 'id')}: row.s}}) "
            f"MATCH (b:{_name(dst)} {{{NODE_KEYS.get(dst, 'id')}: row.e}}) "
            f"MERGE (a)-[r:{_name(typ)}]->(b) SET r += row.props"
        )
        n = 0
        for i, rows in batches(p):
            payload = [{"s": r["_start"], "e": r["_end"],
                        "props": {k: _clean(v) for k, v in r.items() if k not in ("_start", "_end")}} for r in rows]
            write(f"edges/{p.stem}/{i}", cypher, payload)
            n += len(rows)
        report.relationships[typ] = report.relationships.get(typ, 0) + n
    if vectors:
        create_schema(g, dim)
    g.run(f"MATCH (c:{CHECKPOINT_LABEL} {{id: $id}}) SET c.complete = true, c.nodes = $n, c.relationships = $r",
          id=checkpoint, n=json.dumps(report.nodes, sort_keys=True), r=json.dumps(report.relationships, sort_keys=True))
    return report


WRITE_TYPES = {"w", "rw", "s"}


def query(g: Neo4jGraph, cypher: str, params: dict, *, write: bool = False) -> tuple[list[str], list[dict]]:
    """Run a query; unless ``write``, refuse any query that Neo4j's planner says writes (EXPLAIN)."""
    from neo4j.exceptions import ClientError, CypherSyntaxError

    try:
        with g.session() as s:
            summary = s.run("EXPLAIN " + cypher, params).consume()
        qtype = summary.query_type
    except CypherSyntaxError as exc:
        raise UsageError(f"Cypher syntax error: {exc.message}", fix="check the query") from None
    except ClientError as exc:
        raise UsageError(f"Neo4j refused the query: {exc.message}", fix="check the query and its parameters") from None
    if qtype in WRITE_TYPES and not write:
        raise UsageError("this query writes to the graph (Neo4j classifies it as "
                         f"{'schema' if qtype == 's' else 'write'}); kg query is read-only by default",
                         fix="add --write if you mean to change the graph")

    def work(tx):
        res = tx.run(cypher, params)
        return res.keys(), res.data()

    try:
        with g.session() as s:
            keys, rows = (s.execute_write if write else s.execute_read)(work)
    except ClientError as exc:
        raise UsageError(f"Neo4j refused the query: {exc.message}", fix="check the query and its parameters") from None
    return list(keys), rows


def similar_in_neo4j(g: Neo4jGraph, vector: list[float], k: int) -> list[dict]:
    return g.run(
        f"CALL db.index.vector.queryNodes('{VECTOR_INDEX}', $k, $v) YIELD node, score "
        "RETURN node.id AS id, score, node.studyId AS studyId, node.kept AS kept ORDER BY score DESC, id",
        k=k, v=vector,
    )


def graph_checksum(g: Neo4jGraph) -> tuple[dict, str]:
    """(counts, sha256) over every medkg node and relationship, ids and properties sorted."""
    import hashlib

    h = hashlib.sha256()
    counts: dict[str, int] = {}
    for label, key in sorted(NODE_KEYS.items()):
        rows = g.run(f"MATCH (n:{_name(label)}) RETURN n.{key} AS k, properties(n) AS p ORDER BY k")
        counts[label] = len(rows)
        for r in rows:
            h.update(json.dumps([label, r["k"], r["p"]], sort_keys=True, default=str).encode())
    rels = g.run(
        "MATCH (a)-[r]->(b) WHERE NOT a:MedkgLoad "
        "RETURN type(r) AS t, coalesce(a.id, a.cui) AS s, coalesce(b.id, b.cui) AS e, properties(r) AS p"
    )
    rels.sort(key=lambda r: (r["t"], str(r["s"]), str(r["e"])))
    for r in rels:
        counts[r["t"]] = counts.get(r["t"], 0) + 1
        h.update(json.dumps([r["t"], r["s"], r["e"], r["p"]], sort_keys=True, default=str).encode())
    return counts, h.hexdigest()
