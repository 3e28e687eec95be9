"""A neo4j-graphrag retriever over a medkg graph, so neo4j-graphrag users plug medkg's cited context into their
pipelines (``GraphRAG(retriever=MedkgRetriever(driver, "graph-dir"), llm=...)``).

``search(query_text=..., query_vector=..., image_id=..., top_k=...)`` returns neo4j-graphrag's
``RetrieverResult``: one item per finding ("Pneumothorax: absent in 3 of 5 similar cases") and per triplet, each
with medkg's citations (report ids, sections, spans, extractor) in its metadata; the result's metadata holds the
k that was used, the leakage guard's counts, how close the best match was (``match``) and, when the graph has no
similar image, ``abstained`` with the reason (and no items). Needs ``pip install neo4j-graphrag``; graph queries go to Neo4j
(the build loaded with ``kg load``), the build folder supplies the vector index and the findings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import neo4j
from neo4j_graphrag.retrievers.base import Retriever
from neo4j_graphrag.types import RawSearchResult, RetrieverResultItem

from graph.neo4j.store import Neo4jStore
from graph.retrieve import ContextQuery, QueryOptions
from graph.retrieve import Retriever as ContextRetriever  # not neo4j-graphrag's Retriever, the base class here
from kg.rag.prompt import finding_line, triplet_text


class MedkgRetriever(Retriever):
    """medkg's knowledge-graph context as a neo4j-graphrag ``Retriever``."""

    def __init__(self, driver: neo4j.Driver, graph_dir: str | Path, *, neo4j_database: str | None = None,
                 options: QueryOptions | None = None, **option_fields: Any):
        """``options`` (or its fields: ``hops=2``, ``exclude="study"``, ...) are how to retrieve; ``top_k`` of each
        search is its ``k``."""
        super().__init__(driver, neo4j_database)
        self.store = Neo4jStore.from_driver(driver, graph_dir, database=neo4j_database)
        self.retriever = ContextRetriever(self.store)
        self.options = QueryOptions.model_validate((options.model_dump() if options else {}) | option_fields)

    def get_search_results(self, query_text: str | None = None, query_vector: list[float] | None = None,
                           image_id: str | None = None, top_k: int = 8, **kwargs: Any) -> RawSearchResult:
        """The cited context for an image of the graph (``image_id``), an image embedding (``query_vector``) or a
        text (``query_text``: a question or a draft report), from the ``top_k`` most similar images."""
        text = None if (image_id or query_vector is not None) else query_text
        ctx = self.retriever.context(ContextQuery.of(
            self.options, k=top_k, image_id=image_id, text=text,
            embedding=None if query_vector is None else tuple(float(x) for x in query_vector)))
        records = [neo4j.Record({"content": finding_line(f), "metadata": {
            "kind": "finding", "cui": f.concept.cui, "polarity": f.polarity.value, "support": f.support,
            "agreement": f.agreement, "similarities": list(f.similarities),
            "citations": [c.as_json() for c in f.citations]}}) for f in ctx.findings]
        records += [neo4j.Record({"content": triplet_text(t), "metadata": {
            "kind": "triplet", "head": t.head.cui, "relation": t.relation, "tail": t.tail.cui, "source": t.source,
            "citations": [c.as_json() for c in t.citations]}}) for t in ctx.triplets]
        return RawSearchResult(records=records, metadata={
            "k": ctx.k.as_json(), "excluded": ctx.excluded, "query": ctx.query, "abstained": ctx.abstained,
            "match": None if ctx.match is None else ctx.match.as_json()})

    def default_record_formatter(self, record: neo4j.Record) -> RetrieverResultItem:
        return RetrieverResultItem(content=record["content"], metadata=record["metadata"])
