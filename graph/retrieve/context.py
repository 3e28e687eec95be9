"""The knowledge context for an image (and a question): what a VLM is given to ground its answer.

One call, :func:`retrieve_context`, over either store:

1. the query is an image of the graph (its id), an image file or its bytes (encoded with the build's own
   encoder), a ready embedding, or text only (its concepts, by the build's extractor);
2. the nearest images by vector over every indexed image (NaF-dropped images included, with their findings);
3. a leakage guard leaves out the query's own study and patient when the query is in the graph (by id, or a file
   or vector whose nearest image has cosine >= ``SAME_IMAGE``);
   an out-of-distribution guard abstains when the best match left is weaker than the graph's own images' best
   matches at ``ood_percentile`` (``graph.retrieve.ood``): no findings from images that are merely the least unlike;
4. the neighbours' findings are aggregated per concept *and polarity*: an absent finding ("no pneumothorax in
   9 of 10 similar cases") is its own item, never merged into a present one; support is similarity-weighted;
5. findings expand to concept triplets (LOCATED_AT, SUGGESTIVE_OF, MODIFY, UMLS relations) up to ``hops`` hops,
   ranked by GNN embedding similarity when concepts carry ``gnnEmbedding``, by report support otherwise;
6. every item cites where it comes from: image, study, report, section, character span, extractor.

How many neighbours: a fixed ``k``; ``ratio`` truncation as in MMed-RAG (keep neighbour j while
``s_1 / s_j < gamma``, at most ``k``); neighbours under ``min_similarity`` are dropped and, with none left, the
context abstains (no findings from neighbours). Every abstention says why in ``Context.abstained``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from graph.retrieve.images import query_vector
from graph.retrieve.ood import DEFAULT_PERCENTILE, check_percentile, floor_for, measure_rows
from graph.retrieve.records import Citation, ConceptRef, Context, Finding, ImageHit, KChoice, Match, Triplet
from graph.store import FileStore, Store
from kg.core.errors import InvalidInput, NotFound

POLARITY_WORD = {"POSITIVE": "present", "NEGATIVE": "absent", "UNCERTAIN": "uncertain"}
MAX_K = 200
MAX_HOPS = 3
# An image file or vector this close (cosine) to an image of the graph is that image (the same pixels through the
# same encoder give 1 within float rounding; distinct radiographs stay under ~0.995 even with the raw-pixel encoder).
SAME_IMAGE = 0.9999


@dataclass(frozen=True)
class Guard:
    """Leave out neighbours of the query's own ``study`` or ``patient`` (when the query is in the graph)."""

    exclude: str = "patient"  # "patient", "study" or "none"

    def __post_init__(self):
        if self.exclude not in ("patient", "study", "none"):
            raise InvalidInput(f"exclude must be patient, study or none, not {self.exclude!r}", code="E173",
                               fix="pass exclude='patient' (default), 'study' or 'none'")


def _memo(store: Store, name: str) -> dict | None:
    """The store's memo for derived records (a file store's is read-only while open); None for a database."""
    memo = getattr(store, "memo", None)
    return memo(name) if memo is not None else None


def _refs(store: Store, cuis, rows: dict[str, dict] | None = None) -> dict[str, ConceptRef]:
    """ConceptRefs for many CUIs with at most one store call (one query on Neo4j), from the memo when it has them."""
    cache = _memo(store, "retrieve.conceptRefs")
    want = list(dict.fromkeys(cuis))
    out = {c: cache[c] for c in want if c in cache} if cache is not None else {}
    missing = [c for c in want if c not in out]
    if missing:
        rows = rows if rows is not None and all(c in rows for c in missing) else store.nodes_by_key("Concept", missing)
        for c in missing:
            out[c] = _ref(store, c, rows.get(c))
            if cache is not None:
                cache[c] = out[c]
    return out


def _ref(store: Store, cui: str, row: dict | None = None) -> ConceptRef:
    row = row if row is not None else (store.node("Concept", cui) or {})
    return ConceptRef(cui=cui, name=row.get("name") or cui, group=row.get("group"),
                      semantic_types=tuple(row.get("semanticTypes") or ()))


def _citations(row: dict, image: str, study: str | None, with_text: bool) -> list[Citation]:
    evidence = row.get("evidence")
    report, extractor = row.get("reportId"), row.get("extractor")
    if not evidence:
        return [Citation(image_id=image, study_id=study, report_id=report, section=row.get("section"),
                         extractor=extractor)]
    out = []
    for ev in evidence:
        parts = ev.split(":", 3)
        if len(parts) == 4:
            a, _, b = parts[1].partition("-")
            ok = a.isdigit() and b.isdigit()
            out.append(Citation(image_id=image, study_id=study, report_id=report, section=parts[0],
                                start=int(a) if ok else None, end=int(b) if ok else None,
                                text=parts[3] if with_text else None, extractor=extractor))
        else:
            out.append(Citation(image_id=image, study_id=study, report_id=report, section=row.get("section"),
                                extractor=extractor))
    return out


