"""The Neo4j store: the database a build was loaded into (``kg load``), behind the same :class:`Store` protocol.

The build folder stays the source of truth: a property written through this store goes into the folder
(atomically, manifest updated) and into the database (batched ``UNWIND … SET``, with a cosine vector index for
vectors), so the next ``kg load`` and the database agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graph.model import NODE_KEYS
from graph.neo4j.client import Neo4jClient, Neo4jSettings, name, prop, similar_in_neo4j
from graph.neo4j.loader import create_vector_index
from graph.store.files import EdgeRef, FileStore
from graph.store.manifest import Manifest, NodeProperty

BATCH = 5_000


class Neo4jStore:
    name = "neo4j"

    def __init__(self, client: Neo4jClient, files: FileStore):
        self.client = client
        self.files = files
        self.manifest: Manifest = files.manifest

    @classmethod
    def connect(cls, out: Path | str, *, uri: str | None = None, database: str | None = None,
                settings: Neo4jSettings | None = None) -> Neo4jStore:
        return cls(Neo4jClient(settings or Neo4jSettings.from_env(uri, database=database)), FileStore(out))

    @classmethod
    def from_driver(cls, driver, out: Path | str, *, database: str | None = None) -> Neo4jStore:
        """Over a neo4j driver the caller already has (it stays the caller's to close)."""
        return cls(Neo4jClient.from_driver(driver, database), FileStore(out))

    def memo(self, name: str) -> None:
        """No memo: the database may change under a reader, so derived records are asked for each time."""
        return None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def nodes(self, label: str) -> list[dict]:
        key = NODE_KEYS.get(label, "id")
        rows = self.client.run(f"MATCH (n:{name(label)}) RETURN properties(n) AS p ORDER BY n.{prop(key)}")
        return [r["p"] for r in rows]

    def node(self, label: str, key: str) -> dict | None:
        k = NODE_KEYS.get(label, "id")
        rows = self.client.run(f"MATCH (n:{name(label)} {{{prop(k)}: $key}}) RETURN properties(n) AS p", key=key)
        return rows[0]["p"] if rows else None

    def nodes_by_key(self, label: str, keys: list[str]) -> dict[str, dict]:
        k = NODE_KEYS.get(label, "id")
        # image embeddings stay in the database: retrieval reads them from the vector index, not per node
        rows = self.client.run(f"UNWIND $keys AS key MATCH (n:{name(label)} {{{prop(k)}: key}}) "
                               "RETURN key, [p IN keys(n) WHERE p <> 'embedding' | [p, n[p]]] AS kv", keys=list(keys))
        return {r["key"]: dict(r["kv"]) for r in rows}

    def edges_of_many(self, label: str, keys: list[str], *, other: str | None = None) -> dict[str, list[EdgeRef]]:
        k = NODE_KEYS.get(label, "id")
        target = f":{name(other)}" if other else ""
        rows = self.client.run(
            f"UNWIND $keys AS key MATCH (n:{name(label)} {{{prop(k)}: key}})-[r]-(m{target}) WHERE NOT m:MedkgLoad "
            "RETURN key, startNode(r) = n AS out, type(r) AS type, labels(m)[0] AS label, "
            "coalesce(m.id, m.cui) AS other, properties(r) AS p ORDER BY key, type, other", keys=list(keys))
        out: dict[str, list[EdgeRef]] = {key: [] for key in keys}
        for r in rows:
            out[r["key"]].append(EdgeRef("out" if r["out"] else "in", r["type"], r["label"], r["other"], r["p"]))
        return out

    def edges_of(self, label: str, key: str, *, other: str | None = None) -> list[EdgeRef]:
        k = NODE_KEYS.get(label, "id")
        target = f":{name(other)}" if other else ""
        rows = self.client.run(
            f"MATCH (n:{name(label)} {{{prop(k)}: $key}})-[r]-(m{target}) WHERE NOT m:MedkgLoad "
            "RETURN startNode(r) = n AS out, type(r) AS type, labels(m)[0] AS label, coalesce(m.id, m.cui) AS other, "
            "properties(r) AS p ORDER BY type, other", key=key)
        return [EdgeRef("out" if r["out"] else "in", r["type"], r["label"], r["other"], r["p"]) for r in rows]

    def findings_of(self, image_id: str) -> list[dict]:
        """From the build folder: it keeps the findings of images NaF left without edges in the database."""
        return self.files.findings_of(image_id)

    def nearest_images(self, vector, k: int, *, exact: bool = False) -> list[tuple[str, float]]:
        """Through Neo4j's vector index (approximate; ``exact`` is not offered by the index and is ignored)."""
        rows = similar_in_neo4j(self.client, [float(x) for x in np.asarray(vector, dtype=np.float32)], k)
        # Neo4j's cosine index scores (1 + cos) / 2; medkg reports the cosine itself, as the file store does
        return [(r["id"], 2.0 * float(r["score"]) - 1.0) for r in rows]

    def write_node_property(self, label: str, name_: str, values: Mapping[str, Any], *,
                            writer: str = "") -> NodeProperty:
        p = self.files.write_node_property(label, name_, values, writer=writer)
        key = NODE_KEYS.get(label, "id")
        rows = [[k, np.asarray(v, dtype=np.float32).tolist() if p.kind == "vector" else v]
                for k, v in sorted(values.items()) if v is not None]
        cypher = (f"UNWIND $rows AS row MATCH (n:{name(label)} {{{prop(key)}: row[0]}}) "
                  f"SET n.{prop(name_)} = row[1]")
        for b in range(0, len(rows), BATCH):
            self.client.run(cypher, rows=rows[b : b + BATCH])
        if p.kind == "vector":
            create_vector_index(self.client, label, name_, p.dim)
        self.manifest = self.files.manifest
        return p
