"""`kg umls index` and `kg umls link`: the user's own UMLS release."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.app import app
from kg.core.errors import InvalidInput

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
    umls: str | None = typer.Option(
        None, "--umls",
        help="A UMLS index (kg umls index) or release META folder; default: the bundled lexicon."
    ),
    file: Path | None = typer.Option(None, "--file", "-f", help="One phrase per line (- for standard input)."),
    label: str | None = typer.Option(
        None, "--label",
        help="RadGraph label of the mentions (ANAT-DP, OBS-DP, …): prefers suitable semantic types."
    ),
    top: int = typer.Option(1, "--top", "-k", min=1, help="Candidates per phrase."),
    json_out: bool = typer.Option(False, "--json", help="JSON lines: phrase and its candidates."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Accepted for symmetry; linking prints only results."),
):
    """Map report phrases to concepts: CUI, preferred name, semantic types, score, matched string, method."""
    import json
    import sys

    from extract.linker import linker_for
    from extract.loading import load_concept_index

    items = list(phrases or [])
    if file is not None:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        items += [line.strip() for line in text.splitlines() if line.strip()]
    if not items:
        raise InvalidInput("no phrases given", code="E105",
                           fix='pass phrases as arguments or --file FILE, e.g. kg umls link "small left effusion"')
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