def choose_neighbours(hits: list[tuple[str, float]], k: int, *, gamma: float | None = None,
                      min_similarity: float | None = None) -> tuple[list[tuple[str, float]], KChoice]:
    """Fixed k, MMed-RAG ratio truncation (``gamma``), a similarity floor, abstention when nothing is left."""
    kept = hits[:k]
    method = "fixed"
    if min_similarity is not None:
        kept = [h for h in kept if h[1] >= min_similarity]
    if gamma is not None and kept:
        top = kept[0][1]
        method = "ratio"
        kept = [h for h in kept if h[1] > 0 and top / h[1] < gamma] if top > 0 else []
    if not kept and k > 0:
        return [], KChoice(method="abstain", k=0, requested=k, gamma=gamma, min_similarity=min_similarity)
    return kept, KChoice(method=method, k=len(kept), requested=k, gamma=gamma, min_similarity=min_similarity)


def aggregate(store: Store, neighbours: list[ImageHit], *, with_text: bool = False) -> list[Finding]:
    """The neighbours' findings per (concept, polarity), similarity-weighted, most support first."""
    total = sum(max(h.score, 0.0) for h in neighbours) or 1.0
    acc: dict[tuple[str, str], list] = {}  # (cui, type) -> [support, similarities, citations]
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
    refs = _refs(store, [cui for cui, _ in acc])
    of = len(neighbours)
    out = [Finding(concept=refs[cui], polarity=POLARITY_WORD[typ], support=round(support, 6), cases=len(sims), of=of,
                   agreement=round(support / total, 4), similarities=tuple(sims), citations=tuple(cites))
           for (cui, typ), (support, sims, cites) in acc.items()]
    out.sort(key=lambda f: (-f.support, f.concept.cui, f.polarity))
    return out


def _gnn(rows: dict[str, dict], cui: str) -> np.ndarray | None:
    v = (rows.get(cui) or {}).get("gnnEmbedding")
    return None if v is None else np.asarray(v, dtype=np.float32)


def _ranked_edges(store: Store, cuis: list[str]) -> dict[str, list]:
    """Each concept's concept-to-concept edges as ``((-support, (head, type, tail)), properties, other)``, best first
    (memoised on a file store)."""
    cache = _memo(store, "retrieve.rankedEdges")
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


def _search(store: Store, seeds: list[str], hops: int, limit: int, rows: dict, vecs: list) -> list:
    """Breadth-first up to ``hops``; ranked by hop, then GNN cosine to the seeds' mean (``vecs``) or support."""
    found: dict[tuple[str, str, str], tuple] = {}  # light candidates; models only for the ones returned
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
    refs = _refs(store, [x for (h, _, t), _ in best for x in (h, t)], rows)
    cache = _memo(store, "retrieve.triplets") if not vecs else None  # support-ranked triplets depend on the edge alone
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


def _strings(v) -> tuple[str, ...]:
    if v is None:
        return ()
    return (str(v),) if isinstance(v, str) else tuple(str(x) for x in v)


def _guarded(store: Store, query_image: str | None, guard: Guard) -> tuple[set[str], set[str]]:
    if query_image is None or guard.exclude == "none":
        return set(), set()
    img = store.node("Image", query_image) or {}
    study = img.get("studyId")
    patient = (store.node("Study", study) or {}).get("patientId") if study else None
    return ({study} if study else set()), ({patient} if patient and guard.exclude == "patient" else set())


@lru_cache(maxsize=4)
def _extractor(spec: str, umls: str | None):
    """The build's extractor (and concept index), loaded once per process for text queries."""
    from extract.base import get_extractor
    from extract.loading import load_concept_index

    return get_extractor(spec, load_concept_index(umls))


def _text_findings(files: FileStore, text: str) -> tuple[list[Finding], list[str]]:
    """A question or draft report: its own concepts that the graph holds, with their polarity, cited by character
    span; and the names of those it does not hold."""
    spec = files.manifest.settings.get("extractor") or "rules"
    umls = files.manifest.settings.get("umls")
    ex = _extractor(spec, str(umls) if umls else None).extract("query", text)
    out, unknown = [], []
    known = files.nodes_by_key("Concept", [c.cui for c in ex.concepts])
    for c in ex.concepts:
        if c.cui not in known:
            unknown.append(c.name)
            continue
        cites = tuple(Citation(report_id="query", section=m.section, start=m.start, end=m.end, text=m.text,
                               extractor=ex.extractor) for m in c.evidence)
        out.append(Finding(concept=_ref(files, c.cui, known[c.cui]),
                           polarity={"positive": "present", "negative": "absent"}.get(c.polarity, "uncertain"),
                           support=1.0, cases=1, of=1, agreement=1.0, source="query", citations=cites))
    return out, unknown


