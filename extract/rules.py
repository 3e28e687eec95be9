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

import re
from dataclasses import dataclass, field

from extract.concepts import ConceptIndex, normalise_word
from extract.lexicon import Lexicon
from extract.merge import merge_mentions
from extract.records import (
    LABEL_FOR_POLARITY,
    ConceptMention,
    Entity,
    Extraction,
    Relation,
    Section,
)
from extract.sections import split_sections, target_sections
from extract.triggers import (
    ANATOMY_WORDS,
    BORDERLINE_PHRASES,
    CLAUSE_VERBS,
    COMPOSED,
    COMPOSED_WORDS,
    LOCATIVE_WORDS,
    MODIFIER_WORDS,
    NORMAL_OF,
    NORMAL_PHRASES,
    SUGGESTIVE_PHRASES,
    TRIGGERS,
)

VERSION = "0.2"
TOKEN_RE = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")
JOINERS = frozenset({"-", "/", "'", "’"})  # matched through: "right-sided", "pacemaker/ICD"
CLAUSE_PUNCT = frozenset({";", ":", "(", ")", "[", "]"})
SCOPE_WINDOW = 8  # words a forward scope stays open without capturing a mention
MAX_SENTENCE_TOKENS = 256  # longer "sentences" (lists without stops, garbage) are cut: keeps the work linear
MEDIASTINUM, HEART = "C0025066", "C0018787"


def tokenize(text: str) -> list[tuple[int, int]]:
    """Character spans of the tokens of ``text`` (words and single punctuation marks)."""
    return [(m.start(), m.end()) for m in TOKEN_RE.finditer(text)]


class _PhraseTable:
    """Longest-match lookup of lower-case word phrases."""

    def __init__(self, phrases: dict[tuple[str, ...], str]):
        self.phrases = phrases
        self.max_len = max((len(k) for k in phrases), default=1)
        self.first = {k[0] for k in phrases}

    def at(self, words: list[str], i: int, free: list[bool]) -> tuple[int, str] | None:
        if words[i] not in self.first:
            return None
        for length in range(min(self.max_len, len(words) - i), 0, -1):
            if not all(free[i : i + length]):
                continue
            kind = self.phrases.get(tuple(words[i : i + length]))
            if kind is not None:
                return length, kind
        return None


def _phrase_key(p: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in TOKEN_RE.findall(p) if w not in JOINERS)


def _build_trigger_table() -> _PhraseTable:
    table: dict[tuple[str, ...], str] = {}
    for kind, phrases in TRIGGERS.items():
        for p in phrases:
            table.setdefault(_phrase_key(p), kind)
    for p in NORMAL_PHRASES:
        table.setdefault(_phrase_key(p), "normal")
    for p in BORDERLINE_PHRASES:
        table[_phrase_key(p)] = "borderline"
    return _PhraseTable(table)


_TRIGGERS = _build_trigger_table()
_SUGGESTIVE = _PhraseTable({_phrase_key(p): "sugg" for p in SUGGESTIVE_PHRASES})


