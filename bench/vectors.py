"""Vector search: recall@10 of the HNSW index against exact search, and query latency.

    python bench/vectors.py [--n 100000] [--dim 512] [--queries 500] [--ef 64,128,256,512]

Two data sets of unit vectors, both measured in the same run:
* ``isotropic``: i.i.d. Gaussian in all dims — the issue's "random vectors", and the worst case
  for any approximate index (all points nearly equidistant);
* ``low-rank``: Gaussian in a 32-dim latent space mapped to --dim plus small noise — closer to
  learned image embeddings, whose intrinsic dimension is far below their width.
Target (issue): recall@10 >= 0.95 on 100k random vectors.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, peak_rss_mb  # noqa: E402
from embed.index import VectorIndex  # noqa: E402


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def data(kind, n, q, dim, rng):
    if kind == "isotropic":
        return unit(rng.normal(size=(n, dim))), unit(rng.normal(size=(q, dim)))
    proj = rng.normal(size=(32, dim))
    make = lambda m: unit(rng.normal(size=(m, 32)) @ proj + 0.1 * rng.normal(size=(m, dim)))  # noqa: E731
    return make(n), make(q)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--ef", default="64,128,256,512")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    for kind in ("isotropic", "low-rank"):
        rng = np.random.default_rng(0)
        v, q = data(kind, args.n, args.queries, args.dim, rng)
        ids = [f"I{i:07d}" for i in range(args.n)]
        t = time.perf_counter()
        idx = VectorIndex(ids, v, kind="hnsw")
        build = time.perf_counter() - t
        exact, lat_e = [], []
        for row in q:
            t = time.perf_counter()
            exact.append({x for x, _ in idx.search(row, 10, exact=True)})
            lat_e.append(time.perf_counter() - t)
        print(f"[{kind}] {args.n:,} x {args.dim}, {args.queries} queries; HNSW M={idx.params['M']} "
              f"efConstruction={idx.params['efConstruction']}, build {build:.0f} s; exact numpy median "
              f"{statistics.median(lat_e) * 1e3:.2f} ms/query")
        for ef in [int(e) for e in args.ef.split(",")]:
            idx._faiss_index.hnsw.efSearch = ef
            lat, rec = [], []
            for row, ex in zip(q, exact):
                t = time.perf_counter()
                got = {x for x, _ in idx.search(row, 10)}
                lat.append(time.perf_counter() - t)
                rec.append(len(got & ex) / 10)
            print(f"  efSearch {ef}: recall@10 {np.mean(rec):.4f}, median {statistics.median(lat) * 1e3:.2f} ms/query")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
