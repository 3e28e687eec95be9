"""`kg calibrate`: choose k for KG-RAG with a guarantee (RULE's Learn-then-Test calibration)."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.app import app


@app.command("calibrate")
def calibrate_cmd(
    graph_dir: Path = typer.Argument(..., metavar="DIR", help="A folder written by `kg build`."),
    alpha: float = typer.Option(0.1, "--alpha", help="The factuality risk to stay under."),
    delta: float = typer.Option(0.05, "--delta", help="The chance the guarantee fails."),
    split: str = typer.Option("validate", "--split", help="Studies whose images are the calibration cases (or all)."),
    max_k: int = typer.Option(20, "--max-k", min=1, max=200, help="Candidate k are 1..max-k."),
    method: str = typer.Option("bonferroni", "--method",
                               help="bonferroni, or fixed-sequence: k tested from --max-k down, stopping at the first "
                                    "that fails (more neighbours vote single reports' mistakes down)."),
    check: int = typer.Option(0, "--check", min=0, max=10_000, metavar="SPLITS",
                              help="Also halve the cases at random SPLITS times, calibrate on one half and report how "
                                   "often the chosen k's risk on the other half is above --alpha."),
    json_out: bool = typer.Option(False, "--json"),
):
    """Pick k so that every accepted k keeps the factuality risk under --alpha with probability 1 - --delta;
    stores it in the build, where `k="auto"` (plugin, service) uses it."""
    import json

    from graph.retrieve.calibrate import calibrate, calibration_cases, case_losses, holdout_check
    from graph.stores import open_store

    files = open_store(graph_dir).files
    ks = list(range(1, max_k + 1))
    losses = case_losses(files, calibration_cases(files, split), ks)
    order = ks[::-1]  # fixed-sequence: an order fixed before the data is seen
    cal = calibrate(losses, alpha=alpha, delta=delta, method=method, order=order)
    held = holdout_check(losses, alpha=alpha, delta=delta, method=method, order=order, splits=check) if check else None
    record = cal.as_json() | ({"check": held.as_json()} if held else {})
    files.write_calibration(record | {"split": split})
    if json_out:
        typer.echo(json.dumps(record, indent=2))
        return
    typer.echo(f"{cal.n} calibration cases ({split}); empirical risk by k: "
               + ", ".join(f"{k}: {r:.3f}" for k, r in cal.risks.items()))
    typer.echo(cal.guarantee)
    if held:
        typer.echo(held.summary)
