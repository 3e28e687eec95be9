"""Neo4j: `kg neo4j install|start|stop|guide|status` (medkg's own server), `kg load`, `kg query`."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.app import NEO4J_OPTS, app
from kg.cli.connect import neo4j_settings
from kg.core.errors import InvalidInput

neo4j_app = typer.Typer(help="A local Neo4j server assembled from Maven Central (no Docker needed).", no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")
HOME_OPT = typer.Option(None, "--home", help="Server folder (default: $MEDKG_NEO4J_HOME or ~/.local/share/medkg/neo4j).")


@neo4j_app.command("install")
def neo4j_install(home: Path | None = HOME_OPT):
    """Assemble Neo4j 5.26 Community, its Browser and APOC core with Maven."""
    from kg.neo4j_local import ServerHome, install

    h = ServerHome.resolve(home)
    install(h)
    typer.echo(f"Neo4j assembled in {h.path}")


@neo4j_app.command("start")
def neo4j_start(
    home: Path | None = HOME_OPT,
    bolt_port: int = typer.Option(7687, "--bolt-port"),
    http_port: int = typer.Option(7474, "--http-port"),
    heap: str = typer.Option("1g", "--heap", help="JVM heap, e.g. 1g or 4g."),
):
    """Start the server on loopback (installing it first if needed) and wait until Bolt answers."""
    from kg.core.extras import require

    require("neo4j", "kg neo4j start")  # it waits for Bolt with the driver: checked before Maven and the server
    from kg.neo4j_local import ServerHome, start

    h = ServerHome.resolve(home)
    uri = start(h, bolt=bolt_port, http=http_port, heap=heap)
    typer.echo(f"Neo4j is up: {uri}  (Browser: http://127.0.0.1:{h.ports()[1]}/browser/)")
    typer.echo(f"export NEO4J_URI={uri} NEO4J_USERNAME=neo4j; the password is in {h.password_file}")
    if h != ServerHome.resolve(None):  # not where the other commands look by default
        typer.echo(f"or export MEDKG_NEO4J_HOME={h.path}: kg load, kg query and kg similar --neo4j then find this "
                   "server and its password themselves")


@neo4j_app.command("stop")
def neo4j_stop(home: Path | None = HOME_OPT):
    """Stop the server cleanly."""
    from kg.neo4j_local import ServerHome, stop

    h = ServerHome.resolve(home)
    typer.echo(f"stopped ({h.path})" if stop(h) else f"not running ({h.path}; --home or MEDKG_NEO4J_HOME picks another)")


@neo4j_app.command("guide")
def neo4j_guide(port: int = typer.Option(8089, "--port")):
    """Serve the medkg Browser guide and style on loopback; then `:play http://localhost:PORT/medkg.html`."""
    from kg.neo4j_local import serve_guide as serve

    typer.echo(f"In the Neo4j Browser run  :play http://localhost:{port}/medkg.html   (Ctrl-C stops)")
    serve(port)


@neo4j_app.command("status")
def neo4j_status(home: Path | None = HOME_OPT):
    """Whether the server runs, where, and its URI."""
    from kg.neo4j_local import ServerHome, pid_of

    h = ServerHome.resolve(home)
    pid = pid_of(h)
    state = f"running (pid {pid}) at {h.uri()}" if pid else ("stopped" if h.installed else "not installed")
    typer.echo(f"{h.path}: {state}")
    if not pid:
        raise typer.Exit(3)


@app.command()
def load(
    graph_dir: Path = typer.Argument(..., metavar="DIR"),
    uri: str | None = NEO4J_OPTS["uri"],
    database: str | None = NEO4J_OPTS["database"],
    batch_size: int = typer.Option(5_000, "--batch-size", min=1, help="Rows per UNWIND transaction."),
    workers: int = typer.Option(2, "--workers", min=1, help="Concurrent sessions for labels and relationship types "
                                "the database holds none of yet (those are CREATEd; the rest is MERGEd one batch at a time)."),
    no_embeddings: bool = typer.Option(False, "--no-embeddings", help="Do not load Image.embedding and its vector index."),
    schema_only: bool = typer.Option(
        False, "--schema-only",
        help="Only constraints, indexes and the vector index (after neo4j-admin import)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Load a built graph into Neo4j (idempotent, resumable). Credentials: NEO4J_USERNAME / NEO4J_PASSWORD."""
    from kg.core.extras import require

    require("neo4j", "kg load")
    from graph.neo4j import Neo4jClient, load_graph
    from graph.store import read_manifest
    from kg.core.progress import progress

    m = read_manifest(graph_dir)
    total = sum(m.graph.nodes.values()) + sum(m.graph.relationships.values())
    with Neo4jClient(neo4j_settings(uri, database)) as g, progress(quiet) as track:
        r = load_graph(graph_dir, g, batch_size=batch_size, embeddings=not no_embeddings, schema_only=schema_only,
                       workers=workers, advance=track("Loading into Neo4j", total=0 if schema_only else total, unit="rows"))
    typer.echo(f"loaded {sum(r.nodes.values())} nodes and {sum(r.relationships.values())} relationships "
               f"({r.batches} batches written, {r.skipped_batches} already done)")


@app.command("query")
def query_cmd(
    cypher: str = typer.Argument(..., help="A Cypher query; pass values with --param, never inside the text."),
    param: list[str] = typer.Option([], "--param", "-p", help="name=value (JSON values allowed: 3, true, [1,2], \"text\")."),
    write: bool = typer.Option(False, "--write", help="Allow queries that change the graph."),
    json_out: bool = typer.Option(False, "--json"),
    uri: str | None = NEO4J_OPTS["uri"],
    database: str | None = NEO4J_OPTS["database"],
):
    """Run Cypher against Neo4j; read-only unless --write."""
    import json

    from kg.core.extras import require

    require("neo4j", "kg query")

    from graph.neo4j import Neo4jClient, query

    params = {}
    for p in param:
        k, eq, v = p.partition("=")
        if not eq or not k:
            raise InvalidInput(f"bad --param {p!r}", fix="write --param name=value", code="E164")
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    with Neo4jClient(neo4j_settings(uri, database)) as g:
        keys, rows = query(g, cypher, params, write=write)
    if json_out:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from kg.cli.render import console, plural, table

    cells = [[json.dumps(r[k], default=str) if not isinstance(r[k], str) else r[k] for k in keys] for r in rows]
    console().print(table(None, list(keys), cells))
    typer.echo(plural(len(rows), "row"))
