"""The store: where a built graph lives and how the rest of medkg reads and extends it.

Two stores share one :class:`Store` protocol: :class:`FileStore` (the build folder: Parquet tables, the vector
index and a typed :class:`Manifest`; the default) and :class:`Neo4jStore` (``graph.neo4j.store``: a Neo4j database
the build was loaded into); ``graph.stores.open_store`` opens either. Both answer node lookups and nearest-image
queries and take node properties written after the build (a GNN's embeddings) through
:meth:`Store.write_node_property`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from graph.store.files import (
    EdgeRef,
    FileStore,
    load_networkx,
    node_id,
    read_graph,
    to_networkx,
    write_graph,
    write_manifest,
)
from graph.store.manifest import FORMAT_VERSION, Manifest, NodeProperty
from graph.store.outdir import read_manifest


class Store(Protocol):
    """What every store answers. ``files`` is the build folder behind it (a FileStore is its own); ``memo(name)``
    a dict for records derived from the graph while the store is open, or None where the data may change under
    the reader (a database)."""

    name: str
    manifest: Manifest

    @property
    def files(self) -> FileStore: ...

    def memo(self, name: str) -> dict[Any, Any] | None: ...

    def close(self) -> None: ...

    def nodes(self, label: str) -> list[dict[str, Any]]: ...

    def node(self, label: str, key: str) -> dict[str, Any] | None: ...

    def nodes_by_key(self, label: str, keys: list[str]) -> dict[str, dict[str, Any]]: ...

    def nearest_images(self, vector: Any, k: int, *, exact: bool = False) -> list[tuple[str, float]]: ...

    def edges_of(self, label: str, key: str, *, other: str | None = None) -> list[EdgeRef]: ...

    def edges_of_many(self, label: str, keys: list[str], *, other: str | None = None) -> dict[str, list[EdgeRef]]: ...

    def findings_of(self, image_id: str) -> list[dict[str, Any]]: ...

    def write_node_property(self, label: str, name: str, values: Mapping[str, Any], *,
                            writer: str = "") -> NodeProperty: ...


__all__ = ["FORMAT_VERSION", "EdgeRef", "FileStore", "Manifest", "NodeProperty", "Store", "load_networkx", "node_id",
           "read_graph", "read_manifest", "to_networkx", "write_graph", "write_manifest"]
