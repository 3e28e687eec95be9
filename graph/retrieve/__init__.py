"""Retrieval over either store, with typed, cited results: the knowledge context for an image or a question
(``retrieve_context``), the nearest images to an image or a vector, and a concept's neighbourhood. `kg similar`
and `kg neighbors` are thin callers; the retrieval service and the KG-RAG plugin build on these."""

from graph.retrieve.concepts import find_concept, neighbourhood
from graph.retrieve.context import Guard, aggregate, choose_neighbours, expand, retrieve_context
from graph.retrieve.images import nearest_images, query_vector, similar_images
from graph.retrieve.records import (
    Citation,
    ConceptEdge,
    ConceptRef,
    Context,
    Finding,
    ImageHit,
    KChoice,
    Neighbourhood,
    Triplet,
)

__all__ = ["Citation", "ConceptEdge", "ConceptRef", "Context", "Finding", "Guard", "ImageHit", "KChoice", "Neighbourhood",
           "Triplet", "aggregate", "choose_neighbours", "expand", "find_concept", "nearest_images", "neighbourhood",
           "query_vector", "retrieve_context", "similar_images"]
