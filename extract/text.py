"""Report text as tokens and sentences: the tokenizer and sentence splitter every extractor shares.

Tokens are words and single punctuation marks with character offsets (``tokenize``); sentences are lists of
token indices (``sentences``), split at ``.!?`` (not inside "9.5" or "p.m.") and at blank lines; ``plan``
gives the sentences of a report's target sections (FINDINGS, IMPRESSION or the fallback paragraph) as
"units": token indices without joiners ("-", "/"), the word sequence extractors read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from extract.records import Section
from extract.sections import split_sections, target_sections

TOKEN_RE = re.compile(r"[A-Za-z0-9]+|_+|[^\sA-Za-z0-9]")  # "___" (a de-identified name or date): one token
JOINERS = frozenset({"-", "/", "'", "’"})  # matched through: "right-sided", "pacemaker/ICD"
MAX_SENTENCE_TOKENS = 256  # longer "sentences" (lists without stops, garbage) are cut: keeps the work linear

Plan = list[tuple[str, list[int]]]  # (section name, units) per sentence


def tokenize(text: str) -> list[tuple[int, int]]:
    """Character spans of the tokens of ``text`` (words and single punctuation marks)."""
    return [(m.start(), m.end()) for m in TOKEN_RE.finditer(text)]


class PhraseTable:
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


def phrase_key(p: str) -> tuple[str, ...]:
    """The lower-case words of a trigger phrase, joiners dropped (how PhraseTable keys are written)."""
    return tuple(w.lower() for w in TOKEN_RE.findall(p) if w not in JOINERS)


def plan(text: str, sections: tuple[Section, ...] | None = None) -> tuple[tuple[Section, ...], list[tuple[int, int]], Plan]:
    """(sections, tokens, [(section name, units)]): the sentences to read, as token indices without joiners
    ("-", "/"), in the target sections."""
    if sections is None:
        sections = split_sections(text)
    tokens = tokenize(text)
    starts = [s for s, _ in tokens]
    out: Plan = []
    for sec in target_sections(sections):
        t0 = token_at(starts, sec.start)
        t1 = token_at(starts, sec.end)
        for sent in sentences(text, tokens, t0, t1):
            units = [t for t in sent if text[tokens[t][0] : tokens[t][1]] not in JOINERS]
            if units:
                out.append((sec.name, units))
    return tuple(sections), tokens, out


def token_at(starts: list[int], pos: int) -> int:
    """The index of the first token starting at or after character ``pos``."""
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if starts[mid] < pos:
            lo = mid + 1
        else:
            hi = mid
    return lo


def sentences(text: str, tokens: list[tuple[int, int]], t0: int, t1: int) -> Iterator[list[int]]:
    """Token-index lists, one per sentence, for tokens t0..t1-1."""
    cur: list[int] = []
    for t in range(t0, t1):
        s, e = tokens[t]
        tok = text[s:e]
        if cur and paragraph_break(text, tokens[cur[-1]][1], s):
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


def paragraph_break(text: str, a: int, b: int) -> bool:
    gap = text[a:b]
    return gap.count("\n") >= 2
