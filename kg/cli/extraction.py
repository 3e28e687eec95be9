"""`kg extract` and `kg eval extract`."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.app import OLD_ENGINE_OPTION, app, engine_choice, require_for
from kg.cli.render import print_eval, warn
from kg.core.errors import InvalidInput


@app.command("extract")
def extract_cmd(
    source: Path = typer.Argument(..., help="Any corpus `kg build` reads."),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL (one object per report); bad records go to OUT.quarantine.jsonl."),
    format: str = typer.Option("auto", "--format", "-f"),
    limit: int | None = typer.Option(None, "--limit", min=1),
    workers: int | None = typer.Option(
        None, "--workers", min=1,
        help="Processes (default 1; with --engine ray, every CPU of this machine)."
    ),
    engine: str | None = typer.Option(
        None, "--engine",
        help="local, processes, or ray[:ADDRESS] (default: processes when --workers > 1)."
    ),
    executor: str | None = OLD_ENGINE_OPTION,
    ray_address: str | None = typer.Option(
        None, "--ray-address",
        help="Join this Ray cluster (auto, HOST:6379 or ray://HOST:10001); implies --engine ray."
    ),
    gpus_per_actor: float | None = typer.Option(
        None, "--gpus-per-actor", min=0,
        help="Ray engine: GPUs per extractor actor (default: 1 when the cluster has GPUs and the extractor is a "
             "model, else 0)."
    ),
    extractor: str = typer.Option("rules", "--extractor", help="Extractor backend."),
    umls: Path | None = typer.Option(
        None, "--umls",
        help="A UMLS index folder or release META folder (or a lexicon .tsv) instead of the bundled lexicon."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Extract sections, RadGraph entities/relations and concepts with polarity, per report."""
    engine = engine_choice(engine, executor)
    require_for(extractor=extractor, engine=engine, ray_address=ray_address)
    from kg.core.progress import progress
    from kg.extracting import run_extract

    with progress(quiet) as track:
        advance = track("Extracting", unit="reports")
        c = run_extract(source, out, fmt=format, limit=limit, workers=workers, extractor=extractor, umls=umls, engine=engine,
                        ray_address=ray_address, gpus_per_actor=gpus_per_actor, advance=advance)
        advance.done()
    typer.echo(f"read {c.read} = written {c.written} + quarantined {c.quarantined}; wrote {out}")
    if c.quarantined:
        typer.secho(f"warning: {c.quarantined} record(s) quarantined", fg="yellow", err=True)


