"""`kg build`, `kg sample`, `kg report`."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.app import NEO4J_OPTS, OLD_ENGINE_OPTION, app, engine_choice, require_for
from kg.cli.connect import neo4j_settings
from kg.cli.render import note, print_stats, warn
from kg.core.errors import InvalidInput


@app.command()
def build(
    source: Path | None = typer.Argument(None, help="Corpus: MIMIC-CXR root, IU X-ray XML folder, JSONL/CSV file or .txt folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the embedded graph."),
    sample: bool = typer.Option(False, "--sample", help="Build the bundled sample corpus instead of SOURCE."),
    format: str = typer.Option("auto", "--format", "-f", help="auto, mimic, iu-xml, jsonl, csv or text."),
    images: str | None = typer.Option(
        None, "--images",
        help="Image root when images live apart from the reports: a folder, or a URL fsspec reads "
             "(s3://bucket/mimic-cxr-jpg/2.0.0; pip install 'medkg[remote]' s3fs)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Read at most this many records."),
    workers: int | None = typer.Option(
        None, "--workers", min=1,
        help="Processes for extraction and image encoding (default 1; with --engine ray, the local Ray instance's "
             "CPUs: every CPU of this machine)."
    ),
    engine: str | None = typer.Option(
        None, "--engine",
        help="How the per-study step and the image stage run: local, processes, or ray (Ray Data: a local instance "
             "with --workers CPUs, or the cluster at --ray-address) (default: processes when --workers > 1)."
    ),
    executor: str | None = OLD_ENGINE_OPTION,
    ray_address: str | None = typer.Option(
        None, "--ray-address",
        help="Join this Ray cluster (auto, or ray://HOST:10001) and run on it; implies --engine ray."
    ),
    encode_actors: int | None = typer.Option(
        None, "--encode-actors", min=1,
        help="Ray engine: image encoder actors (default: one per GPU of the cluster, else half its CPUs)."
    ),
    gpus_per_actor: float | None = typer.Option(
        None, "--gpus-per-actor", min=0,
        help="Ray engine: GPUs per encoder actor (default: 1 when the cluster has GPUs and the encoder is a model, "
             "else 0)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad record (exit 2) instead of quarantining it."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    extractor: str = typer.Option("rules", "--extractor", help="rules, transformers:<model folder> or radgraph[:model]."),
    radgraph: Path | None = typer.Option(None, "--radgraph", help="Use these RadGraph annotations (JSON) instead of an extractor."),
    umls: Path | None = typer.Option(
        None, "--umls",
        help="A UMLS index folder (kg umls index), or a release META folder (indexed once into the cache), instead "
             "of the bundled lexicon."
    ),
    umls_parents: int = typer.Option(0, "--umls-parents", min=0, help="Add isa ancestors up to N levels, so sibling findings connect."),
    encoder: str = typer.Option("pixels", "--encoder", help="Image encoder: pixels[:SIZE] (offline default)."),
    naf: str = typer.Option("medmkg", "--naf", help="Neighbor-aware filtering: none, medmkg or greedy."),
    similar_k: int = typer.Option(0, "--similar-k", min=0, help="Add SIMILAR_TO edges to each image's K nearest images."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per encoder batch."),
    views: str = typer.Option("PA,AP", "--views", help="ViewPositions to keep when the metadata gives them; '' keeps all."),
    no_text: bool = typer.Option(False, "--no-text", help="Do not store report text on Report nodes."),
    one_image: bool = typer.Option(False, "--one-image-per-study", help="Keep one image per study (first of --views order)."),
    neo4j_uri: str | None = typer.Option(None, "--neo4j", help="Also load the graph into Neo4j at this Bolt URI."),
    database: str | None = NEO4J_OPTS["database"],
    force: bool = typer.Option(False, "--force", help="Build into a non-empty folder that holds no medkg build "
                               "(medkg still never replaces a file it did not write)."),
):
    """Build the graph from SOURCE (or --sample) into the embedded store at --out.

    A rebuild replaces only medkg's own files, and only once the new build is complete."""
    from pydantic import ValidationError

    from kg.build_options import BuildSettings
    from kg.cli.render import console as make_console
    from kg.cli.render import plural
    from kg.pipeline import build as run_build

    if sample == (source is not None):
        raise InvalidInput("give either SOURCE or --sample", fix="e.g. `kg build --sample --out graph/`", code="E160")
    engine = engine_choice(engine, executor)
    require_for(extractor=extractor, encoder=encoder, engine=engine, ray_address=ray_address, images=images,
                neo4j=neo4j_uri)
    if sample:
        from kg.sample import sample_corpus

        source, format = sample_corpus(), "mimic"
    try:
        settings = BuildSettings(
            source=source, out=out, format=format, images=images, limit=limit, workers=workers, strict=strict,
            quiet=quiet, extractor=extractor, radgraph=radgraph, umls=umls, umls_parents=umls_parents, encoder=encoder,
            naf=naf, views=views, keep_text=not no_text,
            similar_k=similar_k, batch_size=batch_size, one_image_per_study=one_image, force=force, engine=engine,
            ray_address=ray_address, encode_actors=encode_actors, gpus_per_actor=gpus_per_actor,
        )
    except ValidationError as exc:
        raise bad_option(exc) from None
    result = run_build(settings, warn=warn, info=(lambda m: None) if quiet else note)
    m = result.manifest
    console = make_console()
    r = m.records
    g = m.graph
    console.print(
        f"[bold green]Built[/] {out}: {plural(r.built, 'study', 'studies')}, "
        + ", ".join(f"{n:,} {k}" for k, n in g.nodes.items())
        + f"; {plural(sum(g.relationships.values()), 'relationship')}; report: {out / 'report.html'}"
    )
    if result.quarantined:
        n_img = sum(1 for q in result.quarantined if q["stage"] == "image")
        warn(f"{plural(r.quarantined, 'record')} and {plural(n_img, 'image')} quarantined; "
              f"see {out / 'quarantine.jsonl'}")
    if neo4j_uri:
        from graph.neo4j import Neo4jClient, load_graph

        with Neo4jClient(neo4j_settings(neo4j_uri, database)) as client:
            rep = load_graph(out, client)
        console.print(f"Loaded into Neo4j at {neo4j_uri}: {plural(sum(rep.nodes.values()), 'node')}, "
                      f"{plural(sum(rep.relationships.values()), 'relationship')}")
    if not quiet:
        print_stats(console, out)



