"""Report text to sections, RadGraph-style entities/relations with polarity, and UMLS concepts.

It may import ``kg.core`` only (never ``embed``, ``graph`` or the application layer)."""

from extract.records import (
    ConceptMention,
    Entity,
    Extraction,
    Relation,
    Section,
    StudyConcept,
)
from extract.sections import split_sections

__all__ = [
    "ConceptMention",
    "Entity",
    "Extraction",
    "Relation",
    "Section",
    "StudyConcept",
    "split_sections",
]
