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
    upstream: str | None = typer.Option(
        None, "--upstream", metavar="URL",
        help="An OpenAI-compatible VLM server (vLLM, Ollama, ...: http://host:port/v1): also serve POST "
             "/v1/chat/completions with the graph's context injected, and GET /v1/models."),
    upstream_key_env: str | None = typer.Option(
        None, "--upstream-key-env", metavar="VAR", help="The environment variable holding the upstream's API key."),
    upstream_timeout: float = typer.Option(120.0, "--upstream-timeout", min=1, help="Seconds to wait for the upstream."),
    allow_remote_images: bool = typer.Option(
        False, "--allow-remote-images", help="Let the gateway fetch http(s) image URLs (refused by default: it must "
                                             "not be a way to reach other hosts)."),
):
    """Serve cited KG context over HTTP: POST /v1/context, GET /v1/concepts/{cui}, /v1/images/{id}, /healthz, /metrics;
    with --upstream, also the OpenAI-compatible gateway (POST /v1/chat/completions, GET /v1/models)."""
    from kg.core.environment import medkg_env, one_blas_thread

    one_blas_thread()  # before numpy loads
    from kg.serve import serve

    env_key = medkg_env().api_key
    key = api_key or (env_key.get_secret_value() if env_key else None)
    shown = f"[{host}]" if ":" in host else host

    def ready() -> None:  # once it listens: never before a failure (no build there, port in use, no key)
        typer.echo(f"medkg service on http://{shown}:{port} (OpenAPI: /docs){'; API key required' if key else ''}",
                   err=True)

    gateway = _upstream(upstream, upstream_key_env, upstream_timeout, allow_remote_images)
    serve(graph_dir, host=host, port=port, api_key=key, neo4j=neo4j, workers=workers, upstream=gateway,
          on_ready=ready)


def _upstream(url: str | None, key_env: str | None, timeout_s: float, allow_remote_images: bool):
    """The gateway's upstream from the options (None without --upstream); its key is read from the named variable,
    never from the command line (where `ps` would show it)."""
    import os

    from kg.core.errors import InvalidInput

    if url is None:
        if key_env or allow_remote_images:
            raise InvalidInput("--upstream-key-env and --allow-remote-images go with --upstream", code="E1164",
                               fix="pass --upstream URL (the VLM server's OpenAI-compatible /v1 base URL)")
        return None
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"--upstream {url!r} is not an http(s) URL", code="E1165", where="--upstream",
                           fix="pass the server's base URL, e.g. http://127.0.0.1:8001/v1 (vLLM) or "
                               "http://127.0.0.1:11434/v1 (Ollama)")
    key = None
    if key_env:
        key = os.environ.get(key_env)
        if not key:
            raise InvalidInput(f"--upstream-key-env {key_env}: the variable is not set", code="E1166",
                               where="--upstream-key-env", fix=f"export {key_env}=... before kg serve")
    from kg.core.extras import require

    require("api", "the gateway (kg serve --upstream)")
    from kg.serve.gateway import Upstream

    return Upstream(url, key, timeout_s=timeout_s, allow_remote_images=allow_remote_images)
