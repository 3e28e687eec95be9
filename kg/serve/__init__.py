"""`kg serve`: the retrieval service (``kg.serve.app``) on uvicorn.

Bound to loopback by default. Bound anywhere else it needs an API key (``--api-key`` or ``MEDKG_API_KEY``) and
refuses to start without one.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from kg.core.errors import InvalidInput, MissingExtraError

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(graph_dir: Path, *, neo4j: str | None = None, api_key: str | None = None):
    """The app over a build (and its Neo4j database with ``neo4j``), with every cache warmed before it serves."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise MissingExtraError("the retrieval service", "api", "fastapi/uvicorn") from None
    from graph.store import FileStore
    from kg.serve.app import create_app

    files = FileStore(graph_dir).warm()
    store = files
    if neo4j is not None:
        from graph.neo4j.store import Neo4jStore

        store = Neo4jStore.connect(graph_dir, uri=neo4j)
    return create_app(files, store, api_key=api_key)


def serve(graph_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          neo4j: str | None = None, workers: int = 1) -> None:
    if not is_loopback(host) and not api_key:
        raise InvalidInput(f"refusing to serve on {host} without an API key", code="E192",
                           fix="set MEDKG_API_KEY (or --api-key), or bind to 127.0.0.1")
    import uvicorn

    app = build_app(graph_dir, neo4j=neo4j, api_key=api_key)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
