"""Typed records passed between the extraction stages.

Offsets are character offsets into the original report text (``text[start:end]``).
Entity labels and relation types follow the RadGraph schema:
ANAT-DP, OBS-DP, OBS-U, OBS-DA; ``modify``, ``located_at``, ``suggestive_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Polarity = Literal["positive", "negative", "uncertain"]
EntityLabel = Literal["ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"]
RelationType = Literal["modify", "located_at", "suggestive_of"]

LABEL_FOR_POLARITY: dict[str, str] = {
    "positive": "OBS-DP",
    "negative": "OBS-DA",
    "uncertain": "OBS-U",
}
POLARITY_FOR_LABEL: dict[str, str] = {v: k for k, v in LABEL_FOR_POLARITY.items()}


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
    polarity: str  # Polarity
    start: int
    end: int
    text: str
    section: str
    weak: bool = False  # e.g. "no new X", "history of X": yields to any other mention
    entity_id: str | None = None
    rule: str = ""  # the trigger that set the polarity ("unc:likely", "neg:no", "normal:normal"); "" when none
    modifiers: tuple[str, ...] = ()  # words that modify it ("mild", "small", "unchanged"): RadGraph ``modify``

    @property
    def certainty(self) -> str:
        """definite, probable, possible or absent (:mod:`extract.certainty`)."""
        from extract.certainty import certainty_of

        return certainty_of(self.polarity, self.rule)


@dataclass(frozen=True)
class StudyConcept:
    """A concept's polarity for a whole report after the merge rule (see extract.merge)."""

    cui: str
    name: str
    polarity: str
    evidence: tuple[ConceptMention, ...]
    conflict: bool  # mentions disagreed on polarity
    certainty: str = ""  # definite, probable, possible or absent: of the mention(s) that decided the polarity
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
