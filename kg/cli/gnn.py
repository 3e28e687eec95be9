"""`kg train-gnn`, `kg eval-gnn`, `kg predict`: link prediction over the graph (PyG)."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.app import app
from kg.core.errors import InvalidInput


def _need_pyg(command: str) -> None:
    from kg.core.extras import require

    require("gnn", command)


def _ratios(text: str) -> tuple[float, float, float]:
    try:
        a, b, c = (float(x) for x in text.split(","))
    except ValueError:
        raise InvalidInput(f"--split {text!r} is not three numbers", code="E1119", fix="e.g. --split 0.8,0.1,0.1") from None
    return a, b, c


@app.command("train-gnn")
def train_gnn_cmd(
    graph_dir: Path = typer.Argument(..., metavar="DIR", help="A build folder (kg build or kg import)."),
    model: str = typer.Option("rgcn", "--model", help="rgcn, compgcn, transe, distmult, complex or rotate."),
    dim: int = typer.Option(64, "--dim"),
    epochs: int = typer.Option(200, "--epochs", min=1),
    lr: float = typer.Option(0.01, "--lr"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Positive triples per step (default 4096 R-GCN, 1024 KGE)."),
    decoder: str = typer.Option("distmult", "--decoder", help="R-GCN decoder: distmult or complex."),
    composition: str = typer.Option("mult", "--composition", help="CompGCN: mult, sub or corr."),
    decomposition: str = typer.Option("basis", "--decomposition", help="R-GCN weights: basis or block."),
    bases: int = typer.Option(8, "--bases", help="Bases (or blocks) of the R-GCN decomposition."),
    layers: int = typer.Option(2, "--layers", min=1, max=4),
    split: str = typer.Option("0.8,0.1,0.1", "--split", help="Train, valid, test shares of the edges."),
    split_seed: int = typer.Option(0, "--split-seed"),
    seed: int = typer.Option(0, "--seed"),
    eval_every: int = typer.Option(5, "--eval-every", min=1),
    patience: int = typer.Option(
        5, "--patience", min=1,
        help="Stop after this many evaluations (every --eval-every epochs) without progress: a validation MRR at "
             "least --min-gain above the last progress."
    ),
    min_gain: float = typer.Option(
        0.01, "--min-gain", min=0.0,
        help="The relative gain in validation MRR that counts as progress (0.01: 1%, PyKEEN's default)."
    ),
    batch_mode: str = typer.Option(
        "auto", "--batch-mode",
        help="R-GCN: auto (full batch when it fits in memory), full, or neighbor (sampled mini-batches)."
    ),
    neighbors: int = typer.Option(10, "--neighbors", help="Neighbour mini-batches: edges sampled per node and layer (-1: all)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda."),
    precision: str = typer.Option("auto", "--precision", help="auto (bf16 on CUDA), fp32 or bf16."),
    resume: bool = typer.Option(False, "--resume", help="Continue from DIR/gnn/MODEL/checkpoint.pt."),
    no_write: bool = typer.Option(False, "--no-write", help="Do not write gnnEmbedding to the store."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train a link-prediction model; write its node embeddings to the store as gnnEmbedding."""
    _need_pyg("kg train-gnn")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from graph.gnn.models import ModelConfig
    from graph.gnn.runs import train_store
    from graph.gnn.train import TrainConfig
    from graph.store import FileStore
    from kg.cli.render import console

    mcfg = ModelConfig(model=model, dim=dim, layers=layers, decomposition=decomposition, num_bases=bases, decoder=decoder,
                       composition=composition)
    mcfg.check()
    ratios = _ratios(split)
    FileStore(graph_dir)  # not a build folder: said before the progress bar starts
    tcfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, eval_every=eval_every, patience=patience,
                       min_gain=min_gain, seed=seed, device=device, precision=precision, batch_mode=batch_mode,
                       neighbors=neighbors)
    err = console(stderr=True)
    # the time left is for every epoch; early stopping (--patience) may end it sooner, which the bar says
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("at most"), TimeRemainingColumn(), TextColumn("left"), console=err, disable=quiet)
    state = {"mrr": None}

    def started(info: dict) -> None:
        g, s = info["graph"], info["split"]
        if not quiet:
            err.print(f"{model}: {g['entities']:,} entities, {g['relations']} relations, {g['triples']:,} triples; "
                      f"split {s['train']:,}/{s['valid']:,}/{s['test']:,} (seed {s['seed']}, "
                      f"{len(s['inversePairs'])} inverse relation pairs kept together)")
            b = info["batch"]
            if b["mode"] != "triples":
                err.print(f"batch mode: {b['mode']} ({b['why']})")

    with bar:
        task = bar.add_task(f"training {model}", total=epochs)

        def epoch(row: dict) -> None:
            if "validMrr" in row:
                state["mrr"], state["stalled"] = row["validMrr"], row.get("stalled", 0)
            mrr = (f", valid MRR {state['mrr']:.4f} ({state['stalled']}/{patience} evaluations without progress)"
                   if state["mrr"] is not None else "")
            bar.update(task, completed=row["epoch"], description=f"{model} loss {row['loss']:.4f}{mrr}")

        rec = train_store(graph_dir, model_cfg=mcfg, train_cfg=tcfg, ratios=ratios, split_seed=split_seed,
                          resume=resume, write=not no_write, on_epoch=epoch, on_start=started)
    t = rec["test"]
    typer.echo(f"{model} on {rec['device']} ({rec['precision']}, {rec['batchMode']}): best epoch {rec['bestEpoch']}, "
               f"{rec['epochSeconds']:.2f} s/epoch. Test, filtered: tail MRR {t['filtered']['tail']['mrr']:.4f}, "
               f"Hits@10 {t['filtered']['tail']['hits@10']:.4f}; head MRR {t['filtered']['head']['mrr']:.4f}. "
               f"Raw tail MRR {t['raw']['tail']['mrr']:.4f}, Hits@10 {t['raw']['tail']['hits@10']:.4f}")
    if not no_write:
        typer.echo(f"wrote Concept.gnnEmbedding and Image.gnnEmbedding ({rec['embeddings']['dim']} dims) to {graph_dir}")