@dataclass
class _Ent:
    u0: int  # first unit (inclusive)
    u1: int  # last unit (exclusive)
    kind: str  # "obs", "anat", "mod"
    cui: str | None = None
    rule_cui: str | None = None  # the anatomy whose composed / normal rules apply (itself or an isa ancestor)
    polarity: str = "positive"
    reason: str = ""
    weak: bool = False
    composed_from: "_Ent | None" = None
    located: list["_Ent"] = field(default_factory=list)
    modifies: "_Ent | None" = None
    suggests: list["_Ent"] = field(default_factory=list)


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
            nxt = []
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
        sections, tokens, plan = self._plan(text, sections)
        found = [self._read_sentence(text, tokens, units) for _, units in plan]
        return self._finish(report_id, text, sections, tokens, plan, found)

    # -- steps shared with model-based extractors -----------------------------------------
    def _plan(self, text: str, sections: tuple[Section, ...] | None):
        """(sections, tokens, [(section name, units)]): the sentences to read, as token indices
        without joiners ("-", "/"), in the target sections."""
        if sections is None:
            sections = split_sections(text)
        tokens = tokenize(text)
        starts = [s for s, _ in tokens]
        plan: list[tuple[str, list[int]]] = []
        for sec in target_sections(sections):
            t0 = _bisect(starts, sec.start)
            t1 = _bisect(starts, sec.end)
            for sent in _sentences(text, tokens, t0, t1):
                units = [t for t in sent if text[tokens[t][0] : tokens[t][1]] not in JOINERS]
                if units:
                    plan.append((sec.name, units))
        return sections, tokens, plan

    def _finish(self, report_id, text, sections, tokens, plan, found) -> Extraction:
        ents: list[tuple[_Ent, list[int], str]] = []  # (entity, unit->token index, section)
        extra_mentions: list[ConceptMention] = []
        for (sec_name, units), (sent_ents, normals) in zip(plan, found):
            for e in sent_ents:
                ents.append((e, units, sec_name))
            for e_anat, kind, (a, b) in normals:
                extra_mentions.extend(self._normal_mentions(text, tokens, units, e_anat, kind, a, b, sec_name))
        return self._assemble(report_id, text, sections, tokens, ents, extra_mentions)

    # -- one sentence -------------------------------------------------------------------
    def _read_sentence(self, text, tokens, units):
        low = [text[tokens[t][0] : tokens[t][1]].lower() for t in units]
        norm = [normalise_word(w) for w in low]
        n = len(units)
        free = [True] * n
        events: dict[int, tuple[str, object, int]] = {}
        ents: list[_Ent] = []

        for m in self.index.find(norm):
            c = self.index.concept(m.cui)
            kind = "anat" if c is not None and c.group == "ANATOMY" else "obs"
            e = _Ent(m.start_word, m.end_word, kind, cui=m.cui,
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
            hit = _TRIGGERS.at(low, i, free)
            if hit is not None:
                length, kind = hit
                events[i] = ("trig", (kind, " ".join(low[i : i + length])), i + length)
                for j in range(i, i + length):
                    free[j] = False
                i += length
                continue
            w = low[i]
            hit = _compose(w, i, has_composed) if w in COMPOSED_WORDS else None
            if hit is not None:
                e = _Ent(i, i + 1, "obs", cui=hit[1], composed_from=hit[0])
            elif w in ANATOMY_WORDS:
                j = i + 1
                while j < n and free[j] and low[j] in ANATOMY_WORDS and j not in events:
                    j += 1
                e = _Ent(i, j, "anat")
            elif w in MODIFIER_WORDS or w in COMPOSED_WORDS:
                e = _Ent(i, i + 1, "mod")
            else:
                i += 1
                continue
            ents.append(e)
            events[i] = ("ent", e, e.u1)
            for j in range(e.u0, e.u1):
                free[j] = False
            i = e.u1

        normals = self._polarity(low, n, events)
        ents.sort(key=lambda e: e.u0)
        self._relations(low, ents)
        return ents, normals

    def _polarity(self, low, n, events):
        """Assign polarity to observation entities; return 'normal' statements found.

        ``clause`` holds the observations a post-trigger ("is not seen") may reach: it is cut by
        punctuation, terminators, "with" and any verb that is not part of the trigger itself, so in
        "NG tube is seen below the diaphragm with the tip not identified" the tube stays positive.
        ``anatomy`` (for "<heart> is normal") is cut only by punctuation and terminators."""
        scope: _Scope | None = None
        clause: list[_Ent] = []  # reach of negating post-triggers
        loose: list[_Ent] = []  # reach of uncertainty post-triggers ("effusion is small, if any")
        anatomy: list[_Ent] = []
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
                    scope = _Scope(kind, phrase, last=end)
                    clause, loose = [], []
                elif kind == "neg_post":
                    for e in clause:
                        e.polarity, e.reason, e.weak = "negative", f"{kind}:{phrase}", False
                    clause, loose = [], []
                elif kind == "unc_post":
                    for e in loose:
                        if e.polarity != "negative":
                            e.polarity, e.reason, e.weak = "uncertain", f"{kind}:{phrase}", False
                elif kind == "unc_both":
                    if clause:
                        clause[-1].polarity, clause[-1].reason = "uncertain", f"unc:{phrase}"
                    scope = _Scope("unc", phrase, last=end)
                elif kind == "unc_alt":
                    if (scope is None or scope.kind == "unc") and clause and _joined(low, clause[-1], i) \
                            and _observation_follows(events, end, n):
                        if clause[-1].polarity == "positive":
                            clause[-1].polarity, clause[-1].reason, clause[-1].weak = "uncertain", f"unc_alt:{phrase}", False
                        scope = _Scope("unc", phrase, last=end)
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
            e: _Ent = payload
            if e.kind == "obs":
                if scope is not None:
                    if scope.kind == "unc":
                        e.polarity, e.reason = "uncertain", f"unc:{scope.reason}"
                    else:
                        e.polarity, e.reason = "negative", f"{scope.kind}:{scope.reason}"
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

    def _relations(self, low, ents: list[_Ent]) -> None:
        by_u0 = {e.u0: e for e in ents}
        obs = [e for e in ents if e.kind == "obs"]
        # a side or part word right before an anatomy concept modifies it ("left hemidiaphragm")
        for a in ents:
            if a.kind == "anat" and a.cui is None:
                nxt = by_u0.get(a.u1)
                if nxt is not None and nxt.kind == "anat" and nxt.cui is not None:
                    a.modifies = nxt
        for o in obs:
            if o.composed_from is not None:
                o.located.append(o.composed_from)
            # anatomy (and modifiers) right before the observation: "left basilar atelectasis"
            k = o.u0 - 1
            while k >= 0:
                prev = _ending_at(ents, k)
                if prev is None or prev.kind == "obs":
                    break
                if prev.kind == "anat" and prev.modifies is None and prev not in o.located:
                    o.located.append(prev)
                k = prev.u0 - 1
            # prepositional anatomy: "opacity in the left lower lobe"
            k = o.u1
            saw_prep = False
            while k < len(low):
                e = by_u0.get(k)
                if e is not None:
                    if e.kind == "anat":
                        if saw_prep or not o.located:
                            if e not in o.located:
                                o.located.append(e)
                        k = e.u1
                        # a chain "left lower lobe" is one entity; stop after the anatomy phrase
                        nxt = by_u0.get(k)
                        if nxt is None or nxt.kind != "anat":
                            break
                        continue
                    if e.kind == "mod":
                        k = e.u1
                        continue
                    break
                if low[k] in LOCATIVE_WORDS:
                    saw_prep = True
                    k += 1
                    continue
                break
        # modifiers: the nearest observation after (within 3 words), else before
        for m in ents:
            if m.kind != "mod":
                continue
            target = _nearest(obs, m, after=True, limit=3) or _nearest(obs, m, after=False, limit=3)
            m.modifies = target
        # suggestive_of: "<obs A> ... likely <obs B>"
        free = [True] * len(low)
        i = 0
        while i < len(low):
            hit = _SUGGESTIVE.at(low, i, free)
            if hit is None:
                i += 1
                continue
            length, _ = hit
            before = [o for o in obs if o.u1 <= i]
            after = [o for o in obs if o.u0 >= i + length]
            if before and after:
                a, b = before[-1], after[0]
                if b not in a.suggests:
                    a.suggests.append(b)
            i += length

    def _normal_mentions(self, text, tokens, units, anat, kind, a, b, section):
        """'The heart size is normal' -> Cardiomegaly negative ('top normal' -> uncertain)."""
        pol = "negative" if kind == "normal" else "uncertain"
        if pol == "negative" and not self.implied_absence:
            return []
        start = tokens[units[min(a, anat.u0)]][0]
        end = tokens[units[max(b, anat.u1) - 1]][1]
        low_anat = text[tokens[units[anat.u0]][0] : tokens[units[anat.u1 - 1]][1]].lower()
        cuis = list(NORMAL_OF[anat.rule_cui])
        if anat.rule_cui == MEDIASTINUM and "cardiomediastinal" in low_anat:
            cuis = list(NORMAL_OF[HEART]) + cuis
        out = []
        for cui in cuis:
            c = self.index.concept(cui)
            if c is None:
                continue
            out.append(ConceptMention(cui, c.name, pol, start, end, text[start:end], section))
        return out

    # -- output -------------------------------------------------------------------------
    def _assemble(self, report_id, text, sections, tokens, ents, extra_mentions) -> Extraction:
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
                label = LABEL_FOR_POLARITY[e.polarity]
            span = text[start:end]
            entities.append(Entity(str(n), span, label, start, end, t0, t1, sec, e.cui, e.reason))
            if e.cui is not None:
                c = self.index.concept(e.cui)
                name = c.name if c is not None else e.cui
                pol = "positive" if e.kind == "anat" else e.polarity
                mentions.append(ConceptMention(e.cui, name, pol, start, end, span, sec, e.weak, str(n)))
        relations: list[Relation] = []
        for e, _units, _sec in ents:
            src = ids[id(e)]
            for a in e.located:
                relations.append(Relation("located_at", src, ids[id(a)]))
            if e.modifies is not None:
                relations.append(Relation("modify", src, ids[id(e.modifies)]))
            for b in e.suggests:
                relations.append(Relation("suggestive_of", src, ids[id(b)]))
        mentions.sort(key=lambda m: (m.start, m.end, m.cui))
        return Extraction(
            report_id=report_id,
            sections=tuple(sections),
            tokens=tuple(tokens),
            entities=tuple(entities),
            relations=tuple(relations),
            mentions=tuple(mentions),
            extractor=self.id,
            concepts=merge_mentions(mentions),
        )


def _compose(word: str, at: int, anats: list[_Ent]) -> tuple[_Ent, str] | None:
    """The nearest anatomy of the sentence for which ``word`` states a finding, and that finding."""
    best = None
    for a in anats:
        for words, cui in COMPOSED[a.rule_cui]:
            if word in words:
                d = abs(a.u0 - at)
                if best is None or d < best[0]:
                    best = (d, a, cui)
    return None if best is None else (best[1], best[2])


def _joined(low: list[str], e: _Ent, at: int) -> bool:
    """``e`` ends right before word ``at``, or only ",", "/" and "and" lie between ("collapse and/or")."""
    return all(w in (",", "/", "and") for w in low[e.u1 : at])


def _observation_follows(events, i: int, n: int) -> bool:
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


def _bisect(starts: list[int], pos: int) -> int:
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if starts[mid] < pos:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _sentences(text: str, tokens, t0: int, t1: int):
    """Token-index lists, one per sentence, for tokens t0..t1-1."""
    cur: list[int] = []
    for t in range(t0, t1):
        s, e = tokens[t]
        tok = text[s:e]
        if cur and _paragraph_break(text, tokens[cur[-1]][1], s):
            yield cur
            cur = []
        cur.append(t)
        if len(cur) >= MAX_SENTENCE_TOKENS:
            yield cur
            cur = []
            continue
        if tok in ".!?":
            prev = text[tokens[t - 1][0] : tokens[t - 1][1]] if t > t0 else ""
            nxt_s = tokens[t + 1][0] if t + 1 < t1 else len(text)
            glued = nxt_s == e  # "9.5", "p.m."
            if tok == "." and (glued or (len(prev) == 1 and prev.isalpha())):
                continue
            yield cur
            cur = []
    if cur:
        yield cur


def _paragraph_break(text: str, a: int, b: int) -> bool:
    gap = text[a:b]
    return gap.count("\n") >= 2


def _ending_at(ents: list[_Ent], u: int) -> _Ent | None:
    for e in ents:
        if e.u0 <= u < e.u1:
            return e if e.u1 - 1 == u else None
    return None


def _nearest(obs: list[_Ent], m: _Ent, *, after: bool, limit: int) -> _Ent | None:
    if after:
        cands = [o for o in obs if o.u0 >= m.u1 and o.u0 - m.u1 <= limit]
        return min(cands, key=lambda o: o.u0) if cands else None
    cands = [o for o in obs if o.u1 <= m.u0 and m.u0 - o.u1 <= limit]
    return max(cands, key=lambda o: o.u1) if cands else None