eval_app = typer.Typer(help="Score medkg against reference annotations.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("extract")
def eval_extract(
    source: Path | None = typer.Argument(None, help="Reports to extract (any corpus format), with --labels."),
    labels: Path | None = typer.Option(None, "--labels", help="Finding labels JSON {report: {finding: label}}."),
    finding_map: Path | None = typer.Option(None, "--map", help="finding<TAB>CUI|CUI table (default: bundled)."),
    radgraph_gold: Path | None = typer.Option(None, "--radgraph", help="RadGraph-format gold JSON to score entities/relations."),
    labeler: str | None = typer.Option(None, "--labeler", help="labeler_1 or labeler_2 for PhysioNet gold files."),
    errors: Path | None = typer.Option(None, "--errors", help="Write every disagreement (JSONL) here."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    extractor: str = typer.Option("rules", "--extractor"),
    umls: Path | None = typer.Option(
        None, "--umls",
        help="A UMLS index folder or release META folder (or a lexicon .tsv) instead of the bundled lexicon."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes."),
):
    """Per-finding and micro P/R/F1 per polarity (--labels), or RadGraph entity/relation F1 (--radgraph)."""
    import json

    require_for(extractor=extractor)

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
    elif radgraph_gold is not None:
        result = eval_radgraph(radgraph_gold, labeler=labeler, extractor=extractor, umls=umls)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    print_eval(result)


@app.command("label")
def label_cmd(
    source: Path = typer.Argument(..., help="Any corpus `kg build` reads."),
    schema: str = typer.Option(
        ..., "--schema",
        help="chexpert (the CheXpert labeler's 14 observations) or chestxray14 (NegBio's 14 findings)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The CSV to write, in the schema's layout."),
    uncertain: str | None = typer.Option(
        None, "--uncertain",
        help="ones, zeros or keep (-1): what an uncertain finding becomes (default: keep for chexpert, zeros for "
             "chestxray14)."
    ),
    probable: str = typer.Option(
        "positive", "--probable",
        help="positive or uncertain: what a probable finding ('likely', 'consistent with') becomes."
    ),
    differential: str | None = typer.Option(
        None, "--differential",
        help="positive or uncertain: a finding named as one side of a differential ('atelectasis or pneumonia'); "
             "default uncertain for chexpert, positive for chestxray14."
    ),
    finding_map: Path | None = typer.Option(
        None, "--map",
        help="schema<TAB>label<TAB>CUI|CUI table (default: bundled extract/data/label_map.tsv)."
    ),
    ids: bool = typer.Option(False, "--ids", help="chexpert: key rows by report id (column 'id') instead of the report text."),
    format: str = typer.Option("auto", "--format", "-f"),
    limit: int | None = typer.Option(None, "--limit", min=1),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes."),
    extractor: str = typer.Option("rules", "--extractor", help="Extractor backend."),
    umls: Path | None = typer.Option(
        None, "--umls",
        help="A UMLS index folder or release META folder (or a lexicon .tsv) instead of the bundled lexicon."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Finding labels per report (1 present / 0 absent / -1 uncertain / blank), as the CheXpert labeler or NegBio write them."""
    require_for(extractor=extractor)
    from extract.labels import LabelPolicy, check_schema, default_policy, load_label_map
    from kg.core.progress import progress
    from kg.labeling import run_label

    check_schema(schema)
    load_label_map(schema, finding_map)  # a bad table is said before the progress bar starts
    default = default_policy(schema)
    policy = LabelPolicy(uncertain=uncertain or default.uncertain, probable=probable,
                         differential=differential or default.differential)
    policy.check()
    with progress(quiet) as track:
        c = run_label(source, out, schema=schema, policy=policy, map_path=finding_map, ids=ids, fmt=format,
                      limit=limit, workers=workers, extractor=extractor, umls=umls,
                      advance=track("Labelling", unit="reports"))
    typer.echo(f"labelled {c.labelled:,} of {c.read:,} reports ({schema}, uncertain -> {policy.uncertain}, "
               f"probable -> {policy.probable}, differential -> {policy.differential}); wrote {out}")
    if c.quarantined:
        warn(f"{c.quarantined} record(s) quarantined in {out.name}.quarantine.jsonl")


@eval_app.command("labels")
def eval_labels_cmd(
    pred: Path = typer.Argument(..., help="Predicted labels CSV (kg label, the CheXpert labeler, NegBio)."),
    gold: Path = typer.Argument(..., help="Gold labels CSV in the same layout; rows joined on the first column."),
    uncertain_as: str = typer.Option("negative", "--uncertain-as", help="How -1 counts on either side: negative or positive."),
    exclude: str = typer.Option(
        "", "--exclude",
        help="Labels to leave out, comma-separated (e.g. Hernia, which the Open-i NegBio gold never marks)."
    ),
    errors: Path | None = typer.Option(None, "--errors", help="Write every disagreement (JSONL) here."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Per-label and micro precision / recall / F1 of present labels, PRED against GOLD."""
    import json

    from extract.labels import score_label_csvs
    from kg.cli.render import console, table

    if uncertain_as not in ("negative", "positive"):
        raise InvalidInput(f"unknown --uncertain-as {uncertain_as!r}", code="E1134", fix="use negative or positive")
    ev = score_label_csvs(pred, gold, uncertain_as=uncertain_as,
                          exclude=frozenset(x.strip() for x in exclude.split(",") if x.strip()))
    if ev.reports == 0:
        raise InvalidInput(f"no report of {gold} is in {pred}", code="E1135",
                           fix="label the same reports, keyed the same way (kg label --ids for report ids)")
    if errors is not None:
        errors.write_text("".join(json.dumps(e) + "\n" for e in ev.errors), encoding="utf-8")
    result = ev.as_dict()
    if ev.missing:
        warn(f"{len(ev.missing):,} gold report(s) have no prediction and were left out (first: {', '.join(ev.missing[:3])})")
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    rows = [[k, str(v["tp"]), str(v["fp"]), str(v["fn"]), f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}"]
            for k, v in [*result["perLabel"].items(), ("micro", result["micro"])]]
    console().print(table(f"{ev.reports:,} reports", ["label", "TP", "FP", "FN", "P", "R", "F1"], rows,
                          right=("TP", "FP", "FN", "P", "R", "F1")))


@app.command("train-extractor")
def train_extractor_cmd(
    gold: Path = typer.Argument(..., help="RadGraph annotations (RadGraph JSON, or the radgraph package's RadGraph-XL output)."),
    base: Path = typer.Option(..., "--base", help="A local Hugging Face encoder folder (model + fast tokenizer) to fine-tune."),
    out: Path = typer.Option(..., "--out", "-o", help="The folder to write the tagger to (read by --extractor transformers:DIR)."),
    epochs: int = typer.Option(3, "--epochs", min=1),
    lr: float = typer.Option(5e-5, "--lr"),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    max_length: int = typer.Option(256, "--max-length", min=8),
    valid_share: float = typer.Option(0.1, "--valid-share", help="Share of documents held out and scored (entity F1) before and after."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Fine-tune a local token-classification model on RadGraph entities for the transformers extractor."""
    from kg.core.extras import require

    require("nlp", "kg train-extractor")
    from extract.train_extractor import TrainSettings, train_extractor

    settings = TrainSettings(epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length,
                             valid_share=valid_share, seed=seed, device=device)

    def epoch(row: dict) -> None:
        if not quiet:
            typer.echo(f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}", err=True)

    rec = train_extractor(gold, base, out, settings, on_epoch=epoch)
    v = rec["validEntityF1"]
    if v["after"] is not None:
        typer.echo(f"held-out entity F1 ({v['after']['documents']} documents): {v['before']['f1']:.3f} before, "
                   f"{v['after']['f1']:.3f} after; wrote {out} (use --extractor transformers:{out})")
    else:
        typer.echo(f"wrote {out} (use --extractor transformers:{out})")
