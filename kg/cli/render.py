"""How the ``kg`` commands print: one place for consoles and tables.

On a terminal, output fits its width. Piped or redirected, nothing is wrapped or cut: lines stay whole and
table cells keep every character, so ids can be pasted back into the next command.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

PIPE_WIDTH = 100_000  # effectively unbounded; tables still take only the width their content needs


def console(stderr: bool = False) -> Console:
    c = Console(stderr=stderr, soft_wrap=True)
    if not c.is_terminal:
        c = Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH)
    return c


def table(title: str | None, columns: list[str], rows: list[list[str]], *, right: tuple[str, ...] = (),
          whole: tuple[str, ...] = ()) -> Table:
    """A table; columns in ``right`` are right-aligned, columns in ``whole`` (ids) are never wrapped or cut."""
    t = Table(title=title)
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left", no_wrap=col in whole,
                     overflow="fold" if col not in whole else "ignore",
                     min_width=max((len(r[columns.index(col)]) for r in rows), default=0) if col in whole else None)
    for r in rows:
        t.add_row(*r)
    return t


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"



def warn(message: str) -> None:
    """One line on stderr, never wrapped."""
    typer.secho(f"warning: {message}", fg="yellow", err=True)


def note(message: str) -> None:
    """One line of information on stderr."""
    typer.secho(message, dim=True, err=True)


def print_stats(console, graph_dir: Path, top: int = 15) -> None:
    from graph.stats import graph_stats
    from kg.cli.render import table

    s = graph_stats(graph_dir, top=top)
    console.print(table("Nodes", ["label", "count"], [[k, f"{v:,}"] for k, v in s["nodes"].items()], right=("count",)))
    console.print(table("Relationships", ["type", "count"], [[k, f"{v:,}"] for k, v in s["relationships"].items()],
                        right=("count",)))
    p = s["polarity"]
    console.print(
        f"Polarity (cross-modal edges): POSITIVE {p['POSITIVE']}, NEGATIVE {p['NEGATIVE']}, UNCERTAIN {p['UNCERTAIN']}; "
        f"merge conflicts {s['polarityConflicts']}"
    )
    n = s["naf"]
    console.print(
        f"NaF {n['method']}: images {n['before']['images']} -> {n['after']['images']}, "
        f"concepts covered {n['before']['conceptsCovered']} -> {n['after']['conceptsCovered']}"
    )
    rec = s["records"]
    console.print(f"Records: read {rec['read']} = built {rec['built']} + quarantined {rec['quarantined']}; "
                  f"images quarantined {s['images']['quarantined']}")
    sim = s.get("similarity")
    if sim:
        b = sim["bestMatchOtherPatient"]
        console.print(f"Images' nearest image of another patient (cosine, {sim['encoder']}): 1st percentile "
                      f"{b['p1']:.3f} (KG-RAG abstains below it), 5th {b['p5']:.3f}, median {b['p50']:.3f}")
    from extract.records import EDGE_TYPES

    cols = ["cui", "name", *EDGE_TYPES]
    console.print(table(f"Top {top} concepts", cols, [[str(row[c]) for c in cols] for row in s["topConcepts"]],
                        right=EDGE_TYPES, whole=("cui",)))



def props_text(props: dict) -> str:
    """Edge properties as `name=value` pairs (lists joined by commas), readable in a table cell."""
    parts = []
    for k, v in props.items():
        v = ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
        parts.append(f"{k}={v}")
    return "; ".join(parts)



def print_eval(result: dict) -> None:
    from rich.table import Table

    from kg.cli.render import console as make_console

    console = make_console()
    if "micro" in result:
        t = Table(title=f"Finding labels: {result['reports']} reports")
        for col in ("finding", "polarity", "P", "R", "F1", "support"):
            t.add_column(col, justify="left" if col in ("finding", "polarity") else "right")
        for pol, s in result["micro"].items():
            t.add_row("[bold]micro[/]", pol, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["tp"] + s["fn"]))
        for f, d in result["perFinding"].items():
            s = d["positive"]
            t.add_row(f, "positive", f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["tp"] + s["fn"]))
        console.print(t)
        if result["unmappedFindings"]:
            hints = result.get("unmappedHints") or {}
            console.print("not mapped (not scored): " + ", ".join(
                f"{f} (did you mean {hints[f]!r}?)" if hints.get(f) else f for f in result["unmappedFindings"])
                + "; findings are the keys of extract/data/finding_map.tsv (or --map), in any spelling, or the "
                  "labels of kg label")
    else:
        for k in ("entity", "relation"):
            s = result[k]
            console.print(f"{k} F1 {s['f1']:.3f} (P {s['precision']:.3f}, R {s['recall']:.3f}) over {result['documents']} documents")


def print_eval_rag(result: dict) -> None:
    """`kg eval rag`: one row per context setting, then each difference with its 95% interval."""
    from rich.table import Table

    out = console()
    report = result["task"] == "report"
    t = Table(title=f"{result['model']} on {result['cases']} images of {result['split']} ({result['task']})")
    cols = ("context", "micro P", "micro R", "micro F1", "macro F1", "RadGraph-F1 s/p/c", "BLEU-4", "ROUGE-L") \
        if report else ("context", "accuracy", "items", "contradicts context")
    for col in (*cols, "abstained", "seconds", "tokens"):
        t.add_column(col, justify="left" if col == "context" else "right")
    for name, s in result["settings"].items():
        if report:
            m, rg, tx = s["micro"], s["radgraph_f1"], s["text"]
            row = [f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", f"{s['macro']['f1']:.3f}",
                   f"{rg['simple']:.3f}/{rg['partial']:.3f}/{rg['complete']:.3f}",
                   "-" if tx is None else f"{tx['bleu4']:.3f}", "-" if tx is None else f"{tx['rougeL']:.3f}"]
        else:
            c = s["contradicts_context"]
            row = [f"{s['accuracy']:.3f}", str(s["items"]), "-" if c is None else f"{c:.3f}"]
        tok = s.get("tokens")
        t.add_row(name, *row, str(s["abstained"]), f"{s['seconds']:.1f}",
                  "-" if not tok else f"{tok['prompt']:,} + {tok['completion']:,}")
    out.print(t)
    for d in result["differences"]:
        lo, hi = d["ci95"]
        sure = "" if lo <= 0 <= hi else " (the interval excludes 0)"
        extra = f", McNemar p {d['mcnemar']['p']:.3g}" if "mcnemar" in d else ""
        out.print(f"{d['to']} vs {d['from']}: {d['metric']} {d['difference']:+.3f} "
                      f"(95% CI {lo:+.3f} to {hi:+.3f}){extra}{sure}")
    if result.get("note"):
        out.print(result["note"])
    if report and any(s["text"] is None for s in result["settings"].values()):
        from kg.core.install import install_command

        out.print(f"BLEU-4 and ROUGE-L need medkg[eval]: {install_command('eval')}")

