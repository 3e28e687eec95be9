"""The out-of-distribution guard: is the query's best match as close as the graph's own images' best matches?

Every build measures, for (a sample of) its own images, the cosine similarity of the nearest image of *another*
patient (and, separately, of another study), with exact search over every indexed image. That distribution is
what a match looks like for an image the graph knows the like of. A query whose best match falls below a low
percentile of it (default: the 1st) has no similar image in the graph: the context abstains and says so, instead
of handing a model the findings of images that merely happen to be the least dissimilar.

The distribution is stored as 101 quantiles (0th..100th percentile) per reference in the manifest
(``similarity``), so any percentile can be asked for at query time. It is measured with the build's own vectors,
so it is the encoder's own scale: a raw-pixel encoder and a learned one get their own floors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kg.core.errors import InvalidInput

SAMPLE = 2000  # images whose best match is measured (all of them below this); 20 fall below the 1st percentile
DEFAULT_PERCENTILE = 1.0
REFERENCES = ("patient", "study")  # what was held out when an image's best match was measured
_BATCH = 64
_SEED = 0


def ordinal(p: float) -> str:
    """1 -> '1st', 2 -> '2nd', 2.5 -> '2.5th', 11 -> '11th'."""
    if float(p).is_integer():
        n = int(p)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"
    return f"{p:g}th"


def best_other(vectors: np.ndarray, groups: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """For each image ``rows[i]``, the highest cosine to an image of another group, for each grouping in ``groups``
    (``groups[name][j]`` is image j's group number). NaN where every image shares the row's group."""
    out = {name: np.full(len(rows), np.nan, dtype=np.float64) for name in groups}
    for b in range(0, len(rows), _BATCH):
        idx = rows[b : b + _BATCH]
        sims = vectors @ vectors[idx].T  # n x batch, exact
        for name, g in groups.items():
            masked = np.where(g[:, None] == g[idx][None, :], -np.inf, sims)
            best = masked.max(axis=0)
            out[name][b : b + len(idx)] = np.where(np.isfinite(best), best, np.nan)
    return out


def measure(ids: list[str], vectors: np.ndarray, study_of: dict[str, str], patient_of: dict[str, str], *,
            encoder: str, sample: int = SAMPLE) -> dict[str, Any]:
    """The manifest's ``similarity`` record for a vector index (``ids``, L2-normalised ``vectors``): the quantiles
    of each image's best match outside its own patient and outside its own study."""
    n = len(ids)
    rows = np.arange(n) if n <= sample else np.sort(np.random.default_rng(_SEED).choice(n, sample, replace=False))
    studies = [study_of.get(i) or f"image:{i}" for i in ids]
    patients = [patient_of.get(s) or f"study:{s}" for s in studies]
    groups = {"study": _numbered(studies), "patient": _numbered(patients)}
    best = best_other(np.ascontiguousarray(vectors, dtype=np.float32), groups, rows) if n else {}
    record: dict[str, Any] = {"encoder": encoder, "images": n, "sample": int(len(rows)),
                    "method": "exact cosine of each sampled image's nearest image of another patient (study)"}
    for name in REFERENCES:
        values = best.get(name, np.empty(0))
        values = values[np.isfinite(values)]
        record[name] = [round(float(x), 6) for x in np.quantile(values, np.linspace(0, 1, 101))] if len(values) else None
    return record


def measure_rows(ids: list[str], vectors: np.ndarray, images: list[dict[str, Any]], studies: list[dict[str, Any]], *,
                 encoder: str, sample: int = SAMPLE) -> dict[str, Any]:
    """:func:`measure` with the owners read from the graph's ``Image`` (``id``, ``studyId``) and ``Study`` (``id``,
    ``patientId``) rows."""
    return measure(ids, vectors, {r["id"]: r["studyId"] for r in images if r.get("studyId")},
                   {r["id"]: r["patientId"] for r in studies if r.get("patientId")}, encoder=encoder, sample=sample)


def _numbered(labels: list[str]) -> np.ndarray:
    numbers: dict[str, int] = {}
    return np.asarray([numbers.setdefault(x, len(numbers)) for x in labels], dtype=np.int64)


@dataclass(frozen=True)
class Floor:
    """The similarity under which a query's best match has no like in the graph, and how it was set."""

    value: float | None  # None: no floor applies
    percentile: float | None  # the percentile of the graph's distribution behind ``value``
    reference: str | None  # "patient" or "study"
    min_similarity: float | None  # the caller's own floor, when it is the higher one
    quantiles: tuple[float, ...] = ()

    def rank(self, similarity: float) -> float | None:
        """The percentile of the graph's own best matches that ``similarity`` reaches (0..100)."""
        if not self.quantiles:
            return None
        q = np.asarray(self.quantiles)
        # the share of the graph's best matches at or below ``similarity`` (ties count as reached)
        return round(float(np.interp(similarity, q, np.linspace(0, 100, len(q)), left=0.0, right=100.0)), 1)

    def reason(self, best: float) -> str:
        """Why a best match of ``best`` is too weak (the caller checked ``best < value``)."""
        if self.min_similarity is not None and self.value == self.min_similarity:
            return f"no similar image in the graph (best cosine {best:.2f}, below min_similarity {self.min_similarity:.2f})"
        return (f"no similar image in the graph (best cosine {best:.2f}, the graph's {ordinal(self.percentile or 0)} "
                f"percentile is {self.value:.2f})")


def check_percentile(percentile: float) -> float:
    if not 0.0 <= float(percentile) <= 50.0:
        raise InvalidInput(f"ood_percentile must be between 0 and 50, not {percentile}", code="E1143",
                           fix="pass a low percentile such as 1 (the default) or 5; 0 turns the guard off")
    return float(percentile)


def floor_for(record: dict[str, Any] | None, reference: str, percentile: float, min_similarity: float | None) -> Floor:
    """The floor for a query: the ``percentile`` of the graph's distribution held out by ``reference``, or the
    caller's ``min_similarity`` when that is higher. ``percentile`` 0 turns the graph's floor off."""
    check_percentile(percentile)
    quantiles = tuple((record or {}).get(reference) or ())
    value = None
    if quantiles and percentile > 0:
        value = round(float(np.interp(percentile, np.linspace(0, 100, len(quantiles)), quantiles)), 6)
    if min_similarity is not None and (value is None or min_similarity >= value):
        return Floor(min_similarity, None, reference if quantiles else None, min_similarity, quantiles)
    return Floor(value, percentile if value is not None else None, reference if quantiles else None, None, quantiles)
