"""The extractor Protocol and its registry of backends by name."""

from __future__ import annotations

from typing import Callable, Protocol

from extract.lexicon import ConceptIndex
from extract.records import Extraction, Section
from kg.errors import UsageError


class Extractor(Protocol):
    name: str
    version: str

    @property
    def id(self) -> str: ...

    def extract(self, report_id: str, text: str, sections: tuple[Section, ...] | None = None) -> Extraction: ...


def _rules(index: ConceptIndex) -> Extractor:
    from extract.rules import RulesExtractor

    return RulesExtractor(index)


def _transformers(index: ConceptIndex, arg: str | None) -> Extractor:
    from extract.neural import TransformersExtractor

    return TransformersExtractor(index, arg)


def _radgraph(index: ConceptIndex, arg: str | None) -> Extractor:
    from extract.radgraph_backend import RadGraphExtractor

    return RadGraphExtractor(index, arg)


EXTRACTORS: dict[str, Callable[[ConceptIndex, str | None], Extractor]] = {
    "rules": lambda index, arg: _rules(index),
    "transformers": _transformers,
    "radgraph": _radgraph,
}


def get_extractor(spec: str, index: ConceptIndex) -> Extractor:
    """``name`` or ``name:argument``: ``rules``, ``transformers:<model folder>``, ``radgraph[:model type]``."""
    name, _, arg = spec.partition(":")
    if name not in EXTRACTORS:
        raise UsageError(f"unknown extractor {name!r}", fix="use one of: " + ", ".join(sorted(EXTRACTORS)))
    return EXTRACTORS[name](index, arg or None)
