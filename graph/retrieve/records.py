"""Typed results of retrieval: what a caller (the CLI, the HTTP service, a VLM plugin) gets back, with the
ids that cite where each item came from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Record(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def as_json(self) -> dict:
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


class Evidence(_Record):
    """Where a cross-modal edge comes from: ``section:start-end:polarity:text`` spans of one report."""

    report_id: str
    section: str | None = None
    spans: tuple[str, ...] = ()


class ConceptEdge(_Record):
    """A concept's relationship to another concept (``other`` a CUI), or a count of cross-modal edges
    (``other`` like ``"18 Image nodes"``)."""

    direction: str  # "out" or "in"
    type: str
    other: str
    name: str | None = None
    properties: dict = Field(default_factory=dict)


class Neighbourhood(_Record):
    concept: ConceptRef
    edges: tuple[ConceptEdge, ...] = ()