def similarity_record(files: FileStore) -> dict | None:
    """The graph's own best-match similarities: from the manifest, or measured once per open store for a build
    made before medkg recorded them."""
    memo = files.memo("retrieve.similarity")
    if "record" not in memo:
        recorded = files.manifest.similarity
        memo["record"] = recorded.model_dump() if recorded is not None else measure_rows(
            files.index.ids, files.index.vectors, files.nodes("Image"), files.nodes("Study"),
            encoder=files.manifest.encoder.id)
    return memo["record"]


def _floor(files: FileStore, reference: str, percentile: float, min_similarity: float | None):
    """The guard's floor for these settings, worked out once per open store."""
    memo = files.memo("retrieve.floors")
    key = (reference, percentile, min_similarity)
    if key not in memo:
        memo[key] = floor_for(similarity_record(files), reference, percentile, min_similarity)
    return memo[key]


def _abstain(query: dict, reason: str, k: KChoice, match: Match | None, excluded: dict) -> Context:
    kc = KChoice(method="abstain", k=0, requested=k.requested, gamma=k.gamma, min_similarity=k.min_similarity,
                 guarantee=k.guarantee)
    return Context(query=query, k=kc, excluded=excluded, match=match, abstained=reason)


def retrieve_context(store: Store, files: FileStore, *, image_id: str | None = None, image: str | bytes | None = None,
                     embedding=None, text: str | None = None, k: int | str = 8, gamma: float | None = None,
                     min_similarity: float | None = None, ood_percentile: float = DEFAULT_PERCENTILE, hops: int = 1,
                     max_triplets: int = 20, guard: Guard = Guard(), with_text: bool = False) -> Context:
    """The cited context for one query: exactly one of ``image_id``, ``image`` (path or bytes), ``embedding`` or
    ``text``. ``files`` is the build folder (its encoder, index and findings), ``store`` answers the graph
    queries (the same FileStore, or a Neo4jStore).

    The out-of-distribution guard: when the best match (after the leakage guard) is below the ``ood_percentile``
    of the graph's own images' best matches, or below ``min_similarity``, the context abstains and says why
    (``Context.abstained``); ``ood_percentile=0`` leaves only ``min_similarity``. A text query with no concept of
    the graph abstains too."""
    given = [n for n, v in (("image_id", image_id), ("image", image), ("embedding", embedding), ("text", text))
             if v is not None]
    if len(given) != 1:
        raise InvalidInput(f"give exactly one of image_id, image, embedding or text (got {', '.join(given) or 'none'})",
                           code="E175", fix="send one query input; a question goes with an image query as 'question'")
    calibrated = None
    if k == "auto":
        calibrated = files.manifest.calibration
        if not calibrated:
            raise InvalidInput("k='auto' needs a calibrated store", code="E199",
                               fix="run `kg calibrate DIR` once, or pass a number for k")
        k = int(calibrated.get("chosen") or 0)
    elif not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}, not {k}", code="E176",
                           fix=f"ask for 1 to {MAX_K} neighbours, or k='auto' for the calibrated k")
    check_percentile(ood_percentile)
    with_text = with_text and bool(files.manifest.settings.get("keep_text", True))
    requested = "auto" if calibrated is not None else k
    kc0 = KChoice(method="none", k=0, requested=requested, gamma=gamma, min_similarity=min_similarity,
                  guarantee=(calibrated or {}).get("guarantee"))
    if text is not None:
        findings, unknown = _text_findings(files, text)
        query = {"kind": "text"} | ({"notInGraph": unknown} if unknown else {})
        if not findings:
            reason = ("no concept of the graph in the text (" + ", ".join(unknown) + " not in this graph)" if unknown
                      else "no concept of the graph in the text (no finding, device or anatomy recognised)")
            return _abstain(query, reason, kc0, None, {})
        seeds = [f.concept.cui for f in findings if f.polarity != "absent"] or [f.concept.cui for f in findings]
        return Context(query=query, neighbours=(), findings=tuple(findings),
                       triplets=tuple(expand(store, seeds, hops=hops, limit=max_triplets)), k=kc0, excluded={})
    if image_id is not None:
        if image_id not in files.index:  # an id, never a path: a service must not open files it is named
            raise NotFound(f"no image {image_id!r} in the graph's index", code="E217",
                           fix="pass an Image id of this build, or send the image itself as 'image_b64'")
        vec, self_id = files.index.vector(image_id), image_id
    elif image is not None:
        vec, self_id = query_vector(files, image)
    else:
        vec, self_id = _embedding(files, embedding), None
    hits, images, dropped, self_id, matched = _neighbour_candidates(store, files, vec, self_id, max(k, 1), guard)
    query = {"kind": given[0], "imageId": self_id} | ({"matchedBy": "vector"} if matched else {})
    floor = _floor(files, "patient" if guard.exclude == "patient" else "study", ood_percentile, min_similarity)
    best = hits[0][1] if hits else None
    match = Match(best=None if best is None else round(float(best), 6), floor=floor.value,
                  percentile=floor.percentile, reference=floor.reference, min_similarity=min_similarity,
                  graph_percentile=None if best is None else floor.rank(best))
    if best is None:
        return _abstain(query, "no image of the graph to compare with (every indexed image belongs to the query's "
                        "own " + ("patient" if guard.exclude == "patient" else "study") + ")", kc0, match, dropped)
    if floor.value is not None and best < floor.value:
        return _abstain(query, floor.reason(best), kc0, match, dropped)
    if calibrated is not None and k == 0:
        return _abstain(query, "kg calibrate found no k that keeps the factuality risk at or below its alpha "
                        f"({calibrated.get('guarantee')})", kc0, match, dropped)
    chosen, kc = choose_neighbours(hits, k, gamma=gamma, min_similarity=min_similarity)
    if calibrated is not None:
        kc = KChoice(method="calibrated", k=len(chosen), requested="auto", gamma=gamma,
                     min_similarity=min_similarity, guarantee=calibrated.get("guarantee"))
    neighbours = []
    for i, s in chosen:
        node = images.get(i) or {}
        neighbours.append(ImageHit(id=i, score=round(float(s), 6), study_id=node.get("studyId"), kept=node.get("kept")))
    findings = aggregate(store, neighbours, with_text=with_text)
    seeds = [f.concept.cui for f in findings if f.polarity != "absent"]
    return Context(query=query, neighbours=tuple(neighbours), findings=tuple(findings),
                   triplets=tuple(expand(store, seeds, hops=hops, limit=max_triplets)), k=kc, excluded=dropped,
                   match=match)


