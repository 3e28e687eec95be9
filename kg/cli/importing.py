"""`kg import medmkg`: a published graph brought in as a medkg build folder (kg.importing)."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.app import app

import_app = typer.Typer(help="Bring a published graph in as a medkg build folder.", no_args_is_help=True)
app.add_typer(import_app, name="import")



@import_app.command("medmkg")
def import_medmkg_cmd(
    source: Path = typer.Argument(..., metavar="MedMKG.csv", help="Head, Relation, Tail, Head_Name, Tail_Name."),
    images: Path | None = typer.Option(None, "--images", help="image_mapping.csv (IID, Image_Path)."),
    out: Path = typer.Option(..., "--out", "-o", help="The folder to write (as `kg build` does)."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder that is not a medkg build."),
):
    """Import the MedMKG graph: images, concepts, their POSITIVE/NEGATIVE/UNCERTAIN edges and UMLS relations."""
    from kg.cli.render import plural, warn
    from kg.importing import import_medmkg

    r = import_medmkg(source, out, images=images, force=force)
    counts = r.manifest.graph
    typer.echo(f"imported {plural(r.manifest.records.built, 'triple')} into {out}: "
               + ", ".join(f"{v:,} {k}" for k, v in counts.nodes.items()) + f"; {len(counts.relationships)} relationship types")
    if r.quarantined:
        warn(f"{plural(len(r.quarantined), 'row')} quarantined (see {out / 'quarantine.jsonl'}), e.g. "
             f"{r.quarantined[0]['record']}: {r.quarantined[0]['reason']}")
