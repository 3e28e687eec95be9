"""Finding labels against public gold, medkg beside a peer measured in the same run.

    python bench/extract_quality.py [--openi ../shared/data/openi-dev] [--radgraph ../shared/data/radgraph-dev]

1. ``openi-dev`` (1,500 IU X-ray reports, NegBio/ChestX-ray14 gold): medkg's rules extractor through
   ``kg label --schema chestxray14`` (its defaults, and two other policies) and the keyword-and-negation baseline
   (``bench/keyword_baseline.py``) on the same report text; per-label and micro P/R/F1 over the 13 findings the
   gold marks (Hernia left out: that gold never marks it), and reports/s of each. Target (issue): micro-F1 >= 0.90,
   ahead of every peer. With ``--medspacy-python`` (or ``MEDKG_MEDSPACY_PYTHON``), medspacy's ConText pipeline too
   (``bench/medspacy_peer.py``, run by that interpreter: medspacy pins spaCy and its own dependencies, so it lives
   in a virtual environment of its own; bench/README.md says how to make one). Every peer reads the same text
   medkg labels: the FINDINGS and IMPRESSION sections (or the last paragraph) by medkg's section splitter.
2. ``radgraph-dev`` (300 CheXbert-test impressions, RadGraph-XL gold): medkg's entity and relation F1 by
   RadGraph's matching (``kg eval extract --radgraph``). Targets: entity F1 >= 0.75, relation F1 >= 0.55.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from bench.keyword_baseline import label as keyword_label  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def score_binary(labelled, gold: Path, path: Path):
    from extract.labels import score_label_csvs, write_labels

    write_labels([(rid, {**lab, "normal": int(not any(lab.values()))}) for rid, lab in labelled], "chestxray14", path)
    return score_label_csvs(path, gold, exclude=frozenset({"Hernia"}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--openi", type=Path, default=SHARED / "openi-dev")
    ap.add_argument("--radgraph", type=Path, default=SHARED / "radgraph-dev")
    ap.add_argument("--medspacy-python", default=os.environ.get("MEDKG_MEDSPACY_PYTHON"),
                    help="a Python with medspacy installed (bench/README.md)")
    args = ap.parse_args()
    from extract.labels import SCHEMAS, LabelPolicy, score_label_csvs
    from extract.sections import target_text
    from kg.corpus import Rejected, read_corpus
    from kg.labeling import run_label

    print(f"machine: {machine()}")
    gold = args.openi / "labels.csv"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, policy in (("medkg rules (default: U-Zeros, differentials positive)", LabelPolicy("zeros", differential="positive")),
                             ("medkg rules, U-Zeros, differentials uncertain", LabelPolicy("zeros")),
                             ("medkg rules, U-Ones", LabelPolicy("ones"))):
            t = time.perf_counter()
            c = run_label(args.openi / "reports", Path(tmp) / "p.csv", schema="chestxray14", policy=policy)
            rows.append((name, score_label_csvs(Path(tmp) / "p.csv", gold, exclude=frozenset({"Hernia"})),
                         c.labelled / (time.perf_counter() - t)))
        texts = [(s.report_id, target_text(s.text)) for s in read_corpus(args.openi / "reports")
                 if not isinstance(s, Rejected)]
        t = time.perf_counter()
        labelled = [(rid, keyword_label(text)) for rid, text in texts]
        speed = len(labelled) / (time.perf_counter() - t)
        rows.append(("keyword + negation baseline", score_binary(labelled, gold, Path(tmp) / "k.csv"), speed))
        if args.medspacy_python:
            (Path(tmp) / "in.jsonl").write_text("".join(json.dumps({"id": i, "text": x}) + "\n" for i, x in texts))
            t = time.perf_counter()
            subprocess.run([args.medspacy_python, str(Path(__file__).with_name("medspacy_peer.py")),
                            str(Path(tmp) / "in.jsonl"), str(Path(tmp) / "out.jsonl")], check=True)
            speed = len(texts) / (time.perf_counter() - t)  # its model load included
            out = [json.loads(x) for x in (Path(tmp) / "out.jsonl").read_text().splitlines()]
            for name, hedged in (("medspacy ConText, uncertain -> 0", 0), ("medspacy ConText, uncertain -> 1", 1)):
                labs = [(o["id"], {f: {"present": 1, "uncertain": hedged}.get(o["labels"].get(f), 0)
                                   for f in SCHEMAS["chestxray14"]}) for o in out]
                rows.append((name, score_binary(labs, gold, Path(tmp) / "m.csv"), speed))
        else:
            print("medspacy: not measured (pass --medspacy-python; bench/README.md says how to install it)")
    n = sum(1 for _ in csv.reader(gold.open())) - 1
    print(f"\nopeni-dev: {n:,} reports, NegBio/ChestX-ray14 gold, 13 findings (micro over present labels)")
    print("| who | micro P | micro R | micro F1 | reports/s |")
    print("|---|---|---|---|---|")
    for name, ev, speed in rows:
        m = ev.as_dict()["micro"]
        print(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {speed:,.0f} |")
    labels = list(rows[0][1].labels)
    print("\nper label F1: | label | " + " | ".join(r[0] for r in rows) + " |")
    for label in labels:
        print(f"| {label} | " + " | ".join(f"{r[1].as_dict()['perLabel'][label]['f1']:.3f}" for r in rows) + " |")
    best_peer = max(r[1].as_dict()["micro"]["f1"] for r in rows if not r[0].startswith("medkg"))
    best = max(r[1].as_dict()["micro"]["f1"] for r in rows if r[0].startswith("medkg"))
    print(f"\nbest medkg micro-F1 {best:.3f} (target >= 0.90); best peer {best_peer:.3f}; ratio {best / best_peer:.3f}")

    if (args.radgraph / "radgraph_xl.json").is_file():
        from kg.evaluating import eval_radgraph

        t = time.perf_counter()
        r = eval_radgraph(args.radgraph / "radgraph_xl.json")
        print(f"\nradgraph-dev: entity F1 {r['entity']['f1']:.3f} (target >= 0.75), relation F1 "
              f"{r['relation']['f1']:.3f} (target >= 0.55), {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