def _neighbour_candidates(store: Store, files: FileStore, vec: np.ndarray, self_id: str | None, k: int,
                          guard: Guard) -> tuple[list[tuple[str, float]], dict, dict, str | None, bool]:
    """The nearest images after the leakage guard (at least ``k`` of them when the graph has them), their nodes,
    the counts left out, and the query's own image id (found by vector when it came as a file or a vector)."""
    studies, patients = _guarded(store, self_id, guard)
    want, matched = k + 1 + (64 if studies else 0), False
    while True:
        raw = store.nearest_images(vec, min(want, len(files.index)))
        if self_id is None and guard.exclude != "none" and raw and raw[0][1] >= SAME_IMAGE - 1e-3 \
                and raw[0][0] in files.index and float(files.index.vector(raw[0][0]) @ vec) >= SAME_IMAGE:
            # a file or a vector of an image of the graph (the cosine checked exactly on the build's own vectors: a
            # database's index may score approximately) is that image: its study and patient are left out
            self_id, matched = raw[0][0], True
            studies, patients = _guarded(store, self_id, guard)
            want = max(want, k + 1 + 64)
            continue
        hits, dropped = [], {"sameStudy": 0, "samePatient": 0}
        images = store.nodes_by_key("Image", [i for i, _ in raw])
        owners = store.nodes_by_key("Study", list({(images.get(i) or {}).get("studyId") for i, _ in raw} - {None})) \
            if patients else {}
        for i, s in raw:
            if i == self_id:
                continue
            node = images.get(i) or {}
            st = node.get("studyId")
            if st in studies:
                dropped["sameStudy"] += 1
                continue
            if patients and (owners.get(st) or {}).get("patientId") in patients:
                dropped["samePatient"] += 1
                continue
            hits.append((i, s))
        if len(hits) >= k or len(raw) >= len(files.index) or want >= len(files.index):
            return hits, images, dropped, self_id, matched
        want *= 4


def _embedding(files: FileStore, embedding) -> np.ndarray:
    v = np.asarray(embedding, dtype=np.float64).ravel()
    dim = files.index.dim
    if v.shape[0] != dim:
        raise InvalidInput(f"the embedding has {v.shape[0]} dimensions and the index {dim}", code="E178",
                           fix=f"send a {dim}-dimensional vector from the build's encoder ({files.manifest.encoder.id})")
    if not np.all(np.isfinite(v)):
        raise InvalidInput("the embedding holds NaN or infinite values", code="E179", fix="send finite numbers")
    n = float(np.linalg.norm(v))
    if n == 0:
        raise InvalidInput("the embedding is all zeros", code="E180", fix="send the encoder's vector for an image")
    return (v / n).astype(np.float32)
