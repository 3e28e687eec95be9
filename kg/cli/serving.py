"""`kg serve`: the retrieval service for VLMs."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.app import app


@app.command("serve")
def serve_cmd(
    graph_dir: Path = typer.Argument(..., metavar="DIR", help="A folder written by `kg build`."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs an API key."),
    port: int = typer.Option(8000, "--port"),
    api_key: str | None = typer.Option(None, "--api-key", help="Key for X-API-Key (default: $MEDKG_API_KEY)."),
    neo4j: str | None = typer.Option(None, "--neo4j", help="Answer graph queries from this Neo4j (the build loaded into it)."),
    workers: int = typer.Option(1, "--workers", help="Server processes (each holds the store in memory); one per core."),
):
    """Serve cited KG context over HTTP: POST /v1/context, GET /v1/concepts/{cui}, /v1/images/{id}, /healthz, /metrics."""
    import os

    # one BLAS thread per request thread: concurrent vector searches otherwise oversubscribe the cores (measured:
    # 27 -> 163 requests/s at concurrency 16 on 2 cores); set before numpy loads, and only where the user has not
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from kg.core.environment import medkg_env
    from kg.serve import serve

    env_key = medkg_env().api_key
    key = api_key or (env_key.get_secret_value() if env_key else None)
    shown = f"[{host}]" if ":" in host else host

    def ready() -> None:  # once it listens: never before a failure (no build there, port in use, no key)
        typer.echo(f"medkg service on http://{shown}:{port} (OpenAPI: /docs){'; API key required' if key else ''}",
                   err=True)

    serve(graph_dir, host=host, port=port, api_key=key, neo4j=neo4j, workers=workers, on_ready=ready)
