"""``DIR/report.html``: one self-contained page (no network) that shows what a build made.

Counts per label and relationship type before and after NaF, polarity per top concept, concept
co-occurrence, quarantine reasons with examples, extractor / encoder / concept-index settings, the input
checksum and the time each stage took. Charts are matplotlib SVG, inlined with their text kept as text.
Written by every ``kg build`` and again by ``kg report DIR`` from the stored build.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
from pathlib import Path

from extract.records import EDGE_TYPES, Polarity
from graph.model import Graph
from graph.stats import concept_polarity
from graph.store.manifest import Manifest

POLARITIES = EDGE_TYPES
COLOURS = {Polarity.POSITIVE.edge_type: "#2e7d32", Polarity.NEGATIVE.edge_type: "#c62828",
           Polarity.UNCERTAIN.edge_type: "#f9a825"}
TOP = 20  # concepts in the polarity chart
COOC = 15  # concepts in the co-occurrence matrix
EXAMPLES = 3  # quarantined records shown per reason


def cooccurrence(g: Graph, top: int = COOC) -> tuple[list[str], list[list[int]]]:
    """Concept names and a symmetric matrix: how many images (or studies without images) are POSITIVE for
    both concepts; the diagonal counts each concept alone. The ``top`` most frequent positive concepts."""
    names = {r["cui"]: r.get("name") or r["cui"] for r in g.nodes["Concept"].rows} if "Concept" in g.nodes else {}
    by_source: dict[str, set[str]] = {}
    for t in g.edges.values():
        if t.type == Polarity.POSITIVE.edge_type and t.target_label == "Concept":
            for r in t.rows:
                by_source.setdefault(f"{t.source_label}:{r['_start']}", set()).add(r["_end"])
    freq: dict[str, int] = {}
    for cuis in by_source.values():
        for c in cuis:
            freq[c] = freq.get(c, 0) + 1
    chosen = [c for c, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    pos = {c: i for i, c in enumerate(chosen)}
    m = [[0] * len(chosen) for _ in chosen]
    for cuis in by_source.values():
        idx = sorted(pos[c] for c in cuis if c in pos)
        for a in idx:
            for b in idx:
                m[a][b] += 1
    return [names.get(c, c) for c in chosen], m


def quarantine_groups(quarantine: list[dict]) -> list[dict]:
    """Quarantined records grouped by stage and reason (numbers and quoted values folded), largest first."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for q in quarantine:
        shape = re.sub(r"'[^']*'|\"[^\"]*\"|0x[0-9a-fA-F]+|\d+", "…", q.get("reason", ""))
        groups.setdefault((q.get("stage", ""), shape), []).append(q)
    out = [{"stage": s, "reason": r, "count": len(v), "examples": v[:EXAMPLES]} for (s, r), v in groups.items()]
    return sorted(out, key=lambda d: (-d["count"], d["stage"], d["reason"]))


# -- charts -------------------------------------------------------------------------------------------------
def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "medkg", "font.size": 10,
                         "font.family": "sans-serif"})
    return plt


def polarity_chart(rows: list[dict]) -> str:
    if not rows:
        return "<p class='empty'>No cross-modal edges.</p>"
    plt = _plt()
    rows = rows[:TOP][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) + 1.0))
    left = [0] * len(rows)
    labels = [r["name"] for r in rows]
    for p in POLARITIES:
        vals = [r[p] for r in rows]
        ax.barh(labels, vals, left=left, color=COLOURS[p], label=p.lower())
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlabel("cross-modal edges (images, or studies without images)")
    ax.legend(loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def cooccurrence_chart(names: list[str], m: list[list[int]]) -> str:
    if len(names) < 2:
        return "<p class='empty'>Fewer than two positive concepts.</p>"
    plt = _plt()
    fig, ax = plt.subplots(figsize=(0.42 * len(names) + 3.2, 0.42 * len(names) + 2.2))
    im = ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    peak = max(max(r) for r in m) or 1
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > peak / 2 else "black")
    fig.colorbar(im, ax=ax, shrink=0.6, label="images / studies positive for both")
    return _svg(fig)


def timing_chart(timings: dict[str, float]) -> str:
    if not timings:
        return "<p class='empty'>No timings recorded.</p>"
    plt = _plt()
    items = list(timings.items())[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 0.9))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#546e7a")
    for y, (_, v) in enumerate(items):
        ax.text(v, y, f" {v:.2f} s", va="center", fontsize=8)
    ax.set_xlabel("seconds")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


# -- page ---------------------------------------------------------------------------------------------------
def _e(v) -> str:
    return html.escape(str(v), quote=True)


def _table(head: list[str], rows: list[list], cls: str = "") -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class='{cls}'><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _counts_section(m: Manifest) -> str:
    naf = m.naf
    before, after = naf.before, naf.after
    nodes = [[_e(k), f"{v:,}", ""] for k, v in m.graph.nodes.items()]
    nodes = [[n, c, f"{after.images:,} kept of {before.images:,}" if n == "Image" else x] for n, c, x in nodes]
    rels = []
    for k, v in m.graph.relationships.items():
        # NaF removes image edges only: before = after + the image edges it removed
        b = v + before.edges.get(k, 0) - after.edges.get(k, 0)
        rels.append([_e(k), f"{b:,}", f"{v:,}"])
    return (
        "<h2>Graph</h2><div class='row'>"
        + _table(["label", "nodes", "NaF"], nodes, "num")
        + _table(["relationship type", "before NaF", "after NaF"], rels, "num")
        + "</div>"
        + f"<p>NaF <b>{_e(naf.method)}</b>: images {before.images:,} → {after.images:,}; "
        f"concepts covered {before.concepts_covered:,} → {after.concepts_covered:,}. "
        "Images NaF drops stay as <code>Image</code> nodes (<code>kept = false</code>) without cross-modal edges.</p>"
    )


