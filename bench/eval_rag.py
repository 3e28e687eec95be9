"""`kg eval rag` at scale: the retrieval-only baseline on a generated store of 20,000 images, and how its intervals
shrink as the split grows.

    python bench/eval_rag.py [--images 20000] [--sizes 1000,5000,20000]

The store (kg.sample.stores.report_store) has one report per image stating three CheXpert findings in words, and
its neighbours share them with a known probability, so clinical efficacy is measurable without a VLM. For each
split size (the first N images) it runs `evaluate` (report task, contexts none,fixed:7,ratio:1.5) and prints the
wall time, micro-F1 per setting and the width of the fixed:7-vs-none 95% interval. Target (issue): <= 60 s for
20,000 images on 2 cores; the intervals shrink as the split grows (about 1/sqrt(N)).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kg.core.environment import one_blas_thread  # noqa: E402

one_blas_thread()  # as `kg eval rag` does, before numpy loads

from bench.common import machine, peak_rss_mb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--sizes", default="1000,5000,20000")
    args = ap.parse_args()
    from kg.rag_eval import EvalRun, evaluate
    from kg.sample.stores import report_store

    work = Path(tempfile.mkdtemp(prefix="medkg-eval-rag-bench-"))
    t = time.perf_counter()
    report_store(work / "g", images=args.images)
    print(f"machine: {machine()}")
    print(f"generated store: {args.images:,} images in {time.perf_counter() - t:.1f} s")
    for n in (int(x) for x in args.sizes.split(",")):
        t = time.perf_counter()
        r = evaluate(EvalRun(work / "g", "retrieval-only", split="test", contexts="none,fixed:7,ratio:1.5", limit=n))
        wall = time.perf_counter() - t
        d = next(x for x in r["differences"] if x["from"] == "none" and x["to"] == "fixed:7")
        f1 = ", ".join(f"{k} {v['micro']['f1']:.3f}" for k, v in r["settings"].items())
        print(f"{r['cases']:>6,} images: {wall:6.1f} s ({'met' if wall <= 60 or r['cases'] < 20_000 else 'MISSED'} "
              f"<= 60 s at 20,000); micro-F1 {f1}; fixed:7 - none {d['difference']:+.3f}, 95% CI width "
              f"{d['ci95'][1] - d['ci95'][0]:.4f}; seconds per setting "
              + ", ".join(f"{k} {v['seconds']:.1f}" for k, v in r["settings"].items()))
    print(f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
