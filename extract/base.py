"""The extractor Protocol and its registry of backends by name."""

from __future__ import annotations

from typing import Protocol

from extract.concepts import ConceptIndex
from extract.records import Extraction, Section
from kg.core.errors import InvalidInput
from kg.core.registry import Registry


class Extractor(Protocol):
    name: str
    version: str
    uses_model: bool  # holds a neural model (an engine gives it a GPU where the machine has one)

    @property
    def id(self) -> str: ...

    def extract(self, report_id: str, text: str, sections: tuple[Section, ...] | None = None) -> Extraction: ...


EXTRACTORS: Registry[Extractor] = Registry("extractor", option="--extractor")


@EXTRACTORS.register("rules")
def _rules(index: ConceptIndex, arg: str | None = None) -> Extractor:
    from extract.rules import RulesExtractor

    if arg not in (None, "literal"):
        raise InvalidInput(f"unknown rules variant {arg!r}", code="E112", fix="use rules or rules:literal")
    return RulesExtractor(index, implied_absence=arg != "literal")


@EXTRACTORS.register("transformers")
def _transformers(index: ConceptIndex, arg: str | None) -> Extractor:
    from extract.neural import TransformersExtractor

    return TransformersExtractor(index, arg)


@EXTRACTORS.register("radgraph")
def _radgraph(index: ConceptIndex, arg: str | None) -> Extractor:
    from extract.radgraph_backend import RadGraphExtractor

    return RadGraphExtractor(index, arg)


@EXTRACTORS.register("radgraph-file")
def _radgraph_file(index: ConceptIndex, arg: str | None) -> Extractor:
    """Annotations you already have (``kg build --radgraph FILE`` is ``--extractor radgraph-file:FILE``)."""
    from extract.radgraph_file import RadGraphFileExtractor

    if not arg:
        raise InvalidInput("the radgraph-file extractor needs a file", code="E113",
                           fix="use --extractor radgraph-file:<RadGraph JSON> or --radgraph FILE")
    return RadGraphFileExtractor(arg, index)


def get_extractor(spec: str, index: ConceptIndex) -> Extractor:
    """``name`` or ``name:argument``: ``rules`` (``rules:literal``: no absence implied by "lungs are
    clear"), ``transformers:<model folder>``, ``radgraph[:model type]``, ``radgraph-file:<RadGraph JSON>``."""
    return EXTRACTORS.create(spec, index)
