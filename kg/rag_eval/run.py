"""`kg eval rag`: what the graph's context changes in a model's answers, per context setting, with intervals.

For each image of the split (the leakage guard on: its context never comes from its own study or patient) the
model is asked with each context setting and scored against the image's own report: report generation by
clinical efficacy (CheXpert-14 labels of the generated report against the reference's), closed VQA by accuracy.
Every setting is compared with ``none`` (and each with the next) by a paired bootstrap 95% interval of the
difference; VQA also by McNemar's exact test. Model answers are cached by (image, setting, item, model), so a run
that was stopped continues where it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from extract.radgraph_f1 import LEVELS, radgraph_f1
from graph.retrieve import Context, ContextQuery, Retriever
from graph.store import FileStore
from kg.core.errors import InvalidInput, KGError
from kg.core.progress import Advance
from kg.rag.prompt import render
from kg.rag_eval.answers import AnswerCache
from kg.rag_eval.cases import Case, Labeler, check_split, load_cases
from kg.rag_eval.models import REPORT_INSTRUCTION, EvalModel, finding_states, model_for
from kg.rag_eval.scoring import (
    clinical_efficacy,
    mcnemar,
    paired_bootstrap,
    text_metrics,
    vqa_items,
    yes_no,
)
from kg.rag_eval.settings import ContextSetting, parse_settings

TASKS = ("report", "vqa")
DEFAULT_CONTEXTS = "none,fixed:7,ratio:1.5,auto"
BASELINES = ("retrieval-only", "prior")


@dataclass
class EvalRun:
    """One run's inputs (what the command line gives)."""

    graph: Path
    model: str
    split: str = "test"
    task: str = "report"
    contexts: str | None = None  # None: DEFAULT_CONTEXTS, auto left out (and said so) on a graph not calibrated
    limit: int | None = None
    seed: int = 0
    cache: Path | None = None
    key_env: str | None = None
    max_tokens: int = 256
    format: str = "findings"
    parallel_from: int = 4000  # cases from which the retrieval-only baseline runs on a process per core
    concurrency: int = 4  # model requests in flight at once (an endpoint); a local model folder asks one at a time


def _contexts(retriever: Retriever, cases: Sequence[Case], setting: ContextSetting) -> list[Context | None]:
    if setting.options is None:
        return [None] * len(cases)
    try:
        return [retriever.context(ContextQuery.of(setting.options, image_id=c.image_id)) for c in cases]
    except KGError as exc:
        raise InvalidInput(f"context setting {setting.name}: {exc.what}", code="E1176", where="--contexts",
                           fix=exc.fix or "leave this setting out") from None