def _quarantine_section(quarantine: list[dict]) -> str:
    if not quarantine:
        return "<h2>Quarantine</h2><p>Nothing was quarantined.</p>"
    rows = []
    for grp in quarantine_groups(quarantine):
        ex = "<br>".join(f"<code>{_e(q.get('record'))}</code> {_e(q.get('source'))}: {_e(q.get('reason'))}"
                         for q in grp["examples"])
        fix = _e(grp["examples"][0].get("fix", ""))
        rows.append([_e(grp["stage"]), f"{grp['count']:,}", _e(grp["reason"]), ex, fix])
    return (f"<h2>Quarantine ({len(quarantine):,})</h2><p>Every record or image left out, in "
            "<code>quarantine.jsonl</code>; grouped by reason.</p>"
            + _table(["stage", "count", "reason", "examples", "fix"], rows, "wide"))


def _settings_section(m: Manifest) -> str:
    enc, x, idx = m.encoder, m.extractor, m.concept_index
    rows = [
        ["input checksum", f"<code>{_e(m.checksum)}</code>"],
        ["extractor", f"{_e(x.id)} (merge rule: {_e(x.merge_rule)}; polarity conflicts {x.polarity_conflicts:,})"],
        ["concept index", f"{_e(idx.name)} {_e(idx.version)}"],
        ["encoder", f"{_e(enc.id)} (spec {_e(enc.spec)}, {enc.dim} dims)"],
        ["vector index", _e(json.dumps(m.vector_index, sort_keys=True))],
        ["medkg", _e(m.medkg)],
        ["versions", _e(", ".join(f"{k} {v}" for k, v in sorted(m.versions.items())))],
    ]
    rows += [[f"<code>--{_e(k.replace('_', '-'))}</code>", _e(json.dumps(v))]
             for k, v in sorted(m.settings.items())]
    return "<h2>Settings</h2>" + _table(["setting", "value"], rows, "wide")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222;
padding:0 16px}h1{margin-bottom:0}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.sub{color:#666;margin-top:4px}.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;
border-radius:8px;padding:10px 16px;min-width:150px}.card b{font-size:22px;display:block}.row{display:flex;gap:24px;
flex-wrap:wrap;align-items:flex-start}table{border-collapse:collapse;margin:8px 0}th,td{border-bottom:1px solid #eee;
padding:4px 10px;text-align:left;vertical-align:top}table.num td:not(:first-child){text-align:right}
table.wide{width:100%}td code{font-size:12px}.empty{color:#888}svg{max-width:100%;height:auto}
"""


def render(manifest: Manifest, graph: Graph, quarantine: list[dict], title: str) -> str:
    m = manifest
    r, im = m.records, m.images
    cards = [
        ("reports read", r.read), ("studies built", r.built), ("records quarantined", r.quarantined),
        ("images embedded", im.embedded), ("images quarantined", im.quarantined),
        ("left out by view", im.skipped_by_view),
        ("nodes", sum(m.graph.nodes.values())), ("relationships", sum(m.graph.relationships.values())),
    ]
    names, mat = cooccurrence(graph)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>medkg build report: {_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>medkg build report</h1><p class='sub'>{_e(title)} · medkg {_e(m.medkg)} · "
        f"format {_e(m.settings.get('format', '?'))}</p>",
        "<div class='cards'>" + "".join(f"<div class='card'><b>{v:,}</b>{_e(k)}</div>" for k, v in cards) + "</div>",
        _counts_section(m),
        f"<h2>Polarity per concept (top {TOP})</h2><p>Cross-modal edges in the graph, by the polarity the "
        "reports state.</p>" + polarity_chart(concept_polarity(graph)),
        f"<h2>Concept co-occurrence (top {COOC} positive concepts)</h2>" + cooccurrence_chart(names, mat),
        _quarantine_section(quarantine),
        "<h2>Time per stage</h2>" + timing_chart(m.timings),
        _settings_section(m),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def write_report(out: Path, *, manifest: Manifest, graph: Graph, quarantine: list[dict], title: str | None = None) -> Path:
    """Write ``out/report.html`` (atomically: a reader never sees half a page)."""
    path = out / "report.html"
    tmp = out / ".report.html.tmp"
    tmp.write_text(render(manifest, graph, quarantine, title or str(out)), encoding="utf-8")
    os.replace(tmp, path)
    return path


def rerender(out: Path) -> Path:
    """``kg report DIR``: render the report again from the stored build."""
    from graph.store import read_graph, read_manifest, write_manifest
    from graph.store.outdir import OutputConflict, owned_files

    m = read_manifest(out)
    owned = owned_files(out, m)
    if (out / "report.html").exists() and "report.html" not in owned:
        raise OutputConflict(f"{out / 'report.html'} was not written by medkg", code="E301", fix="move it away, then run kg report again")
    qpath = out / "quarantine.jsonl"
    quarantine = [json.loads(line) for line in qpath.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if qpath.is_file() else []
    path = write_report(out, manifest=m, graph=read_graph(out), quarantine=quarantine)
    if "report.html" not in owned:  # a build from before reports: the manifest now lists the page as medkg's
        m.files = sorted(owned | {"report.html"})
        write_manifest(m, out)
    return path
