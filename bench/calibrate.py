"""Does `kg calibrate` keep its promise on cases it never saw?

    python bench/calibrate.py [--groups 150] [--max-k 20] [--alpha 0.1] [--delta 0.05] [--splits 200]
                              [--calibration-cases 100,400,1200] [--agree 0.94]

Generates a store where neighbours share findings with a known probability (kg.sample.stores.agreement_store: groups
of 16 similar images; each report agrees with its group's findings with probability --agree, 0.94, so one or two neighbours
get a finding wrong more often than alpha allows and more neighbours vote the mistakes down), computes every case's
loss for k = 1..max-k through the retrieval `kg calibrate` uses, then for each calibration size draws --splits random
calibration/test splits and reports how often the k chosen on the calibration part has a risk above alpha on the test
part (the promise: at most delta), how often any accepted k does, and how often it abstains. In the same run, on the
same splits, two peers: the plug-in rule (accept every k whose calibration risk is at most alpha, choose the lowest;
no p-values) and KG-LLaVA's fixed k = 7.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from graph.retrieve.calibrate import Calibration, calibration_cases, case_losses, holdout_check, plug_in  # noqa: E402
from graph.store import FileStore  # noqa: E402
from kg.sample.stores import agreement_store  # noqa: E402


def fixed(k: int):
    """KG-LLaVA's rule: always k, no test."""
    def rule(losses: dict[int, np.ndarray], *, alpha: float, delta: float, **_) -> Calibration:
        return Calibration(alpha, delta, len(losses[k]), f"fixed k = {k}", {}, {}, (k,), k)
    return rule


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=150, help="groups of 16 images (cases = 16 x groups)")
    ap.add_argument("--max-k", type=int, default=20)
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--delta", type=float, default=0.05)
    ap.add_argument("--splits", type=int, default=200)
    ap.add_argument("--calibration-cases", default="100,400,1200")
    ap.add_argument("--agree", type=float, default=0.94, help="the chance a report agrees with its group's findings")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        files = FileStore(agreement_store(Path(tmp) / "store", groups=a.groups, agree=a.agree, seed=a.seed))
        cases = calibration_cases(files, "validate")
        losses = case_losses(files, cases, list(range(1, a.max_k + 1)))
        print(f"store: {len(cases):,} cases (agreement {a.agree}), losses for k = 1..{a.max_k} in "
              f"{time.perf_counter() - t:.1f} s")
    n = len(losses[1])
    print("risk over all cases by k: " + ", ".join(f"{k}: {v.mean():.3f}" for k, v in losses.items()))
    print(f"\nalpha = {a.alpha}, delta = {a.delta}, {a.splits} random calibration/test splits per row; counts are "
          f"splits (promise: the first column at most delta x splits = {a.delta * a.splits:.0f})\n")
    print("| calibration cases | rule | chosen k's test risk > alpha | some accepted k's > alpha | abstained | chosen k |")
    print("|---|---|---|---|---|---|")
    for n_cal in (int(x) for x in a.calibration_cases.split(",") if x.strip()):
        if not 0 < n_cal < n:
            raise SystemExit(f"--calibration-cases: {n_cal} is not between 1 and {n - 1}")
        for method, order in (("bonferroni", None), ("fixed-sequence", list(range(a.max_k, 0, -1)))):
            h = holdout_check(losses, alpha=a.alpha, delta=a.delta, method=method, order=order, splits=a.splits,
                              calibration_share=n_cal / n, seed=a.seed)
            top = max(h.chosen, key=h.chosen.get) if h.chosen else "-"
            print(f"| {h.n_calibration} | Learn-then-Test, {method} | {h.chosen_over} ({h.chosen_over / a.splits:.1%}) "
                  f"| {h.accepted_over} ({h.accepted_over / a.splits:.1%}) | {h.abstained} | mostly {top} |")
        for name, rule in (("plug-in (calibration risk <= alpha)", plug_in), ("fixed k = 7 (KG-LLaVA)", fixed(7))):
            h = holdout_check(losses, alpha=a.alpha, delta=a.delta, splits=a.splits, calibration_share=n_cal / n,
                              seed=a.seed, rule=rule)
            print(f"| {h.n_calibration} | {name} | {h.chosen_over} ({h.chosen_over / a.splits:.1%}) "
                  f"| {h.accepted_over} ({h.accepted_over / a.splits:.1%}) | {h.abstained} | |")


if __name__ == "__main__":
    main()