def evaluate(run: EvalRun, *, track: Callable[..., Any] | None = None) -> dict[str, Any]:
    """The result (JSON-ready): per setting its scores, seconds and abstentions, and the differences with their
    intervals. ``track(description, total=, unit=)`` -> a progress callable (kg.core.progress)."""
    if run.task not in TASKS:
        raise InvalidInput(f"unknown task {run.task!r}", code="E1177", where="--task", fix="use report or vqa")
    check_split(run.split)
    store = FileStore(run.graph)
    # the baselines read findings only: no concept-graph walk for them (a VLM's prompt has its triplets)
    settings = parse_settings(run.contexts or DEFAULT_CONTEXTS, hops=0 if run.model in BASELINES else 1)
    notes = []
    if any(s.options is not None and s.options.k == "auto" for s in settings) and store.manifest.calibration is None:
        if run.contexts is not None:
            raise InvalidInput("--contexts auto needs a calibrated graph", code="E1178", where="--contexts",
                               fix=f"run kg calibrate {run.graph} first, or leave auto out")
        settings = [s for s in settings if s.name != "auto"]
        notes.append(f"auto was left out: the graph is not calibrated (kg calibrate {run.graph})")
    labeler = Labeler()
    cases = load_cases(store, run.split, labeler, limit=run.limit)
    model = model_for(run.model, cases, key_env=run.key_env, max_tokens=run.max_tokens)
    if not model.concurrent:
        run = replace(run, concurrency=1)
    answers = AnswerCache((run.cache or _default_cache(store, run, model.id)) if model.cached else None)
    retriever = Retriever(store)
    items = vqa_items(cases, seed=run.seed) if run.task == "vqa" else []
    if run.task == "vqa" and not items:
        raise InvalidInput("no closed question can be asked: no finding is both present and stated absent in the "
                           "split's reports", code="E1179", where="--split", fix="use a larger split, or --task report")
    total = len(settings) * (len(items) if run.task == "vqa" else len(cases))
    advance = track(f"Asking {model.id}", total=total, unit="answers") if track is not None else Advance()
    result: dict[str, Any] = {"model": model.id, "task": run.task, "split": run.split, "cases": len(cases),
                              "graph": str(run.graph), "build": store.manifest.checksum, "settings": {}}
    scored: dict[str, list[Any]] = {}
    tokens: dict[str, dict[str, int]] = {}
    contexts_by: dict[str, list[Context | None]] = {}  # the serial path's, which the baseline comparison reuses
    if model.id == "retrieval-only" and len(cases) >= run.parallel_from:
        runs = _parallel_baseline(run, cases, settings, items, advance)
    else:
        runs = {}
        for setting in settings:
            t0, spent = time.perf_counter(), dict(model.usage)
            contexts = contexts_by[setting.name] = _contexts(retriever, cases, setting)
            rows = _score(run, model, answers, cases, contexts, setting, items, labeler, advance)
            runs[setting.name] = (rows, _abstained(contexts), time.perf_counter() - t0)
            if model.usage:  # tokens this run spent on the setting (answers from the cache cost none)
                tokens[setting.name] = {k: v - spent.get(k, 0) for k, v in model.usage.items()}
    for setting in settings:
        rows, abstained, seconds = runs[setting.name]
        scored[setting.name] = rows
        result["settings"][setting.name] = _summary(run.task, rows, setting) | {
            "seconds": round(seconds, 3), "abstained": abstained, "tokens": tokens.get(setting.name)}
    result["differences"] = _differences(run, scored, [s.name for s in settings])
    advance.done()
    if model.id not in BASELINES:
        result["baseline"], verdict = _against_retrieval_only(run, result, cases, items, settings, contexts_by, labeler)
        notes.append(verdict)
    result["note"] = "; ".join(notes) or None
    return result


def _primary(task: str, summary: dict[str, Any]) -> float:
    return float(summary["micro"]["f1"] if task == "report" else summary["accuracy"])


def _against_retrieval_only(run: EvalRun, result: dict[str, Any], cases: Sequence[Case], items: Sequence[Any],
                            settings: list[ContextSetting], contexts_by: dict[str, list[Context | None]],
                            labeler: Labeler) -> tuple[dict[str, float], str]:
    """The retrieval-only baseline on the same cases and contexts (it needs no model: seconds), and a sentence
    saying whether the model beats it."""
    from kg.rag_eval.models import RetrievalOnly

    base, answers = RetrievalOnly(), AnswerCache(None)
    scores = {}
    for setting in settings:
        rows = _score(run, base, answers, cases, contexts_by[setting.name], setting, items, labeler, Advance())
        scores[setting.name] = _primary(run.task, _summary(run.task, rows, setting))
    mine = max(_primary(run.task, s) for s in result["settings"].values())
    theirs = max(scores.values())
    metric = "micro-F1" if run.task == "report" else "accuracy"
    verdict = "beats" if mine > theirs else "does not beat"
    return scores, (f"{result['model']} {verdict} the retrieval-only baseline: best {metric} {mine:.3f} against "
                    f"{theirs:.3f} (the neighbours' findings alone, same cases and settings)")


def _default_cache(store: FileStore, run: EvalRun, model_id: str) -> Path:
    """In medkg's cache folder, one file per build (its input checksum), task and model."""
    from kg.core.cache import cache_root

    safe = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in model_id)[-80:]
    build = store.manifest.checksum.removeprefix("sha256:")[:16] or "unknown"
    return cache_root() / "eval-rag" / f"{build}-{run.task}-{safe}.jsonl"


def _prompt(model: EvalModel, run: EvalRun, setting: ContextSetting, ctx: Context | None) -> str | None:
    """The rendered context a model reads (the baselines read the context itself: nothing to render)."""
    if ctx is None or model.id in BASELINES:
        return None
    return render(ctx, format=setting.format or run.format)