@app.command("eval-gnn")
def eval_gnn_cmd(
    graph_dir: Path = typer.Argument(..., metavar="DIR"),
    json_out: bool = typer.Option(False, "--json", help="A list of rows {model, filtered, raw} on stdout."),
):
    """Every trained model of the store side by side: filtered and raw MRR, Hits@1/3/10 for head and tail."""
    import json

    from graph.gnn.runs import eval_rows
    from kg.cli.render import console, table

    rows = eval_rows(graph_dir)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    cols = ["model"] + [f"{kind} {side} {m}" for kind in ("filtered", "raw") for side in ("tail", "head")
                        for m in ("mrr", "hits@10")]
    body = [[r["model"]] + [f"{r[kind][side][m]:.4f}" for kind in ("filtered", "raw") for side in ("tail", "head")
                            for m in ("mrr", "hits@10")] for r in rows]
    console().print(table("Link prediction (test split)", cols, body, right=tuple(cols[1:]), whole=("model",)))


@app.command("predict")
def predict_cmd(
    graph_dir: Path = typer.Argument(..., metavar="DIR"),
    head: str = typer.Option(..., "--head", help="A CUI or an image id."),
    relation: str = typer.Option(..., "--relation", help="A relationship type, e.g. ISA or POSITIVE."),
    k: int = typer.Option(10, "-k"),
    model: str | None = typer.Option(None, "--model", help="Default: the model whose embeddings the store holds."),
    json_out: bool = typer.Option(False, "--json"),
):
    """Rank tails for (HEAD, RELATION, ?) with a trained model; edges the graph already has are marked."""
    _need_pyg("kg predict")
    import json

    from graph.gnn.runs import predict
    from kg.cli.render import console, table

    r = predict(graph_dir, head, relation, k=k, model=model)
    if json_out:
        typer.echo(json.dumps(r, indent=2))
        return
    rows = [[str(t["rank"]), t["key"], t["name"], f"{t['score']:.4f}", "yes" if t["known"] else ""] for t in r["tails"]]
    console().print(table(f"({r['head']['name']}, {r['relation']}, ?) by {r['model']}",
                          ["rank", "key", "name", "score", "in graph"], rows, right=("rank", "score"), whole=("key",)))
