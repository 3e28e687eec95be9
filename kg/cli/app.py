"""The ``kg`` Typer app, its root options and the options several commands share."""

from __future__ import annotations

import typer

from kg import __version__

app = typer.Typer(
    name="kg",
    help="medkg: build a medical multimodal knowledge graph from radiology reports and images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


NEO4J_OPTS = dict(
    uri=typer.Option(None, "--neo4j", help="Bolt URI (default: $NEO4J_URI)."),
    database=typer.Option(None, "--database", help="Database (default: $NEO4J_DATABASE or neo4j)."),
)


def _version(value: bool):
    if value:
        typer.echo(f"medkg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
):
    """medkg: radiology corpora to a knowledge graph (MEDMKG model)."""
