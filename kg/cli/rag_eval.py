"""`kg eval rag`: what the graph's context changes in a model's answers (kg.rag_eval)."""

from __future__ import annotations

from pathlib import Path

import typer

from kg.cli.extraction import eval_app


@eval_app.command("rag")
def eval_rag_cmd(
    graph_dir: Path = typer.Argument(..., metavar="DIR", help="A folder written by `kg build` (with report text)."),
    model: str = typer.Option(..., "--model", help="retrieval-only, prior, openai:URL@MODEL or a local model folder."),
    split: str = typer.Option("test", "--split", help="test, validate, train or all."),
    task: str = typer.Option("report", "--task", help="report (generation, clinical efficacy) or vqa (closed questions)."),
    contexts: str | None = typer.Option(
        None, "--contexts", help="Context settings to compare: none, fixed:K, ratio:G, auto, comma-separated (default: "
                                 "none,fixed:7,ratio:1.5,auto; auto only on a graph kg calibrate calibrated)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="The first N images of the split."),
    prompt_format: str = typer.Option("findings", "--format", help="The prompt format the context is written in."),
    seed: int = typer.Option(0, "--seed", help="Seeds the VQA balancing and the bootstrap."),
    cache: Path | None = typer.Option(None, "--cache", help="Answer cache (JSONL; default: in medkg's cache folder)."),
    key_env: str | None = typer.Option(None, "--key-env", metavar="VAR", help="The variable holding the endpoint's key."),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1, help="At most this many tokens per answer."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64,
                                    help="An endpoint's requests in flight at once (a local model asks one at a time)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    html: Path | None = typer.Option(None, "--html", help="Also write the result as a page with its charts."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Ask a model about each image of a split with and without the graph's context; score against the image's own
    report (clinical efficacy or closed-VQA accuracy) with paired bootstrap 95% intervals for every difference."""
    import json

    from kg.core.environment import one_blas_thread

    one_blas_thread()  # before numpy loads
    from kg.cli.render import print_eval_rag
    from kg.core.extras import require
    from kg.core.progress import progress

    if model.startswith("openai:"):  # before any work: the extra a model needs
        require("api", f"kg eval rag --model {model}")
    elif Path(model).is_dir():
        require("nlp", "kg eval rag --model FOLDER")
    from kg.rag_eval import EvalRun, evaluate

    run = EvalRun(graph_dir, model, split=split, task=task, contexts=contexts, limit=limit, seed=seed, cache=cache,
                  key_env=key_env, max_tokens=max_tokens, format=prompt_format, concurrency=concurrency)
    if html is not None and html.exists():  # before any work: a file there that medkg did not write stays
        from kg.rag_eval.page import check_page

        check_page(html)
    with progress(quiet or json_out) as track:
        result = evaluate(run, track=track)
    if html is not None:
        from kg.rag_eval.page import write_page

        write_page(result, html)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    print_eval_rag(result)
