"""The knowledge context for an image (and a question): what a VLM is given to ground its answer.

One store-bound :class:`Retriever` answers one :class:`~graph.retrieve.query.ContextQuery` over either store
(``Retriever(store).context(query)``; ``store.files`` is the build folder: its encoder, index and findings):

1. the query is an image of the graph (its id), an image file or its bytes (encoded with the build's own
   encoder), a ready embedding, or text only (its concepts, by the build's extractor);
2. the nearest images by vector over every indexed image (NaF-dropped images included, with their findings);
3. a leakage guard leaves out the query's own study and patient when the query is in the graph (by id, or a file
   or vector whose nearest image has cosine >= ``SAME_IMAGE``);
   an out-of-distribution guard abstains when the best match left is weaker than the graph's own images' best
   matches at ``ood_percentile`` (``graph.retrieve.ood``): no findings from images that are merely the least unlike;
4. the neighbours' findings per concept and polarity, and the concept triplets around them
   (``graph.retrieve.findings``), every item citing its image, study, report, section, span and extractor.

How many neighbours: a fixed ``k``; ``ratio`` truncation as in MMed-RAG (keep neighbour j while
``s_1 / s_j < gamma``, at most ``k``); the k `kg calibrate` chose (``k="auto"``); neighbours under
``min_similarity`` are dropped. Every abstention says why in ``Context.abstained``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import ValidationError

from extract.records import Polarity
from graph.retrieve.findings import aggregate, concept_ref, expand
from graph.retrieve.images import query_vector
from graph.retrieve.ood import Floor, floor_for, measure_rows
from graph.retrieve.query import ContextQuery, invalid
from graph.retrieve.records import Citation, Context, Finding, ImageHit, KChoice, Match
from graph.store import FileStore, Store
from kg.core.errors import InvalidInput, NotFound

# An image file or vector this close (cosine) to an image of the graph is that image (the same pixels through the
# same encoder give 1 within float rounding; distinct radiographs stay under ~0.995 even with the raw-pixel encoder).
SAME_IMAGE = 0.9999


class Retriever:
    """Answers context queries over one store (a :class:`FileStore`, or a Neo4jStore with its build folder)."""

    def __init__(self, store: Store):
        self.store, self.files = store, store.files

    def context(self, query: ContextQuery | None = None, /, **fields: Any) -> Context:
        """The cited context for ``query``, or for a query made of ``fields`` (``image_id=…, k=5``)."""
        if query is None:
            try:
                query = ContextQuery.model_validate(fields)
            except ValidationError as exc:
                raise invalid(exc, ContextQuery) from None
        files, calibrated = self.files, None
        k = query.k
        if k == "auto":
            calibrated = files.manifest.calibration
            if not calibrated:
                raise InvalidInput("k='auto' needs a calibrated store", code="E199",
                                   fix="run `kg calibrate DIR` once, or pass a number for k")
            k = int(calibrated.get("chosen") or 0)
        kc0 = KChoice(method="none", k=0, requested=query.k, gamma=query.gamma, min_similarity=query.min_similarity,
                      guarantee=(calibrated or {}).get("guarantee"))
        if query.text is not None:
            return self._text(query, kc0)
        with_text = query.with_text and bool(files.manifest.settings.get("keep_text", True))
        self_id: str | None = None
        if query.image_id is not None:
            if query.image_id not in files.index:  # an id, never a path: a service must not open files it is named
                raise NotFound(f"no image {query.image_id!r} in the graph's index", code="E217",
                               fix="pass an Image id of this build, or send the image itself")
            vec, self_id = files.index.vector(query.image_id), query.image_id
        elif query.image is not None:
            vec, self_id = query_vector(files, query.image)
        else:
            vec, self_id = _embedding(files, query.embedding), None
        hits, images, dropped, found_id, matched = _neighbour_candidates(self.store, files, vec, self_id, max(k, 1),
                                                                        query.exclude)
        q = {"kind": query.kind, "imageId": found_id} | ({"matchedBy": "vector"} if matched else {})
        floor = _floor(files, "patient" if query.exclude == "patient" else "study", query.ood_percentile,
                       query.min_similarity)
        best = hits[0][1] if hits else None
        match = Match(best=None if best is None else round(float(best), 6), floor=floor.value,
                      percentile=floor.percentile, reference=floor.reference, min_similarity=query.min_similarity,
                      graph_percentile=None if best is None else floor.rank(best))
        if best is None:
            return _abstain(q, "no image of the graph to compare with (every indexed image belongs to the query's "
                            "own " + ("patient" if query.exclude == "patient" else "study") + ")", kc0, match, dropped)
        if floor.value is not None and best < floor.value:
            return _abstain(q, floor.reason(best), kc0, match, dropped)
        if calibrated is not None and k == 0:
            return _abstain(q, "kg calibrate found no k that keeps the factuality risk at or below its alpha "
                            f"({calibrated.get('guarantee')})", kc0, match, dropped)
        chosen, kc = choose_neighbours(hits, k, gamma=query.gamma, min_similarity=query.min_similarity)
        if calibrated is not None:
            kc = KChoice(method="calibrated", k=len(chosen), requested="auto", gamma=query.gamma,
                         min_similarity=query.min_similarity, guarantee=calibrated.get("guarantee"))
        neighbours = [ImageHit(id=i, score=round(float(s), 6), study_id=(images.get(i) or {}).get("studyId"),
                               kept=(images.get(i) or {}).get("kept")) for i, s in chosen]
        findings = aggregate(self.store, neighbours, with_text=with_text)
        seeds = [f.concept.cui for f in findings if f.polarity != Polarity.NEGATIVE]
        return Context(query=q, neighbours=tuple(neighbours), findings=tuple(findings),
                       triplets=tuple(expand(self.store, seeds, hops=query.hops, limit=query.max_triplets)), k=kc,
                       excluded=dropped, match=match)

    def _text(self, query: ContextQuery, kc: KChoice) -> Context:
        """A text query: its own concepts that the graph holds (abstaining when there is none) and their triplets."""
        findings, unknown = _text_findings(self.files, query.text or "")
        q = {"kind": "text"} | ({"notInGraph": unknown} if unknown else {})
        if not findings:
            reason = ("no concept of the graph in the text (" + ", ".join(unknown) + " not in this graph)" if unknown
                      else "no concept of the graph in the text (no finding, device or anatomy recognised)")
            return _abstain(q, reason, kc, None, {})
        seeds = [f.concept.cui for f in findings if f.polarity != Polarity.NEGATIVE] or [f.concept.cui for f in findings]
        return Context(query=q, neighbours=(), findings=tuple(findings),
                       triplets=tuple(expand(self.store, seeds, hops=query.hops, limit=query.max_triplets)), k=kc,
                       excluded={})


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


@lru_cache(maxsize=4)
def _extractor(spec: str, umls: str | None) -> Any:
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
        out.append(Finding(concept=concept_ref(files, c.cui, known[c.cui]),
                           polarity=c.polarity,
                           support=1.0, cases=1, of=1, agreement=1.0, source="query", citations=cites))
    return out, unknown


def similarity_record(files: FileStore) -> dict[str, Any] | None:
    """The graph's own best-match similarities: from the manifest, or measured once per open store for a build
    made before medkg recorded them."""
    memo = files.memo("retrieve.similarity")
    if "record" not in memo:
        recorded = files.manifest.similarity
        memo["record"] = recorded.model_dump() if recorded is not None else measure_rows(
            files.index.ids, files.index.vectors, files.nodes("Image"), files.nodes("Study"),
            encoder=files.manifest.encoder.id)
    record: dict[str, Any] | None = memo["record"]
    return record


def _floor(files: FileStore, reference: str, percentile: float, min_similarity: float | None) -> Floor:
    """The guard's floor for these settings, worked out once per open store."""
    memo = files.memo("retrieve.floors")
    key = (reference, percentile, min_similarity)
    if key not in memo:
        memo[key] = floor_for(similarity_record(files), reference, percentile, min_similarity)
    floor: Floor = memo[key]
    return floor


