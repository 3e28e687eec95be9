"""Typed results of retrieval: what a caller (the CLI, the HTTP service, a VLM plugin) gets back, with the
ids that cite where each item came from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from extract.records import Polarity


class _Record(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class ConceptRef(_Record):
    cui: str
    name: str
    group: str | None = None
    semantic_types: tuple[str, ...] = ()


class ImageHit(_Record):
    """An image near the query: its score (cosine), study, whether NaF kept it, and its positive findings."""

    id: str
    score: float
    study_id: str | None = None
    kept: bool | None = None
    positive: tuple[str, ...] = ()


class Citation(_Record):
    """Where an item comes from: the report (and image, study) and the character span of its evidence, the
    extractor that read it; ``text`` only when the build kept report text and the caller asked for it."""

    report_id: str | None = None
    image_id: str | None = None
    study_id: str | None = None
    section: str | None = None
    start: int | None = None
    end: int | None = None
    text: str | None = None
    extractor: str | None = None


class ConceptEdge(_Record):
    """A concept's relationship to another concept (``other`` a CUI), or a count of cross-modal edges
    (``other`` like ``"18 Image nodes"``)."""

    direction: str  # "out" or "in"
    type: str
    other: str
    name: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class Neighbourhood(_Record):
    concept: ConceptRef
    edges: tuple[ConceptEdge, ...] = ()


class Finding(_Record):
    """A concept the neighbours' reports state with one polarity (``positive``, ``negative``, ``uncertain``; a
    prompt says present, absent, uncertain).
    ``cases`` of ``of`` neighbours state it; ``support`` sums their cosine similarities to the query and
    ``agreement`` is that share of all the neighbours' similarity (how much the neighbours agree, weighted by how
    similar each is: not a probability that the query image shows it); ``similarities`` are the cosines of the
    neighbours stating it, best first. ``source`` is ``neighbours``, or ``query`` for a concept the query text
    itself states."""

    concept: ConceptRef
    polarity: Polarity
    support: float
    cases: int
    of: int
    agreement: float
    similarities: tuple[float, ...] = ()
    source: str = "neighbours"
    citations: tuple[Citation, ...] = ()


class Triplet(_Record):
    head: ConceptRef
    relation: str
    tail: ConceptRef
    hop: int
    score: float  # GNN cosine to the findings when concepts have gnnEmbedding, else report support
    source: str  # "reports" (relations aggregated over reports), or the concept index ("UMLS", "lexicon:default")
    support: int | None = None
    sab: tuple[str, ...] = ()  # UMLS source vocabularies of the relation
    citations: tuple[Citation, ...] = ()


class KChoice(_Record):
    """How many neighbours were used, and why: ``fixed``, ``ratio`` (MMed-RAG), ``calibrated``, ``abstain``."""

    method: str
    k: int
    requested: int | str
    gamma: float | None = None
    min_similarity: float | None = None
    guarantee: str | None = None


class Match(_Record):
    """How close the query's best match is, beside the graph's own images' best matches (the out-of-distribution
    guard, ``graph.retrieve.ood``). ``best`` is the cosine of the nearest image left by the leakage guard; below
    ``floor`` the context abstains. ``floor`` is the graph's ``percentile`` (its images' best matches outside their
    own ``reference``: patient or study) or the caller's ``min_similarity`` when that is higher;
    ``graph_percentile`` says where ``best`` stands among the graph's own best matches (0..100)."""

    best: float | None = None
    floor: float | None = None
    percentile: float | None = None
    reference: str | None = None
    min_similarity: float | None = None
    graph_percentile: float | None = None


class Context(_Record):
    """What the graph says for one query. ``abstained`` gives the reason when it says nothing (no similar image,
    no concept of the graph in the text): then there are no neighbours, findings or triplets."""

    query: dict[str, Any]
    neighbours: tuple[ImageHit, ...] = ()
    findings: tuple[Finding, ...] = ()
    triplets: tuple[Triplet, ...] = ()
    k: KChoice
    excluded: dict[str, Any] = Field(default_factory=dict)  # neighbours left out by the leakage guard
    match: Match | None = None
    abstained: str | None = None