def _reports(run: EvalRun, model: EvalModel, answers: AnswerCache, cases: Sequence[Case], contexts: list[Context | None],
             setting: ContextSetting, labeler: Labeler, advance: Callable[..., None]) -> list[Any]:
    """(reference labels, generated report's labels, RadGraph-F1, reference text, generated text) per case."""
    jobs = [(json.dumps([case.image_id, setting.name, "report", model.id, run.format]),
             partial(model.ask, case, REPORT_INSTRUCTION, ctx, _prompt(model, run, setting, ctx)))
            for case, ctx in zip(cases, contexts)]
    pairs = []
    for case, text in zip(cases, answers.many(jobs, concurrency=run.concurrency, advance=advance)):
        labels, graph = labeler.read(case.report_id, text)
        rg = radgraph_f1(labeler.graph(case.report_id, case.reference), graph)
        pairs.append((case.labels, labels, rg, case.reference, text))
    return pairs


def _vqa(run: EvalRun, model: EvalModel, answers: AnswerCache, cases: Sequence[Case], contexts: list[Context | None],
         setting: ContextSetting, items: Sequence[Any], advance: Callable[..., None]) -> list[Any]:
    """(right, contradicts the context, finding) per item of these cases, in item order."""
    from extract.labels import load_label_map

    mapping = load_label_map("chexpert")
    by_image = {c.image_id: (c, ctx) for c, ctx in zip(cases, contexts)}
    mine = [item for item in items if item.image_id in by_image]
    prompts = {i: _prompt(model, run, setting, ctx) for i, (_, ctx) in by_image.items()}  # once per image
    states = {i: finding_states(ctx, mapping) for i, (_, ctx) in by_image.items()}
    jobs = [(json.dumps([item.image_id, setting.name, item.question, model.id, run.format]),
             partial(model.ask, by_image[item.image_id][0], item.question, by_image[item.image_id][1],
                     prompts[item.image_id])) for item in mine]
    rows = []
    for item, text in zip(mine, answers.many(jobs, concurrency=run.concurrency, advance=advance)):
        said = yes_no(text)
        stated = states[item.image_id].get(item.label)
        contradicts = (said == "yes" and stated == "negative") or (said == "no" and stated == "positive")
        rows.append((said == item.answer, contradicts, item.label))
    return rows


def _summary(task: str, rows: list[Any], setting: ContextSetting) -> dict[str, Any]:
    if task == "report":
        out = clinical_efficacy(rows)
        out["radgraph_f1"] = {lv: round(sum(r[2][lv] for r in rows) / len(rows), 4) if rows else 0.0 for lv in LEVELS}
        out["text"] = text_metrics([r[3] for r in rows], [r[4] for r in rows])  # None without the eval extra
        return out
    per: dict[str, list[bool]] = {}
    for right, _, label in rows:
        per.setdefault(label, []).append(right)
    return {"accuracy": round(sum(r for r, _, _ in rows) / len(rows), 4), "items": len(rows),
            "per_finding": {k: round(sum(v) / len(v), 4) for k, v in sorted(per.items())},
            "contradicts_context": round(sum(c for _, c, _ in rows) / len(rows), 4) if setting.uses_context else None}


def _score(run: EvalRun, model: EvalModel, answers: AnswerCache, cases: Sequence[Case], contexts: list[Context | None],
           setting: ContextSetting, items: Sequence[Any], labeler: Labeler, advance: Callable[..., None]) -> list[Any]:
    """One setting's scored rows over these cases and their contexts."""
    if run.task == "report":
        return _reports(run, model, answers, cases, contexts, setting, labeler, advance)
    return _vqa(run, model, answers, cases, contexts, setting, items, advance)


def _abstained(contexts: list[Context | None]) -> int:
    return sum(1 for c in contexts if c is not None and c.abstained)


def _baseline_chunk(run: EvalRun, names: list[str], cases: list[Case], items: list[Any]) -> dict[str, Any]:
    """A worker process's share of a retrieval-only run: every setting over its cases (the store and the labeler
    loaded once per worker)."""
    from kg.rag_eval.models import RetrievalOnly

    store = FileStore(run.graph)
    retriever, labeler, model = Retriever(store), Labeler(), RetrievalOnly()
    out = {}
    for setting in parse_settings(",".join(names), hops=0):
        t0 = time.perf_counter()
        contexts = _contexts(retriever, cases, setting)
        rows = _score(run, model, AnswerCache(None), cases, contexts, setting, items, labeler, Advance())
        abstained = _abstained(contexts)
        out[setting.name] = (rows, abstained, time.perf_counter() - t0)
    return out


