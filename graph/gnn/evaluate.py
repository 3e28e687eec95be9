"""Rank-based link-prediction metrics: MRR and Hits@k for head and tail prediction, filtered and raw, overall and
per relation.

For a test triple ``(h, r, t)`` the model scores every entity as the tail of ``(h, r, ?)`` (and as the head of
``(?, r, t)``). **Raw** ranks count every entity scored above the true one; **filtered** ranks first drop the
other entities that complete a known triple (train, valid or test), as Bordes et al. (2013) define it. Ties take
the mean of the optimistic and pessimistic rank (PyKEEN's "realistic" rank), so a model that scores everything
equal gets rank (N + 1) / 2, not 1.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

KS = (1, 3, 10)


def known_index(*parts: np.ndarray) -> tuple[dict, dict]:
    """``(h, r) -> tails`` and ``(r, t) -> heads`` over every known triple."""
    tails: dict[tuple[int, int], list[int]] = defaultdict(list)
    heads: dict[tuple[int, int], list[int]] = defaultdict(list)
    for part in parts:
        for h, r, t in part.tolist():
            tails[(h, r)].append(t)
            heads[(r, t)].append(h)
    return dict(tails), dict(heads)


def _ranks(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Realistic ranks of ``target`` ``[B]`` in ``scores`` ``[B, N]`` (1 is best)."""
    s = scores.float()
    true = s.gather(1, target.view(-1, 1))
    greater = (s > true).sum(1)
    equal = (s == true).sum(1)  # includes the target itself
    return (greater + 1 + greater + equal).double() / 2


def rank_triples(model, triples: np.ndarray, filters: tuple[dict, dict], *, batch: int = 256,
                 device: torch.device | str = "cpu") -> dict[str, dict[str, np.ndarray]]:
    """Ranks ``{"raw"|"filtered": {"head"|"tail": float64 [E]}}`` of ``triples`` under ``model``."""
    tails_of, heads_of = filters
    out: dict[str, dict[str, list[np.ndarray]]] = {"raw": {"head": [], "tail": []}, "filtered": {"head": [], "tail": []}}
    model.eval()
    with torch.no_grad():
        model.prepare()
        for start in range(0, len(triples), batch):
            b = torch.as_tensor(triples[start:start + batch], dtype=torch.long, device=device)
            h, r, t = b[:, 0], b[:, 1], b[:, 2]
            for side, scores, target, known in (
                    ("tail", model.score_tails(h, r), t, [tails_of.get((x, y), ()) for x, y in zip(h.tolist(), r.tolist())]),
                    ("head", model.score_heads(r, t), h, [heads_of.get((y, z), ()) for y, z in zip(r.tolist(), t.tolist())])):
                scores = scores.float()
                out["raw"][side].append(_ranks(scores, target).cpu().numpy())
                rows = [i for i, k in enumerate(known) for _ in k]
                cols = [c for k in known for c in k]
                if rows:
                    true = scores.gather(1, target.view(-1, 1)).clone()
                    scores = scores.index_put((torch.tensor(rows, device=scores.device),
                                               torch.tensor(cols, device=scores.device)),
                                              torch.tensor(float("-inf"), device=scores.device))
                    scores.scatter_(1, target.view(-1, 1), true)
                out["filtered"][side].append(_ranks(scores, target).cpu().numpy())
    return {kind: {side: np.concatenate(v) if v else np.zeros(0) for side, v in sides.items()}
            for kind, sides in out.items()}


def summarise(ranks: np.ndarray, ks=KS) -> dict[str, float]:
    if len(ranks) == 0:
        return {"mrr": float("nan"), **{f"hits@{k}": float("nan") for k in ks}, "mr": float("nan"), "count": 0}
    return {"mrr": float(np.mean(1.0 / ranks)), **{f"hits@{k}": float(np.mean(ranks <= k)) for k in ks},
            "mr": float(np.mean(ranks)), "count": int(len(ranks))}


def metrics(model, triples: np.ndarray, filters: tuple[dict, dict], relations: list[str], *, batch: int = 256,
            device="cpu") -> dict:
    """``{"filtered"|"raw": {"head"|"tail"|"both": {mrr, hits@1, hits@3, hits@10, mr, count}},
    "perRelation": {name: {"filtered": {...}, "raw": {...}}}}`` (``both``: head and tail ranks together)."""
    ranks = rank_triples(model, triples, filters, batch=batch, device=device)
    out: dict = {}
    for kind, sides in ranks.items():
        out[kind] = {side: summarise(v) for side, v in sides.items()}
        out[kind]["both"] = summarise(np.concatenate([sides["head"], sides["tail"]]))
    per: dict = {}
    rel = triples[:, 1] if len(triples) else np.zeros(0, dtype=np.int64)
    for r in np.unique(rel).tolist():
        m = rel == r
        per[relations[r]] = {kind: {side: summarise(v[m]) for side, v in sides.items()} for kind, sides in ranks.items()}
    out["perRelation"] = per
    return out
