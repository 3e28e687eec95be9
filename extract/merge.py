"""The rule that turns a report's mentions of one concept into one polarity.

``MERGE_RULE`` (recorded in every build manifest):

1. definite mentions (positive, or negative that is not weak) beat hedged ones
   (uncertain) and weak negatives ("no new X", "history of X");
2. among those, a mention in IMPRESSION beats one in FINDINGS, which beats the fallback
   paragraph;
3. then positive beats uncertain beats negative (a finding present on one side and
   absent on the other is present);
4. ties go to the earliest mention.

A concept whose mentions carry more than one polarity is flagged ``conflict``.
"""

from __future__ import annotations

from collections.abc import Iterable

from extract.certainty import CERTAINTIES
from extract.records import ConceptMention, Polarity, StudyConcept

MERGE_RULE = "definite>hedged; impression>findings>other; positive>uncertain>negative; first"
_SECTION_RANK = {"impression": 2, "findings": 1}
_POLARITY_RANK = {Polarity.POSITIVE: 2, Polarity.UNCERTAIN: 1, Polarity.NEGATIVE: 0}


def _key(m: ConceptMention) -> tuple[int, int, int, int, int]:
    definite = int(m.polarity == Polarity.POSITIVE or (m.polarity == Polarity.NEGATIVE and not m.weak))
    return (definite, int(not m.weak), _SECTION_RANK.get(m.section, 0), _POLARITY_RANK[m.polarity], -m.start)


def merge_mentions(mentions: Iterable[ConceptMention]) -> tuple[StudyConcept, ...]:
    by_cui: dict[str, list[ConceptMention]] = {}
    for m in mentions:
        by_cui.setdefault(m.cui, []).append(m)
    out = []
    for cui in sorted(by_cui):
        ms = sorted(by_cui[cui], key=lambda m: (m.start, m.end))
        best = max(ms, key=_key)
        # of the mentions with the winning polarity (and weight), the most confident grade: "likely atelectasis"
        # in the impression and "possible atelectasis" in the findings make a probable atelectasis
        peers = [m for m in ms if _key(m)[:4] == _key(best)[:4]]
        lead = min(peers, key=lambda m: (CERTAINTIES.index(m.certainty), m.start))
        out.append(
            StudyConcept(
                cui=cui,
                name=best.name,
                polarity=best.polarity,
                evidence=tuple(ms),
                conflict=len({m.polarity for m in ms}) > 1,
                certainty=lead.certainty,
                rule=lead.rule,
                modifiers=tuple(dict.fromkeys(w for m in ms for w in m.modifiers)),
            )
        )
    return tuple(out)
