"""The extractor Protocol and its registry of backends by name."""

from __future__ import annotations

from typing import Callable, Protocol

from extract.lexicon import ConceptIndex
from extract.records import Extraction, Section
from kg.core.errors import InvalidInput


class Extractor(Protocol):
    name: str
    version: str

    @property
    def id(self) -> str: ...

    def extract(self, report_id: str, text: str, sections: tuple[Section, ...] | None = None) -> Extraction: ...


def _rules(index: ConceptIndex, arg: str | None = None) -> Extractor:
    from extract.rules import RulesExtractor

    if arg not in (None, "literal"):
        raise InvalidInput(f"unknown rules variant {arg!r}", code="E112", fix="use rules or rules:literal")
    return RulesExtractor(index, implied_absence=arg != "literal")


def _transformers(index: ConceptIndex, arg: str | None) -> Extractor:
    from extract.neural import TransformersExtractor

    return TransformersExtractor(index, arg)


def _radgraph(index: ConceptIndex, arg: str | None) -> Extractor:
    from extract.radgraph_backend import RadGraphExtractor

    return RadGraphExtractor(index, arg)


EXTRACTORS: dict[str, Callable[[ConceptIndex, str | None], Extractor]] = {
    "rules": _rules,
    "transformers": _transformers,
    "radgraph": _radgraph,
}


def get_extractor(spec: str, index: ConceptIndex) -> Extractor:
    """``name`` or ``name:argument``: ``rules`` (``rules:literal``: no absence implied by "lungs are
    clear"), ``transformers:<model folder>``, ``radgraph[:model type]``."""
    name, _, arg = spec.partition(":")
    if name not in EXTRACTORS:
        raise InvalidInput(f"unknown extractor {name!r}", code="E113", fix="use one of: " + ", ".join(sorted(EXTRACTORS)))
    return EXTRACTORS[name](index, arg or None)