def _abstain(query: dict[str, Any], reason: str, k: KChoice, match: Match | None, excluded: dict[str, Any]) -> Context:
    kc = KChoice(method="abstain", k=0, requested=k.requested, gamma=k.gamma, min_similarity=k.min_similarity,
                 guarantee=k.guarantee)
    return Context(query=query, k=kc, excluded=excluded, match=match, abstained=reason)


def _guarded(store: Store, query_image: str | None, exclude: str) -> tuple[set[str], set[str]]:
    if query_image is None or exclude == "none":
        return set(), set()
    img = store.node("Image", query_image) or {}
    study = img.get("studyId")
    patient = (store.node("Study", study) or {}).get("patientId") if study else None
    return ({study} if study else set()), ({patient} if patient and exclude == "patient" else set())


def _neighbour_candidates(store: Store, files: FileStore, vec: np.ndarray, self_id: str | None, k: int,
                          exclude: str) -> tuple[list[tuple[str, float]], dict[str, Any], dict[str, int], str | None,
                                              bool]:
    """The nearest images after the leakage guard (at least ``k`` of them when the graph has them), their nodes,
    the counts left out, and the query's own image id (found by vector when it came as a file or a vector)."""
    studies, patients = _guarded(store, self_id, exclude)
    want, matched = k + 1 + (64 if studies else 0), False
    while True:
        raw = store.nearest_images(vec, min(want, len(files.index)))
        if self_id is None and exclude != "none" and raw and raw[0][1] >= SAME_IMAGE - 1e-3 \
                and raw[0][0] in files.index and float(files.index.vector(raw[0][0]) @ vec) >= SAME_IMAGE:
            # a file or a vector of an image of the graph (the cosine checked exactly on the build's own vectors: a
            # database's index may score approximately) is that image: its study and patient are left out
            self_id, matched = raw[0][0], True
            studies, patients = _guarded(store, self_id, exclude)
            want = max(want, k + 1 + 64)
            continue
        hits, dropped = [], {"sameStudy": 0, "samePatient": 0}
        images = store.nodes_by_key("Image", [i for i, _ in raw])
        owned = {str(s) for s in ((images.get(i) or {}).get("studyId") for i, _ in raw) if s}
        owners = store.nodes_by_key("Study", sorted(owned)) if patients else {}
        for i, s in raw:
            if i == self_id:
                continue
            node = images.get(i) or {}
            st = str(node.get("studyId") or "")
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


def _embedding(files: FileStore, embedding: Any) -> np.ndarray:
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
