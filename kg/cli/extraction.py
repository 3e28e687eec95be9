"""`kg extract` and `kg eval extract`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kg.cli.app import app
from kg.cli.render import print_eval, warn
from kg.core.errors import InvalidInput


@app.command("extract")
def extract_cmd(
    source: Path = typer.Argument(..., help="Any corpus `kg build` reads."),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL (one object per report); bad records go to OUT.quarantine.jsonl."),
    format: str = typer.Option("auto", "--format", "-f"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local or processes (default: processes when --workers > 1)."),
    extractor: str = typer.Option("rules", "--extractor", help="Extractor backend."),
    umls: Optional[Path] = typer.Option(None, "--umls", help="A UMLS index folder or release META folder (or a lexicon .tsv) instead of the bundled lexicon."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Extract sections, RadGraph entities/relations and concepts with polarity, per report."""
    from kg.core.progress import progress
    from kg.extracting import run_extract

    with progress(quiet) as track:
        c = run_extract(source, out, fmt=format, limit=limit, workers=workers, extractor=extractor, umls=umls, executor=executor,
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
    umls: Optional[Path] = typer.Option(None, "--umls", help="A UMLS index folder or release META folder (or a lexicon .tsv) instead of the bundled lexicon."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes."),
):
    """Per-finding and micro P/R/F1 per polarity (--labels), or RadGraph entity/relation F1 (--radgraph)."""
    import json

    from kg.evaluating import eval_labels, eval_radgraph

    if (labels is None) == (radgraph_gold is None):
        raise InvalidInput("give either SOURCE --labels FILE, or --radgraph GOLD", fix="see `kg eval extract --help`", code="E162")
    if labels is not None:
        if source is None:
            raise InvalidInput("--labels needs the SOURCE reports", fix="e.g. `kg eval extract reports/ --labels labels.json`", code="E163")
        result = eval_labels(source, labels, finding_map, extractor=extractor, umls=umls, errors=errors, workers=workers)
        missing = result["missingReports"]
        if missing:
            warn(f"{len(missing):,} labelled report(s) are not in {source} and were left out of the scores "
                  f"(first: {', '.join(missing[:3])}); check that SOURCE and --labels are the same corpus")
    else:
        result = eval_radgraph(radgraph_gold, labeler=labeler, extractor=extractor, umls=umls)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    print_eval(result)
