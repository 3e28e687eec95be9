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


EXTRACTORS: dict[str, Callable[[ConceptIndex], Extractor]] = {"rules": _rules}


def get_extractor(name: str, index: ConceptIndex) -> Extractor:
    if name not in EXTRACTORS:
        raise UsageError(f"unknown extractor {name!r}", fix="use one of: " + ", ".join(sorted(EXTRACTORS)))
    return EXTRACTORS[name](index)
