"""Looking at a built graph: `kg stats`, `kg neighbors`, `kg export`, `kg similar`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from kg.cli.app import NEO4J_OPTS, app
from kg.cli.connect import neo4j_settings
from kg.cli.render import print_stats, props_text
from kg.core.errors import InvalidInput


@app.command()
def stats(
    graph_dir: Path = typer.Argument(..., metavar="DIR", help="A folder written by `kg build`."),
    top: int = typer.Option(15, "--top", help="How many top concepts to list."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
):
    """Counts per label and type, polarity breakdown, NaF effect and top concepts."""
    from kg.cli.render import console

    if json_out:
        import json

        from graph.stats import graph_stats

        typer.echo(json.dumps(graph_stats(graph_dir, top=top), indent=2))
        return
    print_stats(console(), graph_dir, top=top)



@app.command()
def neighbors(
    graph_dir: Path = typer.Argument(..., metavar="DIR"),
    concept: str = typer.Argument(..., metavar="CUI_OR_NAME", help="A CUI (C0032227) or a concept name."),
    limit: int = typer.Option(20, "--limit", help="Most edges listed per relationship type."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (the concept and its edges) instead of a table."),
):
    """A concept's edges: cross-modal polarity counts and its concept relations."""
    from graph.retrieve import find_concept, neighbourhood
    from graph.stores import open_store
    from kg.cli.render import console as make_console
    from kg.cli.render import table

    store = open_store(graph_dir)
    info = neighbourhood(store, find_concept(store, concept), limit=limit)
    if json_out:
        import json

        typer.echo(json.dumps(info.as_json(), indent=2, default=str))
        return
    console = make_console()
    c = info.concept
    console.print(f"[bold]{c.cui}[/] {c.name} ({c.group}; {', '.join(c.semantic_types)})")
    rows = [[e.direction, e.type, e.other, e.name or "", props_text(e.properties)] for e in info.edges]
    console.print(table("Edges", ["direction", "type", "other", "name", "properties"], rows, whole=("other",)))


@app.command()
def export(
    graph_dir: Path = typer.Argument(..., metavar="DIR"),
    format: str = typer.Option(
        ..., "--format", "-f",
        help="graphml, rdf (Turtle), medmkg (MedMKG.csv's columns) or neo4j-admin (CSV for bulk import)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o",
        help="Output file (folder for neo4j-admin; default: DIR/graph.graphml, DIR/graph.ttl, DIR/graph.medmkg.csv, "
             "DIR/neo4j-import/)."
    ),
    database: str = typer.Option("neo4j", "--database", help="neo4j-admin: the database to import into."),
):
    """Export the graph as GraphML, RDF Turtle, MedMKG CSV, or CSV files for neo4j-admin import."""
    from graph.formats.export import FORMATS, SUFFIX
    from graph.store import read_graph

    if format == "neo4j-admin":
        from graph.formats.neo4j_admin import command_line, export_admin

        dest = out or graph_dir / "neo4j-import"
        args = export_admin(graph_dir, dest, database=database)
        typer.echo(f"wrote {dest}. With the server stopped, run:\n\n  {command_line(args)}\n")
        typer.echo(f"then start Neo4j and add constraints, indexes and the vector index:\n\n  kg load {graph_dir} --schema-only\n")
        return
    if format not in FORMATS:
        raise InvalidInput(f"unknown export format {format!r}", code="E161",
                           fix="use one of: " + ", ".join((*FORMATS.names(), "neo4j-admin")))
    writer, _ = FORMATS.get(format)
    g = read_graph(graph_dir)
    target = out or graph_dir / f"graph.{SUFFIX[format]}"
    writer(g, target)
    typer.echo(f"wrote {target}")


@app.command()
def similar(
    graph_dir: Path = typer.Argument(..., metavar="DIR"),
    image: str = typer.Argument(..., metavar="IMAGE_OR_ID", help="An image id in the graph, or an image file to encode."),
    k: int = typer.Option(10, "-k", min=1, help="How many neighbours."),
    exact: bool = typer.Option(False, "--exact", help="Exact search even when the index is approximate."),
    json_out: bool = typer.Option(False, "--json"),
    neo4j: bool = typer.Option(
        False, "--neo4j",
        help="Answer through Neo4j's vector index (db.index.vector.queryNodes); NEO4J_* settings."
    ),
    database: str | None = NEO4J_OPTS["database"],
):
    """The images most similar to an image of the graph or a new image file."""
    import json

    from graph.retrieve import similar_images
    from graph.stores import open_store
    from kg.cli.render import console, table

    store = open_store(graph_dir, neo4j=neo4j_settings(None, database) if neo4j else None)
    try:
        hits = similar_images(store, image, k=k, exact=exact)
    finally:
        store.close()
    files = store.files
    if json_out:
        typer.echo(json.dumps([h.as_json() for h in hits], indent=2))
        return
    rows = [[str(n), h.id, f"{h.score:.4f}", h.study_id or "", str(h.kept), ", ".join(h.positive[:6])]
            for n, h in enumerate(hits, 1)]
    console().print(table(f"Images similar to {image}", ["rank", "image", "cosine", "study", "kept", "positive concepts"],
                          rows, right=("rank", "cosine"), whole=("image", "study")))
    from graph.retrieve.context import similarity_record
    from graph.retrieve.ood import DEFAULT_PERCENTILE, floor_for, ordinal

    floor = floor_for(similarity_record(files), "patient", DEFAULT_PERCENTILE, None)
    if hits and floor.value is not None and hits[0].score < floor.value:
        sys.stdout.flush()
        typer.echo(f"note: the best match (cosine {hits[0].score:.2f}) is below the {ordinal(DEFAULT_PERCENTILE)} "
                   f"percentile of the graph's own images' best matches ({floor.value:.2f}): no image of the graph is "
                   "like this one, and KG-RAG abstains for it", err=True)
