"""The ``kg`` command. Heavy libraries are imported inside the commands that use them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from kg import __version__
from kg.core.errors import InvalidInput, KGError

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


@app.command()
def build(
    source: Optional[Path] = typer.Argument(None, help="Corpus: MIMIC-CXR root, IU X-ray XML folder, JSONL/CSV file or .txt folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the embedded graph."),
    sample: bool = typer.Option(False, "--sample", help="Build the bundled sample corpus instead of SOURCE."),
    format: str = typer.Option("auto", "--format", "-f", help="auto, mimic, iu-xml, jsonl, csv or text."),
    images: Optional[Path] = typer.Option(None, "--images", help="Image root when images live apart from the reports."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Read at most this many records."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes for extraction and image encoding."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad record (exit 2) instead of quarantining it."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    extractor: str = typer.Option("rules", "--extractor", help="rules, transformers:<model folder> or radgraph[:model]."),
    radgraph: Optional[Path] = typer.Option(None, "--radgraph", help="Use these RadGraph annotations (JSON) instead of an extractor."),
    umls: Optional[Path] = typer.Option(None, "--umls", help="A UMLS index folder (kg umls index), or a release META folder (indexed once into the cache), instead of the bundled lexicon."),
    umls_parents: int = typer.Option(0, "--umls-parents", min=0, help="Add isa ancestors up to N levels, so sibling findings connect."),
    encoder: str = typer.Option("pixels", "--encoder", help="Image encoder: pixels[:SIZE] (offline default)."),
    naf: str = typer.Option("medmkg", "--naf", help="Neighbor-aware filtering: none, medmkg or greedy."),
    similar_k: int = typer.Option(0, "--similar-k", min=0, help="Add SIMILAR_TO edges to each image's K nearest images."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per encoder batch."),
    views: str = typer.Option("PA,AP", "--views", help="ViewPositions to keep when the metadata gives them; '' keeps all."),
    no_text: bool = typer.Option(False, "--no-text", help="Do not store report text on Report nodes."),
    one_image: bool = typer.Option(False, "--one-image-per-study", help="Keep one image per study (first of --views order)."),
    neo4j_uri: Optional[str] = typer.Option(None, "--neo4j", help="Also load the graph into Neo4j at this Bolt URI."),
    database: Optional[str] = NEO4J_OPTS["database"],
    force: bool = typer.Option(False, "--force", help="Build into a non-empty folder that holds no medkg build "
                               "(medkg still never replaces a file it did not write)."),
):
    """Build the graph from SOURCE (or --sample) into the embedded store at --out.

    A rebuild replaces only medkg's own files, and only once the new build is complete."""
    from pydantic import ValidationError

    from kg.pipeline import build as run_build
    from kg.render import console as make_console
    from kg.render import plural
    from kg.settings import BuildSettings

    if sample == (source is not None):
        raise InvalidInput("give either SOURCE or --sample", fix="e.g. `kg build --sample --out graph/`", code="E160")
    if sample:
        from kg.sample import sample_corpus

        source, format = sample_corpus(), "mimic"
    try:
        settings = BuildSettings(
            source=source, out=out, format=format, images=images, limit=limit, workers=workers, strict=strict,
            quiet=quiet, extractor=extractor, radgraph=radgraph, umls=umls, umls_parents=umls_parents, encoder=encoder, naf=naf, views=views, keep_text=not no_text,
            similar_k=similar_k, batch_size=batch_size, one_image_per_study=one_image, force=force,
        )
    except ValidationError as exc:
        raise _bad_option(exc) from None
    result = run_build(settings, warn=_warn)
    m = result.manifest
    console = make_console()
    r = m["records"]
    g = m["graph"]
    console.print(
        f"[bold green]Built[/] {out}: {plural(r['built'], 'study', 'studies')}, "
        + ", ".join(f"{n:,} {k}" for k, n in g["nodes"].items())
        + f"; {plural(sum(g['relationships'].values()), 'relationship')}; report: {out / 'report.html'}"
    )
    if result.quarantined:
        n_img = sum(1 for q in result.quarantined if q["stage"] == "image")
        _warn(f"{plural(r['quarantined'], 'record')} and {plural(n_img, 'image')} quarantined; "
              f"see {out / 'quarantine.jsonl'}")
    if neo4j_uri:
        from graph.neo4j import Neo4jGraph, load_graph

        with Neo4jGraph(_neo4j_settings(neo4j_uri, database)) as g:
            rep = load_graph(out, g)
        console.print(f"Loaded into Neo4j at {neo4j_uri}: {plural(sum(rep.nodes.values()), 'node')}, "
                      f"{plural(sum(rep.relationships.values()), 'relationship')}")
    if not quiet:
        _print_stats(console, out)


