"""`kg eval rag --html FILE`: the result as one self-contained page — the scores per context setting, each
difference with its 95% interval, and the per-finding scores — with matplotlib SVG charts as in report.html."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kg.core.errors import Conflict
from kg.report import CSS, _e, _plt, _svg, _table

GENERATOR = "<meta name='generator' content='medkg eval rag'>"  # marks the pages medkg may write over


def _primary(result: dict[str, Any], s: dict[str, Any]) -> float:
    return float(s["micro"]["f1"] if result["task"] == "report" else s["accuracy"])


def scores_chart(result: dict[str, Any]) -> str:
    plt = _plt()
    names = list(result["settings"])
    vals = [_primary(result, result["settings"][n]) for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.0))
    ax.barh(names[::-1], vals[::-1], color="#1565c0", label=result["model"])
    base = result.get("baseline") or {}
    if base:
        ax.scatter([base[n] for n in names][::-1], names[::-1], marker="|", s=300, color="#c62828",
                   label="retrieval-only", zorder=3)
        ax.legend(loc="lower right", frameon=False)
    for y, v in enumerate(vals[::-1]):
        ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
    ax.set_xlabel("micro-F1 (CheXpert-14, positive class)" if result["task"] == "report" else "accuracy")
    ax.set_xlim(0, 1.05)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def differences_chart(result: dict[str, Any]) -> str:
    rows = result["differences"]
    if not rows:
        return "<p class='empty'>One setting: nothing to compare.</p>"
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.0))
    labels = [f"{d['to']} vs {d['from']}" for d in rows][::-1]
    diffs = [d["difference"] for d in rows][::-1]
    lo = [d["difference"] - d["ci95"][0] for d in rows][::-1]
    hi = [d["ci95"][1] - d["difference"] for d in rows][::-1]
    ax.errorbar(diffs, labels, xerr=[lo, hi], fmt="o", color="#1565c0", capsize=4)
    ax.axvline(0, color="#888", lw=1)
    ax.set_xlabel(f"difference in {rows[0]['metric'].replace('_', '-')}, with its paired bootstrap 95% interval")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def per_finding_table(result: dict[str, Any]) -> str:
    names = list(result["settings"])
    key, metric = ("per_label", "f1") if result["task"] == "report" else ("per_finding", None)
    findings = sorted({f for n in names for f in result["settings"][n][key]})
    rows = []
    for f in findings:
        cells = []
        for n in names:
            v = result["settings"][n][key].get(f)
            v = v[metric] if (metric and v is not None) else v
            cells.append("-" if v is None else f"{v:.3f}")
        rows.append([_e(f), *cells])
    what = "F1 per label" if result["task"] == "report" else "accuracy per finding"
    return f"<h2>{what}</h2>" + _table(["", *names], rows, "num")


def render(result: dict[str, Any]) -> str:
    report = result["task"] == "report"
    head = ["context", "micro P", "micro R", "micro F1", "macro F1", "RadGraph-F1 s / p / c", "BLEU-4", "ROUGE-L"] \
        if report else ["context", "accuracy", "items", "contradicts the context"]
    rows = []
    for n, s in result["settings"].items():
        if report:
            m, rg, tx = s["micro"], s["radgraph_f1"], s["text"] or {}
            cells = [f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", f"{s['macro']['f1']:.3f}",
                     f"{rg['simple']:.3f} / {rg['partial']:.3f} / {rg['complete']:.3f}",
                     f"{tx['bleu4']:.3f}" if tx else "-", f"{tx['rougeL']:.3f}" if tx else "-"]
        else:
            c = s["contradicts_context"]
            cells = [f"{s['accuracy']:.3f}", str(s["items"]), "-" if c is None else f"{c:.3f}"]
        rows.append([_e(n), *cells])
    diffs = [[_e(f"{d['to']} vs {d['from']}"), f"{d['difference']:+.3f}", f"{d['ci95'][0]:+.3f} to {d['ci95'][1]:+.3f}",
              f"{d['mcnemar']['p']:.3g}" if "mcnemar" in d else "-"] for d in result["differences"]]
    title = f"{result['model']} on {result['cases']} images of {result['split']} ({result['task']})"
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{GENERATOR}",
        f"<title>medkg eval rag: {_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>medkg eval rag</h1><p class='sub'>{_e(title)} · graph {_e(result['graph'])} · build "
        f"{_e(result['build'])}</p>",
        "<h2>Scores per context setting</h2>" + _table(head, rows, "num") + scores_chart(result),
        "<h2>Differences</h2>" + _table(["", "difference", "95% interval", "McNemar p"], diffs, "num")
        + differences_chart(result),
        f"<p>{_e(result['note'])}</p>" if result.get("note") else "",
        per_finding_table(result),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def check_page(path: Path) -> None:
    """A file at ``path`` that kg eval rag did not write is never replaced (E3102)."""
    if path.exists() and (not path.is_file() or GENERATOR not in path.read_text(encoding="utf-8", errors="replace")[:2000]):
        raise Conflict(f"{path} exists and is not a page kg eval rag wrote", code="E3102", where="--html",
                       fix="choose a new --html file; medkg does not overwrite files it did not write")


def write_page(result: dict[str, Any], path: Path) -> Path:
    """Write the page to ``path`` whole (a temporary file renamed)."""
    check_page(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(result), encoding="utf-8")
    os.replace(tmp, path)
    return path
