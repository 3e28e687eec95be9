"""Stores by name: ``files`` (the build folder) and ``neo4j[:URI]`` (the database the build was loaded into).

This module sits above both ``graph.store`` and ``graph.neo4j`` so that neither imports the other's way up.
"""

from __future__ import annotations

from pathlib import Path

from graph.store import FileStore, Store
from kg.core.registry import Registry

STORES: Registry[Store] = Registry("store", option="--store")


@STORES.register("files")
def _files(out: Path, arg: str | None = None) -> Store:
    return FileStore(out)


@STORES.register("neo4j")
def _neo4j(out: Path, arg: str | None = None) -> Store:
    from graph.neo4j.store import Neo4jStore

    return Neo4jStore.connect(out, uri=arg)


def open_store(spec: str, out: Path | str) -> Store:
    """``files`` or ``neo4j[:URI]`` (NEO4J_* settings otherwise) for the build in ``out``."""
    factory, s = STORES.get(spec)
    return factory(Path(out), s.arg)
