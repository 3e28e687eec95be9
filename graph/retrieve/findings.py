"""The neighbours' findings and the concept triplets around them, as typed, cited records (``graph.retrieve.records``).

:func:`aggregate` groups the neighbours' cross-modal edges per concept *and polarity* (an absent finding is its own
item, never merged into a present one), similarity-weighted; :func:`expand` walks the concept graph from the
findings up to ``hops`` hops, ranked by GNN embedding similarity when concepts carry ``gnnEmbedding``, by report
support otherwise. Derived records are memoised on a file store (``Store.memo``); a database is asked each time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

import numpy as np

from extract.records import Polarity
from graph.model import Evidence
from graph.retrieve.query import MAX_HOPS
from graph.retrieve.records import Citation, ConceptRef, Finding, ImageHit, Triplet
from graph.store import Store
from kg.core.errors import InvalidInput


def concept_refs(store: Store, cuis: Iterable[str], rows: dict[str, dict[str, Any]] | None = None) -> dict[str, ConceptRef]:
    """ConceptRefs for many CUIs with at most one store call (one query on Neo4j), from the memo when it has them."""
    cache = store.memo("retrieve.conceptRefs")
    want = list(dict.fromkeys(cuis))
    out = {c: cache[c] for c in want if c in cache} if cache is not None else {}
    missing = [c for c in want if c not in out]
    if missing:
        rows = rows if rows is not None and all(c in rows for c in missing) else store.nodes_by_key("Concept", missing)
        for c in missing:
            out[c] = concept_ref(store, c, rows.get(c))
            if cache is not None:
                cache[c] = out[c]
    return out


def concept_ref(store: Store, cui: str, row: dict[str, Any] | None = None) -> ConceptRef:
    row = row if row is not None else (store.node("Concept", cui) or {})
    return ConceptRef(cui=cui, name=row.get("name") or cui, group=row.get("group"),
                      semantic_types=tuple(row.get("semanticTypes") or ()))


def _citations(row: dict[str, Any], image: str, study: str | None, with_text: bool) -> list[Citation]:
    evidence = row.get("evidence")
    report, extractor = row.get("reportId"), row.get("extractor")
    if not evidence:
        return [Citation(image_id=image, study_id=study, report_id=report, section=row.get("section"),
                         extractor=extractor)]
    spans = [Evidence.from_row(ev) for ev in evidence]
    return [Citation(image_id=image, study_id=study, report_id=ev.report_id, section=ev.section, start=ev.start,
                     end=ev.end, text=ev.text if with_text else None, extractor=ev.extractor) for ev in spans]


def aggregate(store: Store, neighbours: list[ImageHit], *, with_text: bool = False) -> list[Finding]:
    """The neighbours' findings per (concept, polarity), similarity-weighted, most support first."""
    total = sum(max(h.score, 0.0) for h in neighbours) or 1.0
    acc: dict[tuple[str, str], list[Any]] = {}  # (cui, type) -> [support, similarities, citations]
    for h in neighbours:
        w, seen = max(h.score, 0.0), set()
        for row in store.findings_of(h.id):
            key = (row["cui"], row["type"])
            a = acc.get(key)
            if a is None:
                a = acc[key] = [0.0, [], []]
            if key not in seen:
                a[0] += w
                a[1].append(round(float(h.score), 4))
                seen.add(key)
            a[2] += _citations(row, h.id, h.study_id, with_text)
    refs = concept_refs(store, [cui for cui, _ in acc])
    of = len(neighbours)
    out = [Finding(concept=refs[cui], polarity=Polarity.of_edge(typ), support=round(support, 6), cases=len(sims), of=of,
                   agreement=round(support / total, 4), similarities=tuple(sims), citations=tuple(cites))
           for (cui, typ), (support, sims, cites) in acc.items()]
    out.sort(key=lambda f: (-f.support, f.concept.cui, f.polarity))
    return out


def _gnn(rows: dict[str, dict[str, Any]], cui: str) -> np.ndarray | None:
    v = (rows.get(cui) or {}).get("gnnEmbedding")
    return None if v is None else np.asarray(v, dtype=np.float32)


