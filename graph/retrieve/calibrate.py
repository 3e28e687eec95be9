"""Choosing k with a guarantee (RULE's calibration, Learn-then-Test).

For each candidate ``k`` the factuality risk ``FR(k)`` is the mean per-case loss on a labelled calibration set
(here: 1 − the share of a case's own findings whose polarity the top-``k`` neighbours' aggregated findings get
right). Each ``k`` is tested against ``H_k: FR(k) > alpha`` with the Hoeffding–Bentkus p-value

    p_k = min( exp(−n · h1(min(FR̂(k), alpha), alpha)),  e · P(Bin(n, alpha) ≤ ⌈n · FR̂(k)⌉) ),
    h1(a, b) = a · log(a / b) + (1 − a) · log((1 − a) / (1 − b)),

and accepted when ``p_k ≤ delta / |K|`` (Bonferroni) or, with ``fixed-sequence``, in the given order until the
first ``p_k > delta``. Then ``P(FR(k) ≤ alpha for every accepted k) ≥ 1 − delta``. The chosen ``k`` is the
accepted one with the lowest empirical risk (ties: the smaller ``k``); with none accepted the context abstains.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from extract.records import Polarity
from kg.core.errors import InvalidInput

if TYPE_CHECKING:
    from graph.store import FileStore, Store


def h1(a: float, b: float) -> float:
    """Bernoulli KL divergence KL(a || b), with 0·log 0 = 0."""
    out = 0.0
    if a > 0:
        out += a * math.log(a / b)
    if a < 1:
        out += (1 - a) * math.log((1 - a) / (1 - b))
    return out


def binom_cdf(x: int, n: int, p: float) -> float:
    """P(Bin(n, p) <= x), summed in log space."""
    if x < 0:
        return 0.0
    if x >= n:
        return 1.0
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p)
            + (n - i) * math.log1p(-p) for i in range(x + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def hb_pvalue(risk: float, n: int, alpha: float) -> float:
    """The Hoeffding–Bentkus p-value of ``FR > alpha`` given the empirical risk of ``n`` cases."""
    hoeffding = math.exp(-n * h1(min(risk, alpha), alpha))
    bentkus = math.e * binom_cdf(math.ceil(n * risk), n, alpha)
    return min(hoeffding, bentkus, 1.0)


METHODS = ("bonferroni", "fixed-sequence")


@dataclass(frozen=True)
class Calibration:
    alpha: float
    delta: float
    n: int
    method: str
    risks: dict[int, float]
    p_values: dict[int, float]
    accepted: tuple[int, ...]
    chosen: int | None

    @property
    def guarantee(self) -> str:
        if self.method not in METHODS:
            return f"no guarantee: k = {self.chosen} by the {self.method} rule (a baseline for comparison)"
        if self.chosen is None:
            return (f"no k passed: on {self.n} calibration cases no k kept the factuality risk at or below "
                    f"{self.alpha} with confidence {1 - self.delta:.2f}; the context abstains")
        return (f"with probability at least {1 - self.delta:.2f} over the draw of the {self.n} calibration cases, "
                f"every accepted k ({', '.join(map(str, self.accepted))}) has factuality risk at most {self.alpha}; "
                f"k = {self.chosen} is used (Learn-then-Test, Hoeffding-Bentkus, {self.method})")

    def as_json(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "delta": self.delta, "n": self.n, "method": self.method,
                "risks": {str(k): v for k, v in self.risks.items()},
                "pValues": {str(k): v for k, v in self.p_values.items()}, "accepted": list(self.accepted),
                "chosen": self.chosen, "guarantee": self.guarantee}


def calibrate(losses: dict[int, np.ndarray], *, alpha: float = 0.1, delta: float = 0.05,
              method: str = "bonferroni", order: list[int] | None = None) -> Calibration:
    """``losses[k]``: the per-case losses (in [0, 1]) with ``k`` neighbours, the same cases for every ``k``."""
    if not (0 < alpha < 1 and 0 < delta < 1):
        raise InvalidInput(f"alpha and delta must lie in (0, 1), not {alpha} and {delta}", code="E194",
                           fix="e.g. --alpha 0.1 --delta 0.05")
    if method not in METHODS:
        raise InvalidInput(f"unknown calibration method {method!r}", code="E195", fix="use bonferroni or fixed-sequence")
    ks = sorted(losses)
    if not ks:
        raise InvalidInput("no candidate k to calibrate", code="E196", fix="give at least one k")
    n = len(losses[ks[0]])
    if n == 0 or any(len(losses[k]) != n for k in ks):
        raise InvalidInput("every k needs the losses of the same, non-empty set of cases", code="E197",
                           fix="label at least one calibration case")
    risks = {k: float(np.mean(np.clip(losses[k], 0.0, 1.0))) for k in ks}
    pv = {k: hb_pvalue(risks[k], n, alpha) for k in ks}
    if method == "bonferroni":
        accepted = [k for k in ks if pv[k] <= delta / len(ks)]
    else:
        accepted = []
        for k in order or ks:
            if pv[k] > delta:
                break
            accepted.append(k)
    chosen = min(accepted, key=lambda k: (risks[k], k)) if accepted else None
    return Calibration(alpha, delta, n, method, {k: round(risks[k], 6) for k in ks}, pv, tuple(sorted(accepted)), chosen)


def plug_in(losses: dict[int, np.ndarray], *, alpha: float = 0.1, delta: float = 0.05, **_: Any) -> Calibration:
    """The rule without a test, a baseline to compare with: accept every k whose empirical risk is at most ``alpha``
    and choose the lowest. It promises nothing (never stored by `kg calibrate`)."""
    ks = sorted(losses)
    risks = {k: float(np.mean(losses[k])) for k in ks}
    accepted = tuple(k for k in ks if risks[k] <= alpha)
    chosen = min(accepted, key=lambda k: (risks[k], k)) if accepted else None
    return Calibration(alpha, delta, len(losses[ks[0]]), "plug-in", risks, {}, accepted, chosen)


@dataclass(frozen=True)
class HoldoutCheck:
    """How the calibration fared over random splits of the cases into a calibration part and a test part."""

    splits: int
    n_calibration: int
    n_test: int
    alpha: float
    delta: float
    method: str
    chosen_over: int  # splits where the chosen k's risk on the test part is above alpha
    accepted_over: int  # splits where some accepted k's risk on the test part is above alpha
    abstained: int  # splits where no k passed
    chosen: dict[int, int]  # how often each k was chosen

    def as_json(self) -> dict[str, Any]:
        return {"splits": self.splits, "nCalibration": self.n_calibration, "nTest": self.n_test, "alpha": self.alpha,
                "delta": self.delta, "method": self.method, "chosenOver": self.chosen_over,
                "acceptedOver": self.accepted_over, "abstained": self.abstained,
                "chosen": {str(k): v for k, v in sorted(self.chosen.items())}}

    @property
    def summary(self) -> str:
        picked = ", ".join(f"k={k} {n}x" for k, n in sorted(self.chosen.items()))
        return (f"over {self.splits} random splits ({self.n_calibration} calibration / {self.n_test} test cases): "
                f"the chosen k's test risk was above alpha={self.alpha} in {self.chosen_over} "
                f"({self.chosen_over / self.splits:.1%}; promised at most delta={self.delta}), some accepted k's in "
                f"{self.accepted_over} ({self.accepted_over / self.splits:.1%}); abstained in {self.abstained}; "
                f"chosen: {picked or 'none'}")


def holdout_check(losses: dict[int, np.ndarray], *, alpha: float = 0.1, delta: float = 0.05, method: str = "bonferroni",
                  order: list[int] | None = None, splits: int = 200, calibration_share: float = 0.5,
                  seed: int = 0, rule: Callable[..., Calibration] = calibrate) -> HoldoutCheck:
    """Calibrate on a random ``calibration_share`` of the cases and measure the accepted ks' risk on the rest,
    ``splits`` times: how often the promise (risk at most ``alpha``) is broken on cases the calibration never saw.
    ``rule`` chooses on the calibration part (default :func:`calibrate`; :func:`plug_in` to compare)."""
    ks = sorted(losses)
    n = len(losses[ks[0]]) if ks else 0
    m = int(round(n * calibration_share))
    if not 0 < m < n or splits < 1:
        raise InvalidInput(f"cannot split {n} cases into calibration and test parts {splits} times", code="E1142",
                           fix="label more cases, or pass a calibration share in (0, 1) and at least one split")
    table = np.stack([np.clip(np.asarray(losses[k], dtype=np.float64), 0.0, 1.0) for k in ks])
    rng = np.random.default_rng(seed)
    chosen_over = accepted_over = abstained = 0
    chosen: dict[int, int] = {}
    for _ in range(splits):
        perm = rng.permutation(n)
        cal = rule({k: table[j, perm[:m]] for j, k in enumerate(ks)}, alpha=alpha, delta=delta, method=method,
                   order=order)
        test_risk = dict(zip(ks, table[:, perm[m:]].mean(axis=1)))
        if cal.chosen is None:
            abstained += 1
        else:
            chosen[cal.chosen] = chosen.get(cal.chosen, 0) + 1
            chosen_over += bool(test_risk[cal.chosen] > alpha)
        accepted_over += any(test_risk[k] > alpha for k in cal.accepted)
    return HoldoutCheck(splits, m, n - m, alpha, delta, cal.method, chosen_over, accepted_over, abstained, chosen)


def case_losses(store: Store, image_ids: list[str], ks: list[int], *, exclude: str = "patient") -> dict[int, np.ndarray]:
    """Per-case losses for each ``k``: each calibration image's own findings are its labels, and the loss is the
    share of them whose polarity the top-``k`` neighbours' findings (highest support per concept) get wrong."""
    from graph.retrieve.context import Retriever
    from graph.retrieve.findings import aggregate

    kmax = max(ks)
    retriever = Retriever(store)
    out: dict[int, list[float]] = {k: [] for k in ks}
    for img in image_ids:
        labels = {r["cui"]: Polarity.of_edge(r["type"]) for r in store.findings_of(img)}
        if not labels:
            continue
        # the out-of-distribution guard off: the risk of each k is measured on every case, as RULE does
        neighbours = list(retriever.context(image_id=img, k=kmax, hops=0, exclude=exclude, ood_percentile=0).neighbours)
        for k in ks:
            best: dict[str, Polarity] = {}
            for f in aggregate(store, neighbours[:k]):  # most support first
                best.setdefault(f.concept.cui, f.polarity)
            out[k].append(1.0 - sum(best.get(c) == p for c, p in labels.items()) / len(labels))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def calibration_cases(files: FileStore, split: str) -> list[str]:
    """The images of the studies in ``split`` (``all`` for every image), in id order."""
    studies = {r["id"] for r in files.nodes("Study") if split == "all" or r.get("split") == split}
    cases = sorted(r["id"] for r in files.nodes("Image") if r.get("studyId") in studies and r["id"] in files.index)
    if not cases:
        # only values that would work: splits some indexed image belongs to
        indexed = {r.get("studyId") for r in files.nodes("Image") if r["id"] in files.index}
        splits = sorted({r["split"] for r in files.nodes("Study") if r.get("split") and r["id"] in indexed})
        if not indexed:
            raise InvalidInput("the build has no indexed image to calibrate on", code="E1148",
                               fix="build a corpus with images (kg build ... --images ROOT)")
        if not splits:
            raise InvalidInput(f"no image in the {split!r} split: the build's studies have no split (its corpus "
                               "named none)", code="E198", fix="pass --split all to calibrate on every image")
        raise InvalidInput(f"no image in the {split!r} split", code="E1149",
                           fix=f"pass --split with one of: {', '.join(splits)}, or all")
    return cases
