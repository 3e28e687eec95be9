"""A seeded split of the triples by edge into train / valid / test, with no inverse-edge leakage.

Two ways a held-out edge leaks into training, both closed here:

* the model's own inverse edges (``r + R`` in message passing) are built from the training triples only
  (:meth:`KGData.edge_index`);
* the data's inverse relations: where a relation pair (``ISA`` / ``INVERSE_ISA``, a symmetric ``SIBLING_OF``)
  mirrors most of its edges, ``(h, r, t)`` and ``(t, r', h)`` are one group and land in the same part, as the
  FB15k-237 and WN18RR clean-ups did for FB15k and WN18.

Held-out triples whose head, tail or relation never occurs in training cannot be scored by a transductive model;
they move to training and are counted (``moved``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kg.core.errors import InvalidInput

INVERSE_SHARE = 0.8  # a relation pair is inverse when this share of the smaller one's edges is mirrored


@dataclass
class Split:
    """Triples ``[E, 3]`` per part, and what the split did."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    seed: int
    ratios: tuple[float, float, float]
    inverse_pairs: list[tuple[int, int]]
    moved: int

    def describe(self, relations: list[str]) -> dict:
        return {"seed": self.seed, "ratios": list(self.ratios), "train": int(len(self.train)),
                "valid": int(len(self.valid)), "test": int(len(self.test)), "movedToTrain": self.moved,
                "inversePairs": [[relations[a], relations[b]] for a, b in self.inverse_pairs]}


def inverse_pairs(triples: np.ndarray, share: float = INVERSE_SHARE) -> list[tuple[int, int]]:
    """Relation pairs ``(a, b)``, ``a <= b``, where at least ``share`` of the smaller relation's edges have their
    mirror ``(t, other, h)`` in the other (``a == b``: a symmetric relation)."""
    by_rel: dict[int, set[tuple[int, int]]] = {}
    for h, r, t in triples.tolist():
        by_rel.setdefault(r, set()).add((h, t))
    mirrored: dict[tuple[int, int], int] = {}
    owners: dict[tuple[int, int], list[int]] = {}
    for r, pairs in by_rel.items():
        for p in pairs:
            owners.setdefault(p, []).append(r)
    for r, pairs in by_rel.items():
        for h, t in pairs:
            for other in owners.get((t, h), ()):
                key = (min(r, other), max(r, other))
                mirrored[key] = mirrored.get(key, 0) + 1
    out = []
    for (a, b), n in sorted(mirrored.items()):
        n = n if a == b else n // 2  # a pair's mirrors were counted from both sides
        if n >= share * min(len(by_rel[a]), len(by_rel[b])):
            out.append((a, b))
    return out


def split_edges(triples: np.ndarray, *, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0,
                inverse_share: float = INVERSE_SHARE) -> Split:
    """Shuffle groups of triples (a triple and its data-inverse mirror are one group) with ``seed`` and cut them
    by ``ratios``."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6 or ratios[0] <= 0:
        raise InvalidInput(f"split ratios {ratios} must be three non-negative shares summing to 1, train > 0",
                           code="E1102", fix="e.g. --split 0.8,0.1,0.1")
    if len(triples) < 10:
        raise InvalidInput(f"only {len(triples)} triples: too few to hold any out", code="E1103",
                           fix="train on a graph with at least a few hundred edges")
    pairs = inverse_pairs(triples, inverse_share)
    partner: dict[int, set[int]] = {}
    for a, b in pairs:
        partner.setdefault(a, set()).add(b)
        partner.setdefault(b, set()).add(a)
    group: dict[tuple[int, int, int], int] = {}
    ids = np.empty(len(triples), dtype=np.int64)
    for n, (h, r, t) in enumerate(triples.tolist()):
        key = (h, r, t)
        for p in partner.get(r, ()):
            mirror = (t, p, h)
            if mirror in group:
                key = mirror
                break
        ids[n] = group.setdefault(key, len(group))
    order = np.random.default_rng(seed).permutation(len(group))
    n_train = int(round(ratios[0] * len(group)))
    n_valid = int(round(ratios[1] * len(group)))
    part = np.empty(len(group), dtype=np.int8)
    part[order[:n_train]] = 0
    part[order[n_train:n_train + n_valid]] = 1
    part[order[n_train + n_valid:]] = 2
    where = part[ids]
    train, valid, test = triples[where == 0], triples[where == 1], triples[where == 2]
    seen_e = set(train[:, 0].tolist()) | set(train[:, 2].tolist())
    seen_r = set(train[:, 1].tolist())

    def keep(x: np.ndarray) -> np.ndarray:
        return np.array([h in seen_e and t in seen_e and r in seen_r for h, r, t in x.tolist()], dtype=bool) \
            if len(x) else np.zeros(0, dtype=bool)

    kv, kt = keep(valid), keep(test)
    moved = int((~kv).sum() + (~kt).sum())
    train = np.concatenate([train, valid[~kv], test[~kt]])
    return Split(np.unique(train, axis=0), valid[kv], test[kt], seed, (ratios[0], ratios[1], ratios[2]), pairs, moved)
