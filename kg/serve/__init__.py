"""`kg serve`: the retrieval service (``kg.serve.app``) on uvicorn.

Bound to loopback by default. Bound anywhere else it needs an API key (``--api-key`` or ``MEDKG_API_KEY``) and
refuses to start without one.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

from kg.core.errors import InvalidInput, MissingExtraError

LOOPBACK_NAMES = ("localhost",)
_CONFIG, _KEY = "MEDKG_SERVE_CONFIG", "MEDKG_API_KEY"


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


def app_from_env():
    """The app of one worker process (``workers > 1``): its settings come from the parent through the environment."""
    cfg = json.loads(os.environ[_CONFIG])
    return build_app(Path(cfg["dir"]), neo4j=cfg["neo4j"], api_key=os.environ.get(_KEY) or None)


def serve(graph_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          neo4j: str | None = None, workers: int = 1) -> None:
    """Serve until stopped. ``workers`` > 1 starts that many processes on one port, each with its own copy of the
    store in memory (Python answers one request at a time per process)."""
    if not is_loopback(host) and not api_key:
        raise InvalidInput(f"refusing to serve on {host} without an API key", code="E192",
                           fix="set MEDKG_API_KEY (or --api-key), or bind to 127.0.0.1")
    if not 1 <= workers <= 64:
        raise InvalidInput(f"--workers must be 1..64, not {workers}", code="E177",
                           fix="one worker per core is a good start")
    import uvicorn

    if workers == 1:
        app = build_app(graph_dir, neo4j=neo4j, api_key=api_key)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return
    from graph.store import FileStore

    FileStore(graph_dir).manifest  # a wrong folder fails here, once, not in every worker
    os.environ[_CONFIG] = json.dumps({"dir": str(Path(graph_dir).resolve()), "neo4j": neo4j})
    if api_key:
        os.environ[_KEY] = api_key
    uvicorn.run("kg.serve:app_from_env", factory=True, workers=workers, host=host, port=port, log_level="warning",
                access_log=False)
