"""A connection to one Neo4j database over Bolt, read-only queries, vector search and clearing.

Settings come from the standard variables ``NEO4J_URI``, ``NEO4J_USERNAME``, ``NEO4J_PASSWORD``,
``NEO4J_DATABASE`` (``kg.core.environment``); the password is never part of a repr or a message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from graph.model import NAME_RE, NODE_KEYS, PROP_RE
from kg.core.environment import neo4j_env
from kg.core.errors import InvalidInput, MissingExtraError, NotFound, Unavailable

VECTOR_INDEX = "medkg_image_embedding"


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
                 database: str | None = None) -> Neo4jSettings:
        env = neo4j_env()
        uri = uri or env.uri
        if not uri:
            raise InvalidInput("no Neo4j URI given", code="E144", fix="set NEO4J_URI (e.g. bolt://127.0.0.1:7687), "
                               "pass --neo4j URI, or start medkg's own server with `kg neo4j start` (one started "
                               "with `--home DIR` is found with MEDKG_NEO4J_HOME=DIR)")
        return cls(
            uri=uri,
            user=user or env.username,
            password=password if password is not None else env.password.get_secret_value(),
            database=database or env.database,
        )


class Neo4jClient:
    """An open connection to one database; use as a context manager."""

    def __init__(self, settings: Neo4jSettings):
        neo4j = _driver_module()
        self.settings = settings
        self._borrowed = False  # from_driver: the caller's driver, never closed here
        try:
            self.driver = neo4j.GraphDatabase.driver(settings.uri, auth=(settings.user, settings.password),
                                                     connection_timeout=10, max_transaction_retry_time=30)
        except ValueError as exc:
            raise InvalidInput(f"bad Neo4j URI {settings.uri!r}: {exc}", code="E148",
                               fix="use bolt://host:port or neo4j://host:port") from None
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
            raise InvalidInput(f"Neo4j at {s.uri} rejected the credentials of user {s.user!r}", code="E149",
                             fix="check NEO4J_USERNAME and NEO4J_PASSWORD") from None
        except ServiceUnavailable:
            self.close()
            raise Unavailable(f"cannot reach Neo4j at {s.uri}", code="E419",
                             fix="start it (`kg neo4j start` or docker compose) or correct NEO4J_URI") from None
        except ClientError as exc:
            self.close()
            if "DatabaseNotFound" in (exc.code or "") or "database does not exist" in str(exc.message).lower():
                raise NotFound(f"Neo4j at {s.uri} has no database {s.database!r}", code="E210",
                                 fix="create it, or use --database neo4j (Community Edition has one user database)") from None
            raise Unavailable(f"Neo4j refused the connection: {exc.message}", code="E420", fix="check the server log") from None

    @classmethod
    def from_driver(cls, driver, database: str | None = None) -> Neo4jClient:
        """A client over a driver the caller owns (an adapter's): checked the same way, never closed by medkg."""
        self = cls.__new__(cls)
        self.settings = Neo4jSettings(uri="(the caller's driver)", user="", password="", database=database or "neo4j")
        self.driver = driver
        self._borrowed = True
        self._check()
        return self

    def close(self) -> None:
        if not self._borrowed:
            self.driver.close()

    def __enter__(self) -> Neo4jClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def session(self, **kw):
        return self.driver.session(database=self.settings.database, **kw)

    def run(self, cypher: str, **params) -> list[dict]:
        with self.session() as s:
            return s.run(cypher, params).data()


def name(n: str) -> str:
    if not NAME_RE.match(n):
        raise InvalidInput(f"{n!r} is not a valid label or relationship type", code="E141", fix="table names must be CamelCase/UPPER_SNAKE")
    return f"`{n}`"




def prop(n: str) -> str:
    if not PROP_RE.match(n):
        raise InvalidInput(f"{n!r} is not a valid property name", code="E142", fix="the store's columns are camelCase identifiers")
    return f"`{n}`"



WRITE_TYPES = {"w", "rw", "s"}


def query(g: Neo4jClient, cypher: str, params: dict, *, write: bool = False) -> tuple[list[str], list[dict]]:
    """Run a query; unless ``write``, refuse any query that Neo4j's planner says writes (EXPLAIN)."""
    from neo4j.exceptions import ClientError, CypherSyntaxError

    try:
        with g.session() as s:
            summary = s.run("EXPLAIN " + cypher, params).consume()
        qtype = summary.query_type
    except CypherSyntaxError as exc:
        raise InvalidInput(f"Cypher syntax error: {exc.message}", code="E145", fix="check the query") from None
    except ClientError as exc:
        raise InvalidInput(f"Neo4j refused the query: {exc.message}", code="E146", fix="check the query and its parameters") from None
    if qtype in WRITE_TYPES and not write:
        raise InvalidInput("this query writes to the graph (Neo4j classifies it as "
                         f"{'schema' if qtype == 's' else 'write'}); kg query is read-only by default", code="E143",
                         fix="add --write if you mean to change the graph")

    def work(tx):
        res = tx.run(cypher, params)
        return res.keys(), res.data()

    try:
        with g.session() as s:
            keys, rows = (s.execute_write if write else s.execute_read)(work)
    except ClientError as exc:
        raise InvalidInput(f"Neo4j refused the query: {exc.message}", code="E147", fix=_query_fix(exc.message)) from None
    return list(keys), rows


def _query_fix(message: str | None) -> str:
    """A missing $parameter is named with the option that gives it."""
    m = re.search(r"Expected parameter\(s\): (.+)$", message or "")
    if m:
        names = [n.strip().strip("`$") for n in m.group(1).split(",") if n.strip()]
        return "give every parameter the query names: " + " ".join(f"--param {n}=VALUE" for n in names)
    return "check the query and its parameters"


def similar_in_neo4j(g: Neo4jClient, vector: list[float], k: int) -> list[dict]:
    return g.run(
        f"CALL db.index.vector.queryNodes('{VECTOR_INDEX}', $k, $v) YIELD node, score "
        "RETURN node.id AS id, score, node.studyId AS studyId, node.kept AS kept ORDER BY score DESC, id",
        k=k, v=vector,
    )


def clear(g: Neo4jClient) -> None:
    """Delete everything, relationships first: detaching a node with a million relationships in
    one transaction would exceed the server's transaction memory."""
    g.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS")
    g.run("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS")


def graph_checksum(g: Neo4jClient) -> tuple[dict, str]:
    """(counts, sha256) over every medkg node and relationship, ids and properties sorted."""
    import hashlib

    h = hashlib.sha256()
    counts: dict[str, int] = {}
    for label, key in sorted(NODE_KEYS.items()):
        rows = g.run(f"MATCH (n:{name(label)}) RETURN n.{key} AS k, properties(n) AS p ORDER BY k")
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
