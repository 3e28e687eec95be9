"""Neo4j loading: the batched loader vs a naive per-row MERGE, and the neo4j-admin bulk import.

    python bench/neo4j_load.py [--images 80000] [--edges-per-image 10] [--naive 3000] [--batch-size 5000] [--workers 2] [--repeats 3]

Generates a graph of this model's shape (patients, studies, reports, images, 5k concepts; corpus edges
and POSITIVE/NEGATIVE/UNCERTAIN image->concept edges: ~1M relationships at the defaults) as an embedded
store, then on a fresh local server (assembled by the project, in a temporary home; or NEO4J_URI):
loads it with the Bolt loader (relationships/s: once on the fresh server's cold JVM, then --repeats
times into the same server emptied, whose median is the steady-state figure), times a naive one-transaction-per-row MERGE on a sample
(same run, ratio), and times `neo4j-admin database import full` of the same graph. Targets (issue):
>= 50k relationships/s, ratio >= 20x. Peak client memory is printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, peak_rss_mb  # noqa: E402

# the evidence spans real image->concept edges carry (the report words the polarity was read from)
EVIDENCE = ["small left pleural effusion", "no pneumothorax", "mild pulmonary edema", "possible retrocardiac opacity",
            "heart size is normal", "bibasilar atelectasis", "endotracheal tube terminates 4 cm above the carina",
            "no focal consolidation", "stable cardiomegaly", "cannot exclude early pneumonia"]


def generate(out: Path, n_images: int, per_image: int, seed: int = 0) -> dict:
    from graph.model import Graph, NodeTable
    from graph.store import write_graph, write_manifest

    rng = np.random.default_rng(seed)
    n_studies = n_images
    n_patients = max(1, n_images // 4)
    n_concepts = 5000
    g = Graph()
    patients = [f"p{i:08d}" for i in range(n_patients)]
    studies = [f"s{i:08d}" for i in range(n_studies)]
    images = [f"i{i:08d}" for i in range(n_images)]
    cuis = [f"C{i:07d}" for i in range(n_concepts)]
    owner = rng.integers(0, n_patients, n_studies)
    g.nodes["Patient"] = NodeTable("Patient", [{"id": p} for p in patients])
    g.nodes["Study"] = NodeTable("Study", [{"id": s, "patientId": patients[o], "split": "train"} for s, o in zip(studies, owner)])
    g.nodes["Report"] = NodeTable("Report", [{"id": s, "studyId": s} for s in studies])
    g.nodes["Image"] = NodeTable("Image", [{"id": im, "studyId": s, "viewPosition": "AP", "kept": True}
                                           for im, s in zip(images, studies)])
    g.nodes["Concept"] = NodeTable("Concept", [{"cui": c, "name": f"concept {c}", "group": "OBSERVATION",
                                                "semanticTypes": ["T047:Disease or Syndrome"]} for c in cuis])
    g.add_edges("HAS_STUDY", "Patient", "Study", [{"_start": patients[o], "_end": s} for s, o in zip(studies, owner)])
    g.add_edges("HAS_REPORT", "Study", "Report", [{"_start": s, "_end": s} for s in studies])
    g.add_edges("HAS_IMAGE", "Study", "Image", [{"_start": s, "_end": im} for s, im in zip(studies, images)])
    p = 1.0 / np.arange(1, n_concepts + 1)
    for typ, share in (("POSITIVE", 0.5), ("NEGATIVE", 0.4), ("UNCERTAIN", 0.1)):
        k = int(per_image * share)
        rows = []
        for i, im in enumerate(images):
            for c in set(rng.choice(n_concepts, size=k, p=p / p.sum()).tolist()):
                rows.append({"_start": im, "_end": cuis[c], "reportId": studies[i], "evidence": EVIDENCE[c % len(EVIDENCE)],
                             "section": "impression" if c % 3 == 0 else "findings", "extractor": "rules"})
        g.add_edges(typ, "Image", "Concept", rows)
    g.sort()
    write_graph(g, out)
    counts = g.counts()
    write_manifest({"input": {"checksum": f"bench-{seed}-{n_images}-{per_image}"}, "settings": {},
                    "graph": counts, "vectorIndex": {"dim": 0}, "extractor": {"polarityConflicts": 0},
                    "naf": {}, "records": {}, "images": {}}, out)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=80_000)
    ap.add_argument("--edges-per-image", type=int, default=10)
    ap.add_argument("--naive", type=int, default=3000, help="relationships loaded one row per transaction")
    ap.add_argument("--batch-size", type=int, default=5_000)
    ap.add_argument("--workers", type=int, default=2, help="concurrent sessions for the CREATE path (kg load --workers)")
    ap.add_argument("--repeats", type=int, default=3, help="loads after the first into the emptied server (warm JVM)")
    args = ap.parse_args()
    import os

    from graph.neo4j import Neo4jClient, Neo4jSettings, clear, load_graph
    from kg.neo4j_local import ServerHome, admin, start, stop, write_conf

    tmp = Path(tempfile.mkdtemp(prefix="medkg-bench-"))
    t = time.perf_counter()
    counts = generate(tmp / "graph", args.images, args.edges_per_image)
    n_rel = sum(counts["relationships"].values())
    print(f"machine: {machine()}")
    print(f"input: {sum(counts['nodes'].values()):,} nodes, {n_rel:,} relationships "
          f"({json.dumps(counts['relationships'])}); generated in {time.perf_counter() - t:.0f} s")
    base = ServerHome.resolve()
    own = None
    if os.environ.get("NEO4J_URI"):
        settings = Neo4jSettings.from_env()
    else:
        own = ServerHome(tmp / "server")
        own.path.mkdir()
        if not base.installed:
            from kg.neo4j_local import install

            install(base, quiet=True)
        (own.path / "recipe").symlink_to(base.path / "recipe")
        own.plugins.mkdir()
        uri = start(own, bolt=17687, http=17474, heap="2g")
        settings = Neo4jSettings(uri, "neo4j", own.password(), "neo4j")
    try:
        with Neo4jClient(settings) as g:
            rates = []
            runs = ["fresh server (cold JVM)"] + [f"same server emptied, load {i + 2} (warm JVM)" for i in range(args.repeats)]
            for run in runs:
                clear(g)
                t = time.perf_counter()
                rep = load_graph(tmp / "graph", g, batch_size=args.batch_size, embeddings=False, workers=args.workers)
                dt = time.perf_counter() - t
                rates.append(n_rel / dt)
                print(f"batched loader, {run}: UNWIND {args.batch_size}, {args.workers} sessions, CREATE path for "
                      f"{len(rep.created)} fresh labels/types; nodes + relationships in {dt:.1f} s = "
                      f"{rates[-1]:,.0f} relationships/s (all rows: {(n_rel + sum(counts['nodes'].values())) / dt:,.0f}/s)")
                if own is None:
                    break  # someone else's server: its JVM state is unknown, one load is the figure
            rate = float(np.median(rates[1:])) if len(rates) > 1 else rates[0]
            print(f"loader throughput: {rates[0]:,.0f} relationships/s on a cold JVM; "
                  + (f"median of {len(rates) - 1} warm loads {rate:,.0f} relationships/s (target >= 50,000)"
                     if len(rates) > 1 else "(target >= 50,000)"))
            t = time.perf_counter()
            load_graph(tmp / "graph", g, batch_size=args.batch_size, embeddings=False, workers=args.workers)
            print(f"loading the same build again (MERGE, changes nothing): {time.perf_counter() - t:.1f} s")
            sample = g.run("MATCH (a:Image)-[r:POSITIVE]->(b:Concept) RETURN a.id AS s, b.cui AS e LIMIT $n", n=args.naive)
            g.run("MATCH (:Image)-[r:NAIVE]->() DELETE r")
            t = time.perf_counter()
            with g.session() as s:
                for row in sample:
                    s.execute_write(lambda tx, row=row: tx.run(
                        "MATCH (a:Image {id: $s}) MATCH (b:Concept {cui: $e}) MERGE (a)-[:NAIVE]->(b)", **row).consume())
            naive = len(sample) / (time.perf_counter() - t)
            print(f"naive per-row MERGE on {len(sample):,} relationships (same server, after the loads): "
                  f"{naive:,.0f} relationships/s; ratio loader / naive {rate / naive:.1f}x (cold JVM "
                  f"{rates[0] / naive:.1f}x; target >= 20x)")
        if own is not None:
            stop(own)
            from graph.formats.neo4j_admin import export_admin

            t = time.perf_counter()
            argv = export_admin(tmp / "graph", tmp / "csv", embeddings=False)
            t_csv = time.perf_counter() - t
            imp = ServerHome(tmp / "imported")
            imp.path.mkdir()
            (imp.path / "recipe").symlink_to(base.path / "recipe")
            imp.plugins.mkdir()
            write_conf(imp, 17688, 17475)
            t = time.perf_counter()
            r = admin(imp, argv[1:])
            t_imp = time.perf_counter() - t
            ok = "ok" if r.returncode == 0 else f"FAILED: {r.stderr[-500:]}"
            print(f"neo4j-admin import full: CSV export {t_csv:.1f} s, import {t_imp:.1f} s ({ok}) = "
                  f"{n_rel / t_imp:,.0f} relationships/s")
    finally:
        if own is not None:
            stop(own)
        print(f"peak client RSS: {peak_rss_mb():.0f} MB")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
