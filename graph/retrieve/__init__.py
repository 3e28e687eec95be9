"""Retrieval over either store, with typed, cited results: the knowledge context for an image or a question
(``Retriever(store).context(ContextQuery(...))``), the nearest images to an image or a vector, and a concept's
neighbourhood. `kg similar` and `kg neighbors` are thin callers; the retrieval service, the KG-RAG plugin, MCP and
the neo4j-graphrag adapter are thin adapters over :class:`ContextQuery` and :class:`Retriever`.

Imports: ``graph.store`` (and ``graph.neo4j`` through it), ``embed`` for new images, ``extract`` for text
queries, ``kg.core``; never the application layer."""

from graph.retrieve.concepts import find_concept, neighbourhood
from graph.retrieve.context import Retriever, choose_neighbours
from graph.retrieve.findings import aggregate, expand
from graph.retrieve.images import nearest_images, query_vector, similar_images
from graph.retrieve.query import ContextQuery, QueryOptions
from graph.retrieve.records import (
    Citation,
    ConceptEdge,
    ConceptRef,
    Context,
    Finding,
    ImageHit,
    KChoice,
    Match,
    Neighbourhood,
    Triplet,
)

__all__ = ["Citation", "ConceptEdge", "ConceptRef", "Context", "ContextQuery", "Finding", "ImageHit", "KChoice",
           "Match", "Neighbourhood", "QueryOptions", "Retriever", "Triplet", "aggregate", "choose_neighbours", "expand",
           "find_concept", "nearest_images", "neighbourhood", "query_vector", "similar_images"]
