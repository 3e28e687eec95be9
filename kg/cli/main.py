# ruff: noqa: I001
"""The ``kg`` entry point: every command group registered on the app, and one-line errors instead of tracebacks."""

from __future__ import annotations

import sys

import typer

# imported in the order `kg --help` lists their commands
from kg.cli import build, browse, extraction, rag_eval, umls, neo4j, serving, calibration, mcp, importing, gnn  # noqa: F401  (the order is `kg --help`'s)
from kg.cli.app import app
from kg.core.errors import KGError

__all__ = ["app", "main"]


def main() -> None:
    import logging

    # library code reports through the "medkg" logger; the command line shows its messages on stderr
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("medkg")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    # the Neo4j driver's notifications (a missing parameter, a deprecation) go to a log file, not the terminal:
    # the command says what went wrong in its own one-line error
    from kg.core.logs import LogFile

    driver = logging.getLogger("neo4j")
    driver.addHandler(LogFile("neo4j.log"))
    driver.propagate = False
    try:
        app()
    except KGError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg="red", err=True)
        sys.exit(130)
