"""Neighbor-aware filtering at scale.

    python bench/naf.py [--images 400000] [--edges-per-image 10] [--concepts 5000] [--repeats 3]

Generates a random MEDMKG-shaped graph (Zipf-distributed concept popularity, three polarity
relations) and times graph.naf.naf for `medmkg` and `greedy`. Target (issue): medmkg on
400k images x 10 edges over 5k concepts in <= 10 s and <= 2 GB.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, peak_rss_mb, timed  # noqa: E402
from graph.naf import naf  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=400_000)
    ap.add_argument("--edges-per-image", type=int, default=10)
    ap.add_argument("--concepts", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", default="medmkg,greedy")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n, k = args.images, args.edges_per_image
    ids = [f"I{i:08d}" for i in range(n)]
    ei = np.repeat(np.arange(n, dtype=np.int64), k)
    ranks = np.arange(1, args.concepts + 1)
    p = 1.0 / ranks
    ec = rng.choice(args.concepts, size=n * k, p=p / p.sum()).astype(np.int64)
    er = rng.choice(3, size=n * k, p=[0.5, 0.4, 0.1]).astype(np.int64)
    print(f"machine: {machine()}")
    print(f"input: {n:,} images x {k} edges = {n * k:,} edges over {args.concepts:,} concepts")
    for method in args.methods.split(","):
        result = {}

        def run(result=result, method=method):
            result["r"] = naf(ids, ei, er, ec, method)

        med, all_ = timed(run, args.repeats)
        kept = int(result["r"].kept.sum())
        print(f"{method}: median {med:.2f} s (runs {', '.join(f'{t:.2f}' for t in all_)}), kept {kept:,} images, "
              f"concepts covered {len(np.unique(ec[result['r'].kept[ei]])):,}/{len(np.unique(ec)):,}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
