"""`kg mcp`: the graph as MCP tools for agents."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.app import app


@app.command("mcp")
def mcp_cmd(graph_dir: Path = typer.Argument(..., metavar="DIR", help="A folder written by `kg build`.")):
    """Serve get_context, lookup_concept and similar_images as MCP tools over stdio (for agentic VLMs)."""
    from kg.core.extras import require

    require("mcp", "kg mcp")
    from kg.mcp_server import serve_stdio

    serve_stdio(graph_dir)
