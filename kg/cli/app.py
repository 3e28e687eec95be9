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


# ``--executor`` was the engine option's first name: hidden, and kept for one release (kg.cli.app.engine_choice)
OLD_ENGINE_OPTION = typer.Option(None, "--executor", hidden=True, help="Old name of --engine.")


def engine_choice(engine: str | None, executor: str | None) -> str | None:
    """``--engine``, or its old spelling ``--executor``; both, when they disagree, is a mistake named at once."""
    if engine is not None and executor is not None and engine != executor:
        from kg.core.errors import InvalidInput

        raise InvalidInput(f"--engine {engine} and --executor {executor} disagree (--executor is the old name of "
                           "--engine)", code="E1152", fix="pass --engine only")
    return engine if engine is not None else executor


def _version(value: bool):
    if value:
        typer.echo(f"medkg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
):
    """medkg: radiology corpora to a knowledge graph (MEDMKG model)."""


def require_for(*, extractor: str | None = None, encoder: str | None = None, engine: str | None = None,
                ray_address: str | None = None, images: str | None = None, neo4j: str | bool | None = None) -> None:
    """Before any work: the extras that these option values need are installed (else one line naming the
    ``pip install``, exit 2)."""
    from kg.core.extras import require

    if extractor and extractor.split(":", 1)[0] == "transformers":
        require("nlp", f"--extractor {extractor}")
    if encoder and encoder.split(":", 1)[0] == "open_clip":
        require("images", f"--encoder {encoder}")
    if ray_address or (engine and engine.split(":", 1)[0] == "ray"):
        require("ray", "--engine ray")
    if images and "://" in images and not images.startswith("file://"):
        require("remote", f"--images {images}")
    if neo4j:
        require("neo4j", "--neo4j")
