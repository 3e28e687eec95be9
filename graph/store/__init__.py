"""The store: where a built graph lives and how the rest of medkg reads and extends it.

Two stores share one :class:`Store` protocol: :class:`FileStore` (the build folder: Parquet tables, the vector
index and a typed :class:`Manifest`; the default) and :class:`Neo4jStore` (a Neo4j database the build was
loaded into). Both answer node lookups and nearest-image queries and take node properties written after the
build (a GNN's embeddings) through :meth:`Store.write_node_property`.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

from graph.store.files import (
    EdgeRef,
    FileStore,
    load_networkx,
    node_id,
    read_graph,
    read_manifest,
    to_networkx,
    write_graph,
    write_manifest,
)
from graph.store.manifest import FORMAT_VERSION, Manifest, NodeProperty
from kg.core.registry import Registry


class Store(Protocol):
    name: str
    manifest: Manifest

    def nodes(self, label: str) -> list[dict]: ...

    def node(self, label: str, key: str) -> dict | None: ...

    def nearest_images(self, vector, k: int, *, exact: bool = False) -> list[tuple[str, float]]: ...

    def edges_of(self, label: str, key: str) -> list[EdgeRef]: ...

    def write_node_property(self, label: str, name: str, values: Mapping[str, Any], *,
                            writer: str = "") -> NodeProperty: ...


STORES: Registry[Store] = Registry("store", option="--store")
STORES.add("files", lambda out, arg=None: FileStore(out))


@STORES.register("neo4j")
def _neo4j(out, arg=None):
    from graph.store.neo4j import Neo4jStore

    return Neo4jStore.connect(out, uri=arg)


def open_store(spec: str, out) -> Store:
    """``files`` (the build folder ``out``) or ``neo4j[:URI]`` (the database ``out`` was loaded into)."""
    factory, s = STORES.get(spec)
    return factory(out, s.arg)


__all__ = ["FORMAT_VERSION", "EdgeRef", "STORES", "FileStore", "Manifest", "NodeProperty", "Store", "load_networkx", "node_id",
           "open_store", "read_graph", "read_manifest", "to_networkx", "write_graph", "write_manifest"]
