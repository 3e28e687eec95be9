"""A certainty scale finer than RadGraph's three labels, and the rule that set it.

``definite``  stated as present ("Right pleural effusion.");
``probable``  hedged towards present: "likely", "probably", "consistent with", "compatible with", "favored",
              "suggestive of", "presumed", "most likely";
``possible``  hedged either way: "may", "could", "possible", "cannot exclude", "questionable", "concerning for",
              "suspicious for", "versus", a differential ("atelectasis or pneumonia"), "borderline", a request
              ("evaluate for"), a sign rather than the finding ("blunting of the costophrenic angle" for an
              effusion, a "nodular density" for a nodule);
``absent``    negated ("No pneumothorax.", "The heart is normal in size.").

Each mention records the trigger that decided its polarity as ``kind:phrase`` (``unc:likely``, ``neg:no``,
``unc_alt:or``), and the certainty follows from it: an uncertain mention is ``probable`` when its trigger phrase
is one of :data:`PROBABLE`, else ``possible``. For RadGraph output both hedged grades are ``OBS-U``; label
policies (``kg label --probable``) and the graph's cross-modal edges (``certainty``) keep the difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Certainty(StrEnum):
    """A finer scale than the three polarities (:mod:`extract.certainty`): ``definite`` (stated), ``probable``
    (hedged towards present), ``possible`` (hedged either way), ``absent`` (negated)."""

    DEFINITE = "definite"
    PROBABLE = "probable"
    POSSIBLE = "possible"
    ABSENT = "absent"


CERTAINTIES = tuple(Certainty)  # most certain first

# trigger phrases (extract.triggers) that lean towards present; every other hedge is "possible"
PROBABLE = frozenset({
    "probable", "probably", "likely", "most likely", "more likely", "likely representing", "likely reflecting",
    "likely due to", "likely secondary to", "likely related to", "most likely representing", "presumed",
    "presumably", "consistent with", "compatible with", "suggestive of", "suggesting", "suggests", "favored",
    "favor", "favoring", "favour", "favoured", "is likely", "are likely", "is favored",
    "most consistent with", "highly suggestive of", "characteristic of", "typical of", "in keeping with",
    "may well represent",
})


def certainty_of(polarity: str, rule: str = "") -> Certainty:
    """The certainty of a mention from its polarity (``extract.records.Polarity``, which imports this module) and
    the trigger (``kind:phrase``) that set it."""
    if polarity == "positive":
        return Certainty.DEFINITE
    if polarity == "negative":
        return Certainty.ABSENT
    phrase = rule.split(":", 1)[1] if ":" in rule else ""
    return Certainty.PROBABLE if phrase in PROBABLE else Certainty.POSSIBLE


def strongest(certainties: Iterable[Certainty]) -> Certainty:
    """Of several hedged mentions of one finding, the most confident."""
    return min(certainties, key=CERTAINTIES.index)
