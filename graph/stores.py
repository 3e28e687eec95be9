"""One way to open a built graph: ``open_store(DIR)`` for the build folder, ``open_store(DIR, neo4j=…)`` for the
Neo4j database it was loaded into (``kg load``); either way ``store.files`` is the folder (its vector index,
encoder and findings table).

This module sits above both ``graph.store`` and ``graph.neo4j`` so that neither imports the other's way up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from graph.store import FileStore, Store

if TYPE_CHECKING:
    from graph.neo4j.client import Neo4jSettings


def open_store(out: Path | str, *, neo4j: Neo4jSettings | str | bool | None = None,
               database: str | None = None) -> Store:
    """The build in ``out``; with ``neo4j`` (settings, a Bolt URI, or True for the NEO4J_* variables) graph
    queries go to that database. A Neo4j store holds a connection: close it (``with`` works) when done."""
    files = FileStore(Path(out))
    if neo4j is None or neo4j is False:
        return files
    from graph.neo4j.client import Neo4jClient, Neo4jSettings
    from graph.neo4j.store import Neo4jStore

    settings = neo4j if isinstance(neo4j, Neo4jSettings) else Neo4jSettings.from_env(
        None if neo4j is True else str(neo4j), database=database)
    return Neo4jStore(Neo4jClient(settings), files)