@app.command("sample")
def sample_cmd(
    dest: Path = typer.Argument(..., help="An empty (or new) folder to write the corpus to (MIMIC layout)."),
    studies: int | None = typer.Option(None, "--studies", min=1, max=10_000_000, help="Generate a larger corpus "
                                          "of N studies from the sample's reports (three studies per patient)."),
    images: bool = typer.Option(False, "--images", help="With --studies: each study gets its sample images."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Write the bundled sample corpus (reports, metadata, split, rendered images) to DEST, or with --studies N a
    larger generated one to try builds, engines and the service on."""
    from kg.core.errors import Conflict
    from kg.core.progress import progress
    from kg.sample import generate_corpus, write_sample

    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} is {'not empty' if dest.is_dir() else 'a file'}", code="E306", where=str(dest),
                       fix="write the corpus to a new or empty folder (kg sample never writes over your files)")
    if images and studies is None:
        raise InvalidInput("--images goes with --studies (the bundled sample always has its images)", code="E1150",
                           fix="add --studies N, or leave --images out")
    if studies is None:
        write_sample(dest)
        typer.echo(f"wrote the sample corpus to {dest}")
        return
    with progress(quiet) as track:
        generate_corpus(dest, studies, images=images, metadata=True,
                        progress=track("Writing studies", total=studies, unit="studies"))
    typer.echo(f"wrote {studies:,} studies ({(studies + 2) // 3:,} patients{', with images' if images else ''}) to "
               f"{dest}; build it with `kg build {dest} --out GRAPH`")


@app.command("report")
def report_cmd(graph_dir: Path = typer.Argument(..., metavar="DIR", help="A folder written by `kg build`.")):
    """Render DIR/report.html again from the stored build (counts, polarity, co-occurrence, quarantine, timings)."""
    from kg.report import rerender

    typer.echo(f"wrote {rerender(graph_dir)}")


# Options whose flag is not the field name with dashes.
_FLAGS = {"keep_text": "--no-text", "one_image_per_study": "--one-image-per-study", "source": "SOURCE"}


def bad_option(exc) -> Exception:
    """A pydantic ValidationError of the build settings as the option, the value and the allowed values."""
    e = exc.errors()[0]
    name = str(e["loc"][0]) if e.get("loc") else "option"
    flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
    msg = str(e.get("msg", "")).removeprefix("Value error, ")
    what, _, fix = msg.partition("; ")
    return InvalidInput(f"bad value for {flag}: {what}" if what else f"bad value for {flag}: {e.get('input')!r}",
                        fix=fix or f"see `kg build --help` for {flag}", code="E165")