@app.command()
def stats(
    graph_dir: Path = typer.Argument(..., metavar="DIR", help="A folder written by `kg build`."),
    top: int = typer.Option(15, "--top", help="How many top concepts to list."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
):
    """Counts per label and type, polarity breakdown, NaF effect and top concepts."""
    from kg.render import console

    if json_out:
        import json

        from graph.stats import graph_stats

        typer.echo(json.dumps(graph_stats(graph_dir, top=top), indent=2))
        return
    _print_stats(console(), graph_dir, top=top)


def _print_stats(console, graph_dir: Path, top: int = 15) -> None:
    from graph.stats import graph_stats
    from kg.render import table

    s = graph_stats(graph_dir, top=top)
    console.print(table("Nodes", ["label", "count"], [[k, f"{v:,}"] for k, v in s["nodes"].items()], right=("count",)))
    console.print(table("Relationships", ["type", "count"], [[k, f"{v:,}"] for k, v in s["relationships"].items()],
                        right=("count",)))
    p = s["polarity"]
    console.print(
        f"Polarity (cross-modal edges): POSITIVE {p['POSITIVE']}, NEGATIVE {p['NEGATIVE']}, UNCERTAIN {p['UNCERTAIN']}; "
        f"merge conflicts {s['polarityConflicts']}"
    )
    n = s["naf"]
    console.print(
        f"NaF {n['method']}: images {n['before']['images']} -> {n['after']['images']}, "
        f"concepts covered {n['before']['conceptsCovered']} -> {n['after']['conceptsCovered']}"
    )
    rec = s["records"]
    console.print(f"Records: read {rec['read']} = built {rec['built']} + quarantined {rec['quarantined']}; "
                  f"images quarantined {s['images']['quarantined']}")
    cols = ["cui", "name", "POSITIVE", "NEGATIVE", "UNCERTAIN"]
    console.print(table(f"Top {top} concepts", cols, [[str(row[c]) for c in cols] for row in s["topConcepts"]],
                        right=("POSITIVE", "NEGATIVE", "UNCERTAIN"), whole=("cui",)))


@app.command()
def neighbors(
    graph_dir: Path = typer.Argument(..., metavar="DIR"),
    concept: str = typer.Argument(..., metavar="CUI_OR_NAME", help="A CUI (C0032227) or a concept name."),
    limit: int = typer.Option(20, "--limit", help="Most edges listed per relationship type."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (the concept and its edges) instead of a table."),
):
    """A concept's edges: cross-modal polarity counts and its concept relations."""
    from graph.stats import concept_neighbors
    from kg.render import console as make_console
    from kg.render import table

    info = concept_neighbors(graph_dir, concept, limit=limit)
    if json_out:
        import json

        typer.echo(json.dumps(info, indent=2, default=str))
        return
    console = make_console()
    c = info["concept"]
    console.print(f"[bold]{c['cui']}[/] {c['name']} ({c['group']}; {', '.join(c['semanticTypes'])})")
    rows = [[e["direction"], e["type"], e["other"], e.get("name", ""), _props_text(e.get("properties") or {})]
            for e in info["edges"]]
    console.print(table("Edges", ["direction", "type", "other", "name", "properties"], rows, whole=("other",)))


def _props_text(props: dict) -> str:
    """Edge properties as `name=value` pairs (lists joined by commas), readable in a table cell."""
    parts = []
    for k, v in props.items():
        v = ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
        parts.append(f"{k}={v}")
    return "; ".join(parts)


@app.command()
def export(
    graph_dir: Path = typer.Argument(..., metavar="DIR"),
    format: str = typer.Option(..., "--format", "-f", help="graphml, rdf (Turtle) or neo4j-admin (CSV for bulk import)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (folder for neo4j-admin; default: DIR/graph.graphml, DIR/graph.ttl, DIR/neo4j-import/)."),
    database: str = typer.Option("neo4j", "--database", help="neo4j-admin: the database to import into."),
):
    """Export the graph as GraphML, RDF Turtle, or CSV files for neo4j-admin import."""
    from graph.export import FORMATS, SUFFIX
    from graph.store import read_graph

    if format == "neo4j-admin":
        from graph.admin_export import command_line, export_admin

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
    neo4j: bool = typer.Option(False, "--neo4j", help="Answer through Neo4j's vector index (db.index.vector.queryNodes); NEO4J_* settings."),
    database: Optional[str] = NEO4J_OPTS["database"],
):
    """The images most similar to an image of the graph or a new image file."""
    import json

    from graph.similar import similar_images
    from kg.render import console, table

    hits = similar_images(graph_dir, image, k=k, exact=exact,
                          neo4j=_neo4j_settings(None, database) if neo4j else None)
    if json_out:
        typer.echo(json.dumps(hits, indent=2))
        return
    rows = [[str(n), h["id"], f"{h['score']:.4f}", h["studyId"] or "", str(h["kept"]), ", ".join(h["positive"][:6])]
            for n, h in enumerate(hits, 1)]
    console().print(table(f"Images similar to {image}", ["rank", "image", "score", "study", "kept", "positive concepts"],
                          rows, right=("rank", "score"), whole=("image", "study")))


@app.command("extract")
def extract_cmd(
    source: Path = typer.Argument(..., help="Any corpus `kg build` reads."),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL (one object per report); bad records go to OUT.quarantine.jsonl."),
    format: str = typer.Option("auto", "--format", "-f"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes."),
    extractor: str = typer.Option("rules", "--extractor", help="Extractor backend."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Extract sections, RadGraph entities/relations and concepts with polarity, per report."""
    from kg.core.progress import progress
    from kg.extracting import run_extract

    with progress(quiet) as track:
        c = run_extract(source, out, fmt=format, limit=limit, workers=workers, extractor=extractor,
                        advance=track("Extracting", unit="reports"))
    typer.echo(f"read {c.read} = written {c.written} + quarantined {c.quarantined}; wrote {out}")
    if c.quarantined:
        typer.secho(f"warning: {c.quarantined} record(s) quarantined", fg="yellow", err=True)


eval_app = typer.Typer(help="Score medkg against reference annotations.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("extract")
def eval_extract(
    source: Optional[Path] = typer.Argument(None, help="Reports to extract (any corpus format), with --labels."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Finding labels JSON {report: {finding: label}}."),
    finding_map: Optional[Path] = typer.Option(None, "--map", help="finding<TAB>CUI|CUI table (default: bundled)."),
    radgraph_gold: Optional[Path] = typer.Option(None, "--radgraph", help="RadGraph-format gold JSON to score entities/relations."),
    labeler: Optional[str] = typer.Option(None, "--labeler", help="labeler_1 or labeler_2 for PhysioNet gold files."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Write every disagreement (JSONL) here."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    extractor: str = typer.Option("rules", "--extractor"),
):
    """Per-finding and micro P/R/F1 per polarity (--labels), or RadGraph entity/relation F1 (--radgraph)."""
    import json

    from kg.evaluating import eval_labels, eval_radgraph

    if (labels is None) == (radgraph_gold is None):
        raise InvalidInput("give either SOURCE --labels FILE, or --radgraph GOLD", fix="see `kg eval extract --help`", code="E162")
    if labels is not None:
        if source is None:
            raise InvalidInput("--labels needs the SOURCE reports", fix="e.g. `kg eval extract reports/ --labels labels.json`", code="E163")
        result = eval_labels(source, labels, finding_map, extractor=extractor, errors=errors)
        missing = result["missingReports"]
        if missing:
            _warn(f"{len(missing):,} labelled report(s) are not in {source} and were left out of the scores "
                  f"(first: {', '.join(missing[:3])}); check that SOURCE and --labels are the same corpus")
    else:
        result = eval_radgraph(radgraph_gold, labeler=labeler, extractor=extractor)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_eval(result)


def _print_eval(result: dict) -> None:
    from rich.table import Table

    from kg.render import console as make_console

    console = make_console()
    if "micro" in result:
        t = Table(title=f"Finding labels: {result['reports']} reports")
        for col in ("finding", "polarity", "P", "R", "F1", "support"):
            t.add_column(col, justify="left" if col in ("finding", "polarity") else "right")
        for pol, s in result["micro"].items():
            t.add_row("[bold]micro[/]", pol, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["tp"] + s["fn"]))
        for f, d in result["perFinding"].items():
            s = d["positive"]
            t.add_row(f, "positive", f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["tp"] + s["fn"]))
        console.print(t)
        if result["unmappedFindings"]:
            console.print("not mapped (not scored): " + ", ".join(result["unmappedFindings"]))
    else:
        for k in ("entity", "relation"):
            s = result[k]
            console.print(f"{k} F1 {s['f1']:.3f} (P {s['precision']:.3f}, R {s['recall']:.3f}) over {result['documents']} documents")


umls_app = typer.Typer(help="Your own UMLS release as medkg's concept index.", no_args_is_help=True)
app.add_typer(umls_app, name="umls")


@umls_app.command("index")
def umls_index(
    meta: Path = typer.Argument(..., metavar="META_DIR", help="The META folder of a UMLS release (MRCONSO.RRF, MRSTY.RRF, MRREL.RRF)."),
    out: Path = typer.Option(..., "--out", "-o", help="Index folder to write."),
    lang: list[str] = typer.Option(["ENG"], "--lang", help="MRCONSO LAT values kept (repeat for several)."),
    sab: list[str] = typer.Option([], "--sab", help="Source vocabularies kept (repeat); default: all."),
    suppress: list[str] = typer.Option(["N"], "--suppress", help="MRCONSO SUPPRESS values kept; default N (not suppressible)."),
    keep_tui: list[str] = typer.Option([], "--keep-tui", help="Keep a semantic type the default filter drops (e.g. T080)."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first malformed row (exit 2)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Index a UMLS release once: concepts, names, semantic types, relations (dropping non-clinical types)."""
    from extract.umls import DROP_TUIS, build_index
    from kg.core.progress import progress

    drop = [t for t in DROP_TUIS if t not in set(keep_tui)]
    with progress(quiet) as track:
        summary = build_index(meta, out, languages=lang, suppress=suppress, sabs=sab or None, drop_tuis=drop,
                              strict=strict, advance=track("Reading MRCONSO", unit="rows"))
    c = summary["counts"]
    typer.echo(f"indexed {c['concepts']} concepts, {c['names']} names, {c['relations']} relations "
               f"from {c['mrconsoRows']} MRCONSO rows into {out}")
    bad = summary["malformed"]["counts"]
    if bad:
        typer.secho(f"warning: malformed rows skipped: {bad}; first: {summary['malformed']['examples'][:3]}",
                    fg="yellow", err=True)


@umls_app.command("link")
def umls_link(
    phrases: list[str] = typer.Argument(None, help="Phrases to map (or --file)."),
    umls: Optional[str] = typer.Option(None, "--umls", help="A UMLS index (kg umls index) or release META folder; default: the bundled lexicon."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="One phrase per line (- for standard input)."),
    label: Optional[str] = typer.Option(None, "--label", help="RadGraph label of the mentions (ANAT-DP, OBS-DP, …): prefers suitable semantic types."),
    top: int = typer.Option(1, "--top", "-k", min=1, help="Candidates per phrase."),
    json_out: bool = typer.Option(False, "--json", help="JSON lines: phrase and its candidates."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Accepted for symmetry; linking prints only results."),
):
    """Map report phrases to concepts: CUI, preferred name, semantic types, score, matched string, method."""
    import json
    import sys

    from extract.lexicon import load_concept_index
    from extract.linker import linker_for

    items = list(phrases or [])
    if file is not None:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        items += [line.strip() for line in text.splitlines() if line.strip()]
    if not items:
        raise InvalidInput("no phrases given", code="E105", fix='pass phrases as arguments or --file FILE, e.g. kg umls link "small left effusion"')
    linker = linker_for(load_concept_index(umls))
    for phrase in items:
        cands = linker.link(phrase, label, frozenset())[:top]
        if json_out:
            typer.echo(json.dumps({"phrase": phrase, "candidates": [
                {"cui": c.cui, "name": c.name, "semanticTypes": list(c.semantic_types), "score": c.score,
                 "matched": c.matched, "method": c.method} for c in cands]}))
        elif not cands:
            typer.echo(f"{phrase}\t-\t(no concept above the threshold)")
        else:
            for c in cands:
                typer.echo(f"{phrase}\t{c.cui}\t{c.name}\t{';'.join(c.semantic_types)}\t{c.score:.3f}\t{c.method}:{c.matched}")


neo4j_app = typer.Typer(help="A local Neo4j server assembled from Maven Central (no Docker needed).", no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")
HOME_OPT = typer.Option(None, "--home", help="Server folder (default: $MEDKG_NEO4J_HOME or ~/.local/share/medkg/neo4j).")


@neo4j_app.command("install")
def neo4j_install(home: Optional[Path] = HOME_OPT):
    """Assemble Neo4j 5.26 Community, its Browser and APOC core with Maven."""
    from kg.server import ServerHome, install

    h = ServerHome.resolve(home)
    install(h)
    typer.echo(f"Neo4j assembled in {h.path}")


@neo4j_app.command("start")
def neo4j_start(
    home: Optional[Path] = HOME_OPT,
    bolt_port: int = typer.Option(7687, "--bolt-port"),
    http_port: int = typer.Option(7474, "--http-port"),
    heap: str = typer.Option("1g", "--heap", help="JVM heap, e.g. 1g or 4g."),
):
    """Start the server on loopback (installing it first if needed) and wait until Bolt answers."""
    from kg.server import ServerHome, start

    h = ServerHome.resolve(home)
    uri = start(h, bolt=bolt_port, http=http_port, heap=heap)
    typer.echo(f"Neo4j is up: {uri}  (Browser: http://127.0.0.1:{h.ports()[1]}/browser/)")
    typer.echo(f"export NEO4J_URI={uri} NEO4J_USERNAME=neo4j; the password is in {h.password_file}")


@neo4j_app.command("stop")
def neo4j_stop(home: Optional[Path] = HOME_OPT):
    """Stop the server cleanly."""
    from kg.server import ServerHome, stop

    h = ServerHome.resolve(home)
    typer.echo(f"stopped ({h.path})" if stop(h) else f"not running ({h.path}; --home or MEDKG_NEO4J_HOME picks another)")


@neo4j_app.command("guide")
def neo4j_guide(port: int = typer.Option(8089, "--port")):
    """Serve the medkg Browser guide and style on loopback; then `:play http://localhost:PORT/medkg.html`."""
    from kg.server import serve_guide as serve

    typer.echo(f"In the Neo4j Browser run  :play http://localhost:{port}/medkg.html   (Ctrl-C stops)")
    serve(port)


@neo4j_app.command("status")
def neo4j_status(home: Optional[Path] = HOME_OPT):
    """Whether the server runs, where, and its URI."""
    from kg.server import ServerHome, pid_of

    h = ServerHome.resolve(home)
    pid = pid_of(h)
    state = f"running (pid {pid}) at {h.uri()}" if pid else ("stopped" if h.installed else "not installed")
    typer.echo(f"{h.path}: {state}")
    if not pid:
        raise typer.Exit(3)


@app.command()
def load(
    graph_dir: Path = typer.Argument(..., metavar="DIR"),
    uri: Optional[str] = NEO4J_OPTS["uri"],
    database: Optional[str] = NEO4J_OPTS["database"],
    batch_size: int = typer.Option(5_000, "--batch-size", min=1, help="Rows per UNWIND transaction."),
    workers: int = typer.Option(2, "--workers", min=1, help="Concurrent sessions for labels and relationship types "
                                "the database holds none of yet (those are CREATEd; the rest is MERGEd one batch at a time)."),
    no_embeddings: bool = typer.Option(False, "--no-embeddings", help="Do not load Image.embedding and its vector index."),
    schema_only: bool = typer.Option(False, "--schema-only", help="Only constraints, indexes and the vector index (after neo4j-admin import)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Load a built graph into Neo4j (idempotent, resumable). Credentials: NEO4J_USERNAME / NEO4J_PASSWORD."""
    from graph.neo4j import Neo4jGraph, load_graph
    from graph.store import read_manifest
    from kg.core.progress import progress

    m = read_manifest(graph_dir)
    total = sum(m["graph"]["nodes"].values()) + sum(m["graph"]["relationships"].values())
    with Neo4jGraph(_neo4j_settings(uri, database)) as g, progress(quiet) as track:
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
    uri: Optional[str] = NEO4J_OPTS["uri"],
    database: Optional[str] = NEO4J_OPTS["database"],
):
    """Run Cypher against Neo4j; read-only unless --write."""
    import json

    from graph.neo4j import Neo4jGraph, query

    params = {}
    for p in param:
        k, eq, v = p.partition("=")
        if not eq or not k:
            raise InvalidInput(f"bad --param {p!r}", fix="write --param name=value", code="E164")
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    with Neo4jGraph(_neo4j_settings(uri, database)) as g:
        keys, rows = query(g, cypher, params, write=write)
    if json_out:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from kg.render import console, plural, table

    cells = [[json.dumps(r[k], default=str) if not isinstance(r[k], str) else r[k] for k in keys] for r in rows]
    console().print(table(None, list(keys), cells))
    typer.echo(plural(len(rows), "row"))


@app.command("sample")
def sample_cmd(dest: Path = typer.Argument(..., help="Folder to write the bundled sample corpus to (MIMIC layout).")):
    """Write the bundled sample corpus (reports, metadata, split, rendered images) to DEST."""
    from kg.sample import write_sample

    write_sample(dest)
    typer.echo(f"wrote the sample corpus to {dest}")


@app.command("report")
def report_cmd(graph_dir: Path = typer.Argument(..., metavar="DIR", help="A folder written by `kg build`.")):
    """Render DIR/report.html again from the stored build (counts, polarity, co-occurrence, quarantine, timings)."""
    from kg.report import rerender

    typer.echo(f"wrote {rerender(graph_dir)}")


def _warn(message: str) -> None:
    """One line on stderr, never wrapped."""
    typer.secho(f"warning: {message}", fg="yellow", err=True)


# Options whose flag is not the field name with dashes.
_FLAGS = {"keep_text": "--no-text", "one_image_per_study": "--one-image-per-study", "source": "SOURCE"}


def _bad_option(exc) -> Exception:
    """A pydantic ValidationError of the build settings as the option, the value and the allowed values."""
    e = exc.errors()[0]
    name = str(e["loc"][0]) if e.get("loc") else "option"
    flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
    msg = str(e.get("msg", "")).removeprefix("Value error, ")
    what, _, fix = msg.partition("; ")
    return InvalidInput(f"bad value for {flag}: {what}" if what else f"bad value for {flag}: {e.get('input')!r}",
                        fix=fix or f"see `kg build --help` for {flag}", code="E165")


def _neo4j_settings(uri: str | None, database: str | None):
    """--neo4j URI, else $NEO4J_URI, else medkg's own local server when it runs (`kg neo4j start`)."""
    import os

    from graph.neo4j import Neo4jSettings

    if uri or os.environ.get("NEO4J_URI"):
        return Neo4jSettings.from_env(uri, database=database)
    from kg.server import ServerHome, pid_of

    home = ServerHome.resolve()
    if home.installed and pid_of(home):
        typer.secho(f"using medkg's local Neo4j at {home.uri()} ({home.path}); set NEO4J_URI to use another server",
                    err=True)
        return Neo4jSettings.from_env(home.uri(), password=home.password(), database=database)
    return Neo4jSettings.from_env(None, database=database)


def main() -> None:
    import logging

    # library code reports through the "medkg" logger; the command line shows its messages on stderr
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("medkg")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        app()
    except KGError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg="red", err=True)
        sys.exit(130)
