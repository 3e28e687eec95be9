"""Typed records passed between the extraction stages.

Offsets are character offsets into the original report text (``text[start:end]``).
Entity labels and relation types follow the RadGraph schema:
ANAT-DP, OBS-DP, OBS-U, OBS-DA; ``modify``, ``located_at``, ``suggestive_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from extract.certainty import Certainty, certainty_of

EntityLabel = Literal["ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"]
RelationType = Literal["modify", "located_at", "suggestive_of"]


class Polarity(StrEnum):
    """Whether a report states a finding, negates it or hedges it: the one spelling from the extractor to the
    API's JSON (``positive``, ``negative``, ``uncertain``). The graph's relationship types (MedMKG's
    ``POSITIVE``/``NEGATIVE``/``UNCERTAIN``), the RadGraph labels and the words a prompt uses (``present``,
    ``absent``) are derived from it, never spelled again."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"

    @property
    def edge_type(self) -> str:
        """The relationship type of an (Image)-[...]->(Concept) edge."""
        return self.value.upper()

    @property
    def label(self) -> str:
        """The RadGraph entity label of an observation with this polarity."""
        return _LABELS[self]

    @property
    def word(self) -> str:
        """How a prompt says it: ``present``, ``absent``, ``uncertain``."""
        return _WORDS[self]

    @classmethod
    def of_edge(cls, edge_type: str) -> Polarity:
        """The polarity of a cross-modal relationship type (``POSITIVE`` -> ``positive``)."""
        return cls(edge_type.lower())

    @classmethod
    def of_label(cls, label: str) -> Polarity:
        """The polarity of a RadGraph label (``OBS-DA`` -> ``negative``); anatomy (``ANAT-DP``) is positive."""
        if label == "ANAT-DP":
            return cls.POSITIVE
        try:
            return _BY_LABEL[label]
        except KeyError:
            raise ValueError(f"{label!r} is not a RadGraph entity label (ANAT-DP, OBS-DP, OBS-U, OBS-DA)") from None


_LABELS = {Polarity.POSITIVE: "OBS-DP", Polarity.NEGATIVE: "OBS-DA", Polarity.UNCERTAIN: "OBS-U"}
_BY_LABEL = {v: k for k, v in _LABELS.items()}
_WORDS = {Polarity.POSITIVE: "present", Polarity.NEGATIVE: "absent", Polarity.UNCERTAIN: "uncertain"}
EDGE_TYPES = tuple(p.edge_type for p in Polarity)  # POSITIVE, NEGATIVE, UNCERTAIN


@dataclass(frozen=True)
class Section:
    """One section of a report. ``start``/``end`` bound the body (header excluded)."""

    name: str  # canonical: findings, impression, last_paragraph, or another lower-case header
    header: str  # the header as written ("" when none)
    start: int
    end: int

    def text_of(self, report: str) -> str:
        return report[self.start : self.end]


@dataclass(frozen=True)
class Entity:
    """A RadGraph entity: a token span with a label (polarity lives in the label for OBS-*)."""

    id: str  # "1", "2", ... in order of appearance, as in RadGraph files
    text: str
    label: str  # EntityLabel
    start: int  # character offsets into the report
    end: int
    start_ix: int  # inclusive token indices into the report's tokens (RadGraph convention)
    end_ix: int
    section: str
    cui: str | None = None
    reason: str = ""  # the trigger that set the polarity, e.g. "neg:no", "unc:likely"


@dataclass(frozen=True)
class Relation:
    type: str  # RelationType
    source: str  # entity id
    target: str  # entity id


@dataclass(frozen=True)
class ConceptMention:
    """One mention of a concept in a report, with its polarity and evidence span."""

    cui: str
    name: str
    polarity: Polarity
    start: int
    end: int
    text: str
    section: str
    weak: bool = False  # e.g. "no new X", "history of X": yields to any other mention
    entity_id: str | None = None
    rule: str = ""  # the trigger that set the polarity ("unc:likely", "neg:no", "normal:normal"); "" when none
    modifiers: tuple[str, ...] = ()  # words that modify it ("mild", "small", "unchanged"): RadGraph ``modify``

    @property
    def certainty(self) -> Certainty:
        """definite, probable, possible or absent (:mod:`extract.certainty`)."""
        return certainty_of(self.polarity, self.rule)


@dataclass(frozen=True)
class StudyConcept:
    """A concept's polarity for a whole report after the merge rule (see extract.merge)."""

    cui: str
    name: str
    polarity: Polarity
    evidence: tuple[ConceptMention, ...]
    conflict: bool  # mentions disagreed on polarity
    certainty: Certainty | None = None  # of the mention(s) that decided the polarity
    rule: str = ""  # that mention's trigger
    modifiers: tuple[str, ...] = ()  # the modifier words of its mentions, in order of appearance


@dataclass(frozen=True)
class Extraction:
    """Everything an extractor read from one report."""

    report_id: str
    sections: tuple[Section, ...]
    tokens: tuple[tuple[int, int], ...]  # character spans of the tokens
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]
    mentions: tuple[ConceptMention, ...]
    extractor: str  # backend name and version, e.g. "rules/0.1"
    concepts: tuple[StudyConcept, ...] = field(default=())
