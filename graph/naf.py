"""Neighbor-aware filtering (NaF): keep a compact image set that still covers every concept.

``medmkg`` is MEDMKG's Algorithm 1: each image scores
``score(i) = Σ_{(r,c) ∈ E(i)} log(|M| / |N(r,c)|)`` where ``M`` is the set of images and
``N(r,c)`` the images with edge ``(r, c)``; images are sorted by score, highest first
(ties by id), and taken in that order until the kept images cover every concept that
any image links to. ``greedy`` is weighted set cover: each step takes the image whose
not-yet-covered concepts carry the most weight (1 + the concept's largest log-IDF edge
weight), ties by id,
until every concept is covered. ``none`` keeps every image.

Input: ``image_ids`` (n,) and edges as parallel arrays ``edge_image`` (index into
image_ids), ``edge_rel`` and ``edge_concept`` (small ints). Output: a boolean mask (n,).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from extract.records import EDGE_TYPES
from graph.model import EdgeTable, Graph, ImageRow, NodeTable
from graph.store.manifest import NafReport, NafSide
from kg.core.registry import Registry

METHODS: Registry = Registry("NaF method", option="--naf")  # (image_ids, score, edge_image, edge_concept, w) -> kept


@dataclass(frozen=True)
class NafResult:
    kept: np.ndarray  # bool (n,)
    score: np.ndarray  # float64 (n,): the medmkg score (also reported for greedy)
    method: str


def _weights(n_images: int, edge_rel: np.ndarray, edge_concept: np.ndarray) -> np.ndarray:
    """log(|M| / |N(r,c)|) for every edge."""
    if len(edge_rel) == 0:
        return np.zeros(0)
    pair = edge_rel.astype(np.int64) * (int(edge_concept.max()) + 1) + edge_concept.astype(np.int64)
    _, inv, cnt = np.unique(pair, return_inverse=True, return_counts=True)
    return np.log(n_images / cnt[inv])


def naf(
    image_ids: list[str],
    edge_image: np.ndarray,
    edge_rel: np.ndarray,
    edge_concept: np.ndarray,
    method: str = "medmkg",
) -> NafResult:
    select, _ = METHODS.get(method)
    n = len(image_ids)
    edge_image = np.asarray(edge_image, dtype=np.int64)
    edge_rel = np.asarray(edge_rel, dtype=np.int64)
    edge_concept = np.asarray(edge_concept, dtype=np.int64)
    # an image with two relations to one concept counts each (r, c) pair once
    if len(edge_image):
        triples = np.unique(np.stack([edge_image, edge_rel, edge_concept], axis=1), axis=0)
        edge_image, edge_rel, edge_concept = triples[:, 0], triples[:, 1], triples[:, 2]
    w = _weights(n, edge_rel, edge_concept)
    score = np.bincount(edge_image, weights=w, minlength=n).astype(np.float64)
    if method == "none" or n == 0:
        return NafResult(np.ones(n, dtype=bool), score, method)
    if len(edge_image) == 0:  # nothing to cover: no image is needed
        return NafResult(np.zeros(n, dtype=bool), score, method)
    return NafResult(select(image_ids, score, edge_image, edge_concept, w), score, method)


@METHODS.register("none")
def _none(image_ids, score, edge_image, edge_concept, w) -> np.ndarray:
    return np.ones(len(image_ids), dtype=bool)


def _id_rank(image_ids: list[str]) -> np.ndarray:
    order = sorted(range(len(image_ids)), key=image_ids.__getitem__)
    rank = np.empty(len(image_ids), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(image_ids))
    return rank


@METHODS.register("medmkg")
def _medmkg(image_ids, score, edge_image, edge_concept, w=None) -> np.ndarray:
    n = len(image_ids)
    kept = np.zeros(n, dtype=bool)
    order = np.lexsort((_id_rank(image_ids), -score))  # score desc, then id asc
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    # each concept is first covered at the earliest position among its images
    first = np.full(int(edge_concept.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, edge_concept, position[edge_image])
    cutoff = int(first[first < n].max())
    kept[order[: cutoff + 1]] = True
    return kept


@METHODS.register("greedy")
def _greedy(image_ids, score, edge_image, edge_concept, w) -> np.ndarray:
    n = len(image_ids)
    kept = np.zeros(n, dtype=bool)
    n_concepts = int(edge_concept.max()) + 1
    # concept weight: 1 + the largest IDF weight of its edges (rarest relation); the +1 keeps a
    # concept that every image shares (weight log(1) = 0) worth covering
    cw = np.zeros(n_concepts)
    np.maximum.at(cw, edge_concept, w)
    cw += 1.0
    order = np.argsort(edge_image, kind="stable")
    ei, ec = edge_image[order], edge_concept[order]
    bounds = np.searchsorted(ei, np.arange(n + 1))
    concepts_of = [np.unique(ec[bounds[i] : bounds[i + 1]]) for i in range(n)]
    covered = np.zeros(n_concepts, dtype=bool)
    present = np.zeros(n_concepts, dtype=bool)
    present[edge_concept] = True
    left = int(present.sum())
    id_rank = _id_rank(image_ids)
    heap = [(-float(cw[concepts_of[i]].sum()), int(id_rank[i]), i) for i in range(n) if len(concepts_of[i])]
    heapq.heapify(heap)
    while left and heap:
        neg_gain, r, i = heapq.heappop(heap)
        cs = concepts_of[i]
        gain = float(cw[cs[~covered[cs]]].sum())
        if gain <= 0:
            continue
        if heap and (-gain, r) > heap[0][:2]:
            heapq.heappush(heap, (-gain, r, i))  # stale: re-queue with its true gain
            continue
        kept[i] = True
        newly = cs[~covered[cs]]
        covered[newly] = True
        left -= len(newly)
    return kept


def apply_naf(g: Graph, method: str) -> tuple[Graph, NafReport]:
    """NaF over a graph: returns ``(filtered, report)``, a new graph and the before/after report for the
    manifest; ``g`` is left as it was (as PyTorch Geometric's transforms copy before they change anything).
    In the new graph the cross-modal edges of images NaF drops are left out and every ``Image`` row has
    ``kept`` (bool) and ``nafScore``."""
    types = list(EDGE_TYPES)
    tables = [t for t in g.edges.values() if t.source_label == "Image" and t.type in types]
    images: NodeTable[ImageRow] | None = g.nodes.get("Image")
    image_ids = [r["id"] for r in images.rows] if images else []
    pos = {i: n for n, i in enumerate(image_ids)}
    cuis = sorted({r["_end"] for t in tables for r in t.rows})
    cpos = {c: n for n, c in enumerate(cuis)}
    ei, er, ec = [], [], []
    for t in tables:
        rel = types.index(t.type)
        for r in t.rows:
            ei.append(pos[r["_start"]])
            er.append(rel)
            ec.append(cpos[r["_end"]])
    res = naf(image_ids, np.asarray(ei, dtype=np.int64), np.asarray(er, dtype=np.int64),
              np.asarray(ec, dtype=np.int64), method)

    def summary(kept_mask: np.ndarray) -> NafSide:
        edges: dict[str, int] = {}
        covered: set[str] = set()
        for t in tables:
            rows = [r for r in t.rows if kept_mask[pos[r["_start"]]]]
            edges[t.type] = len(rows)
            covered.update(r["_end"] for r in rows)
        return NafSide(images=int(kept_mask.sum()), edges=dict(sorted(edges.items())), concepts_covered=len(covered))

    report = NafReport(method=method, before=summary(np.ones(len(image_ids), dtype=bool)), after=summary(res.kept))
    out = Graph(nodes=dict(g.nodes), edges=dict(g.edges))
    filtered = {id(t) for t in tables}
    for name, t in g.edges.items():
        if id(t) in filtered:
            out.edges[name] = EdgeTable(t.type, t.source_label, t.target_label,
                                        [r for r in t.rows if res.kept[pos[r["_start"]]]])
    if images:
        rows: list[ImageRow] = [{**r, "kept": bool(res.kept[n]), "nafScore": round(float(res.score[n]), 6)}
                                for n, r in enumerate(images.rows)]
        out.nodes["Image"] = NodeTable("Image", rows)
    return out, report
