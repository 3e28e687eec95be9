"""The assembly step every extractor ends with: entity spans over sentence units -> an :class:`Extraction`.

An extractor finds :class:`Span` s in each sentence of :func:`extract.text.plan` (by rules, a token-classification
model or RadGraph's own model), links them to concepts and relates them; :func:`assemble_plan` turns them into
RadGraph entities (labels from polarity), relations, concept mentions and the study's merged concepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from extract.concepts import ConceptIndex
from extract.merge import merge_mentions
from extract.records import (
    ConceptMention,
    Entity,
    Extraction,
    Polarity,
    Relation,
    Section,
)
from extract.text import Plan


@dataclass
class Span:
    u0: int  # first unit (inclusive)
    u1: int  # last unit (exclusive)
    kind: str  # "obs", "anat", "mod"
    cui: str | None = None
    rule_cui: str | None = None  # the anatomy whose composed / normal rules apply (itself or an isa ancestor)
    polarity: Polarity = Polarity.POSITIVE
    reason: str = ""
    weak: bool = False
    composed_from: Span | None = None
    located: list[Span] = field(default_factory=list)
    modifies: Span | None = None
    suggests: list[Span] = field(default_factory=list)




def assemble_plan(report_id: str, text: str, sections: tuple[Section, ...], tokens: list[tuple[int, int]], plan: Plan,
                  found: list[list[Span]], index: ConceptIndex, extractor_id: str,
                  extra_mentions: Iterable[ConceptMention] = ()) -> Extraction:
    """``found`` holds the spans of each sentence of ``plan``, in order."""
    ents = [(e, units, sec) for (sec, units), spans in zip(plan, found) for e in spans]
    return assemble(report_id, text, sections, tokens, ents, list(extra_mentions), index, extractor_id)


def assemble(report_id: str, text: str, sections: tuple[Section, ...], tokens: list[tuple[int, int]],
             ents: list[tuple[Span, list[int], str]], extra_mentions: list[ConceptMention], index: ConceptIndex,
             extractor_id: str) -> Extraction:
    """Spans (with the units of their sentence and their section) -> RadGraph entities and relations, concept
    mentions and the study-level concepts (merge rule)."""
    ents.sort(key=lambda x: (x[1][x[0].u0], x[1][x[0].u1 - 1]))
    ids: dict[int, str] = {}
    entities: list[Entity] = []
    mentions: list[ConceptMention] = list(extra_mentions)
    for n, (e, units, sec) in enumerate(ents, 1):
        ids[id(e)] = str(n)
        t0, t1 = units[e.u0], units[e.u1 - 1]
        start, end = tokens[t0][0], tokens[t1][1]
        if e.kind == "anat":
            label = "ANAT-DP"
        elif e.kind == "mod":
            label = "OBS-DP"
        else:
            label = e.polarity.label
        span = text[start:end]
        entities.append(Entity(str(n), span, label, start, end, t0, t1, sec, e.cui, e.reason))
        if e.cui is not None:
            c = index.concept(e.cui)
            name = c.name if c is not None else e.cui
            pol = Polarity.POSITIVE if e.kind == "anat" else e.polarity
            mentions.append(ConceptMention(e.cui, name, pol, start, end, span, sec, e.weak, str(n),
                                            "" if e.kind == "anat" else e.reason))
    relations: list[Relation] = []
    for e, _units, _sec in ents:
        src = ids[id(e)]
        for a in e.located:
            relations.append(Relation("located_at", src, ids[id(a)]))
        if e.modifies is not None:
            relations.append(Relation("modify", src, ids[id(e.modifies)]))
        for b in e.suggests:
            relations.append(Relation("suggestive_of", src, ids[id(b)]))
    # modifier words ("mild", "small", "acute", "unchanged") stay with the mention they modify: never concepts
    ent_of = {e.id: e for e in entities}
    mods: dict[str, list[str]] = {}
    for r in relations:
        modifier = ent_of.get(r.source)
        if r.type == "modify" and modifier is not None and modifier.cui is None:
            mods.setdefault(r.target, []).append(modifier.text.lower())
    if mods:
        mentions = [replace(m, modifiers=tuple(dict.fromkeys(mods[m.entity_id]))) if m.entity_id in mods else m
                    for m in mentions]
    mentions.sort(key=lambda m: (m.start, m.end, m.cui))
    return Extraction(
        report_id=report_id,
        sections=tuple(sections),
        tokens=tuple(tokens),
        entities=tuple(entities),
        relations=tuple(relations),
        mentions=tuple(mentions),
        extractor=extractor_id,
        concepts=merge_mentions(mentions),
    )
