"""Retrieval over either store, with typed, cited results: the nearest images to an image or a vector, and a
concept's neighbourhood. `kg similar` and `kg neighbors` are thin callers; the retrieval service builds on
these."""

from graph.retrieve.concepts import find_concept, neighbourhood
from graph.retrieve.images import nearest_images, query_vector, similar_images
from graph.retrieve.records import (
           ConceptEdge,
           ConceptRef,
           Evidence,
           ImageHit,
           Neighbourhood,
)

__all__ = ["ConceptEdge", "ConceptRef", "Evidence", "ImageHit", "Neighbourhood", "find_concept", "nearest_images",
           "neighbourhood", "query_vector", "similar_images"]
