"""The ``rules`` extractor: lexicon-driven mentions, NegEx-style polarity, relation heuristics.

Offline, deterministic, no model. For each target section (FINDINGS, IMPRESSION or the
fallback paragraph) it

1. tokenises the text (words and single punctuation marks, with character offsets);
2. splits sentences and finds concept mentions by longest match over normalised words
   (:class:`~extract.concepts.ConceptIndex`), trigger phrases (:mod:`extract.triggers`),
   modifier and anatomy words;
3. walks each sentence once, opening a polarity scope at a trigger and closing it at a
   terminator, a clause verb after something was captured, punctuation that ends a clause,
   or after ``SCOPE_WINDOW`` words without a new mention; post-triggers ("is not seen",
   "cannot be excluded") act on the mentions of the clause before them;
4. adds RadGraph relations: ``located_at`` (adjacent or prepositional anatomy),
   ``modify`` (modifier words), ``suggestive_of`` ("opacity, likely atelectasis").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from extract.assembly import Span, assemble_plan
from extract.certainty import PROBABLE
from extract.concepts import ConceptIndex, normalise_word
from extract.lexicon import Lexicon
from extract.records import ConceptMention, Extraction, Polarity, Section
from extract.relations import add_relations
from extract.text import PhraseTable, phrase_key, plan
from extract.triggers import (
    ANATOMY_WORDS,
    BORDERLINE_PHRASES,
    CLAUSE_VERBS,
    COMPOSED,
    COMPOSED_WORDS,
    GENERIC_OBSERVATION_WORDS,
    MODIFIER_WORDS,
    NORMAL_OF,
    NORMAL_PHRASES,
    SIGN_PHRASES,
    SIGN_WORDS,
    TRIGGERS,
)

VERSION = "0.2"
CLAUSE_PUNCT = frozenset({";", ":", "(", ")", "[", "]"})
SCOPE_WINDOW = 8  # words a forward scope stays open without capturing a mention
MEDIASTINUM, HEART = "C0025066", "C0018787"


def _build_trigger_table() -> PhraseTable:
    table: dict[tuple[str, ...], str] = {}
    for kind, phrases in TRIGGERS.items():
        for p in phrases:
            table.setdefault(phrase_key(p), kind)
    for p in NORMAL_PHRASES:
        table.setdefault(phrase_key(p), "normal")
    for p in BORDERLINE_PHRASES:
        table[phrase_key(p)] = "borderline"
    return PhraseTable(table)


_TRIGGERS = _build_trigger_table()


@dataclass
class _Scope:
    kind: str
    reason: str
    last: int
    captured: bool = False


class RulesExtractor:
    """Deterministic, offline extractor over a :class:`ConceptIndex` (default: bundled lexicon)."""

    name = "rules"
    version = VERSION
    uses_model = False

    def __init__(self, index: ConceptIndex | None = None, *, implied_absence: bool = True):
        self.index = index or Lexicon.default()
        # "lungs are clear", "heart size is normal" state the absence of findings in a region;
        # `rules:literal` turns this off (only findings that are named are reported)
        self.implied_absence = implied_absence
        self._rule_cache: dict[str, str | None] = {}

    def _rule_anatomy(self, cui: str) -> str | None:
        """``cui`` if composed/normal rules exist for it, else its nearest isa ancestor (2 levels) that has them:
        "the superior mediastinum is widened" follows the mediastinum's rules."""
        hit = self._rule_cache.get(cui, "?")
        if hit != "?":
            return hit
        found, frontier = None, [cui]
        for _ in range(3):
            nxt: list[str] = []
            for c in frontier:
                if c in COMPOSED or c in NORMAL_OF:
                    found = c
                    break
                concept = self.index.concept(c)
                nxt.extend(concept.parents if concept else ())
            if found or not nxt:
                break
            frontier = nxt
        self._rule_cache[cui] = found
        return found

    @property
    def id(self) -> str:
        variant = "" if self.implied_absence else ":literal"
        return f"{self.name}{variant}/{self.version}+{self.index.name}@{self.index.version}"

    # -- public -------------------------------------------------------------------------
    def extract(self, report_id: str, text: str, sections: tuple[Section, ...] | None = None) -> Extraction:
        sections, tokens, sentences = plan(text, sections)
        spans, extra = [], []
        for sec_name, units in sentences:
            sent_spans, normals = self._read_sentence(text, tokens, units)
            spans.append(sent_spans)
            for anat, kind, (a, b) in normals:
                extra.extend(self._normal_mentions(text, tokens, units, anat, kind, a, b, sec_name))
        return assemble_plan(report_id, text, sections, tokens, sentences, spans, self.index, self.id, extra)

    # -- steps shared with model-based extractors -----------------------------------------
    # -- one sentence -------------------------------------------------------------------
    def _read_sentence(self, text: str, tokens: list[tuple[int, int]],
                       units: list[int]) -> tuple[list[Span], list[tuple[Span, str, tuple[int, int]]]]:
        low = [text[tokens[t][0] : tokens[t][1]].lower() for t in units]
        norm = [normalise_word(w) for w in low]
        n = len(units)
        free = [True] * n
        events: dict[int, tuple[str, Any, int]] = {}
        ents: list[Span] = []

        for m in self.index.find(norm):
            c = self.index.concept(m.cui)
            kind = "anat" if c is not None and c.group == "ANATOMY" else "obs"
            e = Span(m.start_word, m.end_word, kind, cui=m.cui,
                     rule_cui=self._rule_anatomy(m.cui) if kind == "anat" else None)
            ents.append(e)
            for i in range(m.start_word, m.end_word):
                free[i] = False
            events[m.start_word] = ("ent", e, m.end_word)

        has_composed = [e for e in ents if e.kind == "anat" and e.rule_cui in COMPOSED]
        if has_composed:
            # a lexicon word that also states a finding of an anatomy in this sentence ("the aorta is
            # calcified") names the composed finding
            for e in ents:
                if e.kind == "obs" and e.u1 - e.u0 == 1 and low[e.u0] in COMPOSED_WORDS:
                    hit = _compose(low[e.u0], e.u0, has_composed)
                    if hit is not None:
                        e.composed_from, e.cui = hit
        i = 0
        while i < n:
            if not free[i]:
                i += 1
                continue
            trig = _TRIGGERS.at(low, i, free)
            if trig is not None:
                length, kind = trig
                events[i] = ("trig", (kind, " ".join(low[i : i + length])), i + length)
                for j in range(i, i + length):
                    free[j] = False
                i += length
                continue
            w = low[i]
            hit = _compose(w, i, has_composed) if w in COMPOSED_WORDS else None
            if hit is not None:
                e = Span(i, i + 1, "obs", cui=hit[1], composed_from=hit[0])
            elif w in ANATOMY_WORDS:
                j = i + 1
                while j < n and free[j] and low[j] in ANATOMY_WORDS and j not in events:
                    j += 1
                e = Span(i, j, "anat")
            elif w in MODIFIER_WORDS or w in COMPOSED_WORDS:
                e = Span(i, i + 1, "mod")
            elif w in GENERIC_OBSERVATION_WORDS:
                e = Span(i, i + 1, "obs")
            else:
                i += 1
                continue
            ents.append(e)
            events[i] = ("ent", e, e.u1)
            for j in range(e.u0, e.u1):
                free[j] = False
            i = e.u1

        normals = self._polarity(low, n, events)
        for e in ents:  # a finding named only by a sign of it is possible
            if e.kind != "obs" or e.polarity != Polarity.POSITIVE:
                continue
            if e.composed_from is not None and low[e.u0] in SIGN_WORDS:
                e.polarity, e.reason = Polarity.UNCERTAIN, f"sign:{low[e.u0]}"
            elif " ".join(low[e.u0:e.u1]) in SIGN_PHRASES:
                e.polarity, e.reason = Polarity.UNCERTAIN, f"sign:{' '.join(low[e.u0:e.u1])}"
        ents.sort(key=lambda e: e.u0)
        add_relations(low, ents)
        return ents, normals

    def _polarity(self, low: list[str], n: int,
                  events: dict[int, tuple[str, Any, int]]) -> list[tuple[Span, str, tuple[int, int]]]:
        """Assign polarity to observation entities; return 'normal' statements found.

        ``clause`` holds the observations a post-trigger ("is not seen") may reach: it is cut by
        punctuation, terminators, "with" and any verb that is not part of the trigger itself, so in
        "NG tube is seen below the diaphragm with the tip not identified" the tube stays positive.
        ``anatomy`` (for "<heart> is normal") is cut only by punctuation and terminators."""
        scope: _Scope | None = None
        clause: list[Span] = []  # reach of negating post-triggers
        loose: list[Span] = []  # reach of uncertainty post-triggers ("effusion is small, if any")
        anatomy: list[Span] = []
        normals = []
        i = 0
        while i < n:
            if scope is not None and i - scope.last > SCOPE_WINDOW:
                scope = None
            ev = events.get(i)
            if ev is None:
                w = low[i]
                if w in CLAUSE_PUNCT:
                    scope, clause, loose, anatomy = None, [], [], []
                elif w in CLAUSE_VERBS or w == "with":
                    clause = []
                    if scope is not None and scope.captured:
                        scope = None
                i += 1
                continue
            what, payload, end = ev
            if what == "trig":
                kind, phrase = payload
                if kind in ("neg", "neg_weak", "unc"):
                    if kind == "unc" and scope is not None and scope.kind == "unc" and not scope.captured \
                            and phrase in PROBABLE and scope.reason not in PROBABLE:
                        phrase = scope.reason  # "may be compatible with": the modal's grade, not the stronger one
                    scope = _Scope(kind, phrase, last=end)
                    clause, loose = [], []
                elif kind == "neg_post":
                    for e in clause:
                        e.polarity, e.reason, e.weak = Polarity.NEGATIVE, f"{kind}:{phrase}", False
                    clause, loose = [], []
                elif kind == "unc_post":
                    for e in loose:
                        if e.polarity != Polarity.NEGATIVE:
                            e.polarity, e.reason, e.weak = Polarity.UNCERTAIN, f"{kind}:{phrase}", False
                elif kind == "unc_both":
                    # a differential inside a hedge ("may represent atelectasis versus infiltrate") stays that hedge
                    hedge = scope.reason if scope is not None and scope.kind == "unc" else phrase
                    if clause and clause[-1].polarity != Polarity.UNCERTAIN:
                        clause[-1].polarity, clause[-1].reason = Polarity.UNCERTAIN, f"unc:{phrase}"
                    scope = _Scope("unc", hedge, last=end)
                elif kind == "unc_alt":
                    if (scope is None or scope.kind == "unc") and clause and _joined(low, clause[-1], i) \
                            and _observation_follows(events, end, n):
                        if clause[-1].polarity == Polarity.POSITIVE:
                            clause[-1].polarity, clause[-1].reason, clause[-1].weak = Polarity.UNCERTAIN, f"unc_alt:{phrase}", False
                        scope = _Scope("unc", scope.reason if scope is not None else phrase, last=end)
                elif kind in ("normal", "borderline"):
                    anat = [e for e in anatomy if e.rule_cui in NORMAL_OF]
                    if anat:  # "the heart is normal"
                        normals.append((anat[-1], kind, (anat[-1].u0, end)))
                    else:  # "normal heart size", "clear lungs"
                        for j in range(end, min(n, end + 3)):
                            nxt = events.get(j)
                            if nxt is not None and nxt[0] == "ent" and nxt[1].kind == "anat" and nxt[1].rule_cui in NORMAL_OF:
                                normals.append((nxt[1], kind, (i, nxt[2])))
                                break
                        else:
                            if kind == "borderline":  # "borderline cardiomegaly"
                                scope = _Scope("unc", phrase, last=end)
                elif kind in ("term", "pseudo"):
                    scope, clause, loose, anatomy = None, [], [], []
                i = end
                continue
            ent: Span = payload
            e = ent
            if e.kind == "obs":
                if scope is not None:
                    if scope.kind == "unc":
                        e.polarity, e.reason = Polarity.UNCERTAIN, f"unc:{scope.reason}"
                    else:
                        e.polarity, e.reason = Polarity.NEGATIVE, f"{scope.kind}:{scope.reason}"
                        e.weak = scope.kind == "neg_weak"
                    scope.captured, scope.last = True, end
                clause.append(e)
                loose.append(e)
            elif e.kind == "anat":
                anatomy.append(e)
                if scope is not None:
                    scope.last = end
            i = end
        return normals

    def _normal_mentions(self, text: str, tokens: list[tuple[int, int]], units: list[int], anat: Span, kind: str, a: int,
                         b: int, section: str) -> list[ConceptMention]:
        """'The heart size is normal' -> Cardiomegaly negative ('top normal' -> uncertain)."""
        pol = Polarity.NEGATIVE if kind == "normal" else Polarity.UNCERTAIN
        if pol == Polarity.NEGATIVE and not self.implied_absence:
            return []
        start = tokens[units[min(a, anat.u0)]][0]
        end = tokens[units[max(b, anat.u1) - 1]][1]
        low_anat = text[tokens[units[anat.u0]][0] : tokens[units[anat.u1 - 1]][1]].lower()
        cuis = list(NORMAL_OF.get(anat.rule_cui or "", ()))
        if anat.rule_cui == MEDIASTINUM and "cardiomediastinal" in low_anat:
            cuis = list(NORMAL_OF[HEART]) + cuis
        out = []
        for cui in cuis:
            c = self.index.concept(cui)
            if c is None:
                continue
            out.append(ConceptMention(cui, c.name, pol, start, end, text[start:end], section, rule=f"{kind}:{low_anat}"))
        return out

def _compose(word: str, at: int, anats: list[Span]) -> tuple[Span, str] | None:
    """The nearest anatomy of the sentence for which ``word`` states a finding, and that finding."""
    best: tuple[int, Span, str] | None = None
    for a in anats:
        for words, cui in COMPOSED.get(a.rule_cui or "", ()):
            if word in words:
                d = abs(a.u0 - at)
                if best is None or d < best[0]:
                    best = (d, a, cui)
    return None if best is None else (best[1], best[2])


def _joined(low: list[str], e: Span, at: int) -> bool:
    """``e`` ends right before word ``at``, or only ",", "/" and "and" lie between ("collapse and/or")."""
    return all(w in (",", "/", "and") for w in low[e.u1 : at])


def _observation_follows(events: dict[int, tuple[str, Any, int]], i: int, n: int) -> bool:
    """An observation starts within the next four words (modifiers and anatomy may come first)."""
    for j in range(i, min(n, i + 4)):
        ev = events.get(j)
        if ev is None:
            continue
        if ev[0] != "ent":
            return False
        if ev[1].kind == "obs":
            return True
    return False