def _ranked_edges(store: Store, cuis: list[str]) -> dict[str, list[Any]]:
    """Each concept's concept-to-concept edges as ``((-support, (head, type, tail)), properties, other)``, best first
    (memoised on a file store)."""
    cache = store.memo("retrieve.rankedEdges")
    out = {c: cache[c] for c in cuis if c in cache} if cache is not None else {}
    missing = [c for c in cuis if c not in out]
    adjacency = store.edges_of_many("Concept", missing, other="Concept") if missing else {}
    for c in missing:
        items = []
        for e in adjacency.get(c, ()):
            key = (c, e.type, e.other_key) if e.direction == "out" else (e.other_key, e.type, c)
            items.append(((-float(e.properties.get("support") or 0), key), e.properties, e.other_key))
        items.sort(key=lambda x: x[0])
        out[c] = items
        if cache is not None:
            cache[c] = items
    return out


def _search(store: Store, seeds: list[str], hops: int, limit: int, rows: dict[str, Any], vecs: list[Any]) -> list[Any]:
    """Breadth-first up to ``hops``; ranked by hop, then GNN cosine to the seeds' mean (``vecs``) or support."""
    found: dict[tuple[str, str, str], tuple[Any, ...]] = {}  # light candidates; models only for the ones returned
    frontier, seen = list(dict.fromkeys(seeds)), set(seeds)
    for hop in range(1, hops + 1):
        nxt = []
        ranked = _ranked_edges(store, frontier) if frontier else {}
        for cui in frontier:
            for (neg, key), props, other in ranked.get(cui, ()):
                if key in found:
                    continue
                found[key] = (hop, -neg, props, other)
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt
    if vecs and found:  # GNN embeddings present: rank by cosine similarity to the seeds' mean
        rows |= store.nodes_by_key("Concept", list({v[3] for v in found.values()} - rows.keys()))
        centre = np.mean(vecs, axis=0)
        for key, (hop, _, props, other) in found.items():
            v = _gnn(rows, other)
            score = float(v @ centre / (np.linalg.norm(v) * np.linalg.norm(centre) + 1e-12)) if v is not None else -1.0
            found[key] = (hop, score, props, other)
    return heapq.nsmallest(limit, found.items(), key=lambda kv: (kv[1][0], -kv[1][1], kv[0]))


def expand(store: Store, seeds: list[str], *, hops: int = 1, limit: int = 20) -> list[Triplet]:
    """Concept-to-concept triplets reachable from ``seeds`` in up to ``hops`` hops (either direction, reported as
    stored), ranked by cosine similarity of ``gnnEmbedding`` to the seeds' mean when present, else by support."""
    if not 0 <= hops <= MAX_HOPS:
        raise InvalidInput(f"hops must be 0..{MAX_HOPS}, not {hops}", code="E174", fix=f"pass hops between 0 and {MAX_HOPS}")
    if limit <= 0 or hops == 0 or not seeds:
        return []
    rows = store.nodes_by_key("Concept", list(dict.fromkeys(seeds)))
    vecs = [v for v in (_gnn(rows, c) for c in seeds) if v is not None]
    if hops == 1 and not vecs:  # ranked by support alone: merge the seeds' edge lists, each sorted once
        best, taken = [], set()
        ranked = _ranked_edges(store, list(dict.fromkeys(seeds)))
        for (neg, key), props, other in heapq.merge(*ranked.values(), key=lambda x: x[0]):
            if key not in taken:
                taken.add(key)
                best.append((key, (1, -neg, props, other)))
                if len(best) == limit:
                    break
    else:
        best = _search(store, seeds, hops, limit, rows, vecs)
    if not best:
        return []
    refs = concept_refs(store, [x for (h, _, t), _ in best for x in (h, t)], rows)
    cache = store.memo("retrieve.triplets") if not vecs else None  # support-ranked triplets depend on the edge alone
    out = []
    for (h, r, t), (hop, score, props, _) in best:
        item = cache.get((h, r, t, hop)) if cache is not None else None
        if item is None:
            item = Triplet(head=refs[h], relation=r, tail=refs[t], hop=hop, score=round(score, 6),
                           source=str(props.get("source") or "reports"), support=props.get("support"),
                           sab=_strings(props.get("sab")),
                           citations=tuple(Citation(report_id=x) for x in props.get("reportIds") or ()))
            if cache is not None:
                cache[(h, r, t, hop)] = item
        out.append(item)
    return out


def _strings(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    return (str(v),) if isinstance(v, str) else tuple(str(x) for x in v)