def _parallel_baseline(run: EvalRun, cases: list[Case], settings: list[ContextSetting], items: list[Any],
                       advance: Callable[..., None]) -> dict[str, tuple[list[Any], int, float]]:
    """The retrieval-only baseline's settings over the cases split across a process per core (rows in case order,
    so every setting's rows pair up as in one process); seconds per setting: the slowest worker's."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from kg.core.environment import one_blas_thread

    workers = min(os.cpu_count() or 1, 8)
    one_blas_thread()  # for the workers spawned below
    size = -(-len(cases) // workers)
    chunks = [cases[i:i + size] for i in range(0, len(cases), size)]
    names = [s.name for s in settings]
    merged: dict[str, tuple[list[Any], int, float]] = {n: ([], 0, 0.0) for n in names}
    with ProcessPoolExecutor(len(chunks), mp_context=get_context("spawn")) as pool:
        parts = [pool.submit(_baseline_chunk, run, names, chunk, items) for chunk in chunks]
        for chunk, part in zip(chunks, parts):  # in case order
            for name, (rows, abstained, seconds) in part.result().items():
                got = merged[name]
                merged[name] = (got[0] + rows, got[1] + abstained, max(got[2], seconds))
            ids = {c.image_id for c in chunk}
            advance(len(names) * (len(chunk) if run.task == "report" else sum(1 for i in items if i.image_id in ids)))
    return merged


def _differences(run: EvalRun, scored: dict[str, list[Any]], names: list[str]) -> list[dict[str, Any]]:
    """Each setting against ``none`` (when run) and against the setting before it: the difference of micro-F1
    (report) or accuracy (VQA) with its paired bootstrap 95% interval; McNemar for VQA."""
    pairs = [("none", n) for n in names if n != "none" and "none" in names]
    pairs += [(a, b) for a, b in zip(names, names[1:]) if (a, b) not in pairs]
    out = []
    for a, b in pairs:
        xa, xb = scored[a], scored[b]
        metric = _report_metric(xa, xb) if run.task == "report" else _vqa_metric(xa, xb)
        name = "micro_f1" if run.task == "report" else "accuracy"
        diff, lo, hi = paired_bootstrap(len(xa), metric, seed=run.seed)
        row: dict[str, Any] = {"from": a, "to": b, "metric": name, "difference": diff, "ci95": [lo, hi]}
        if run.task == "vqa":
            row["mcnemar"] = mcnemar([r[0] for r in xa], [r[0] for r in xb])
        out.append(row)
    return out


def _report_metric(xa: list[Any], xb: list[Any]) -> Callable[[np.ndarray], float]:
    ta, tb = _positives(xa), _positives(xb)
    return lambda idx: _micro_f1(tb, idx) - _micro_f1(ta, idx)


def _vqa_metric(xa: list[Any], xb: list[Any]) -> Callable[[np.ndarray], float]:
    ra, rb = np.array([r[0] for r in xa], dtype=float), np.array([r[0] for r in xb], dtype=float)
    return lambda idx: float(rb[idx].mean() - ra[idx].mean()) if len(idx) else 0.0


def _positives(pairs: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(reference, generated) positive-label matrices, one row per case (the 14 CheXpert labels)."""
    from kg.rag_eval.scoring import LABELS

    ref = np.array([[p[0].get(x) == 1.0 for x in LABELS] for p in pairs], dtype=bool).reshape(len(pairs), len(LABELS))
    gen = np.array([[p[1].get(x) == 1.0 for x in LABELS] for p in pairs], dtype=bool).reshape(len(pairs), len(LABELS))
    return ref, gen


def _micro_f1(t: tuple[np.ndarray, ...], idx: np.ndarray) -> float:
    ref, gen = t[0][idx], t[1][idx]
    tp = float((ref & gen).sum())
    fp, fn = float((gen & ~ref).sum()), float((ref & ~gen).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
