"""The concept model: a :class:`Concept`, a :class:`Match` in text, the :class:`ConceptIndex` protocol, and the
normalisation and longest-match routine every index shares.

A :class:`ConceptIndex` answers two questions: which concept does a run of tokens name (longest match on
normalised tokens), and what is known about a CUI (name, group, semantic types, isa parents). The bundled
lexicon (``extract.lexicon``) and a UMLS index (``extract.umls``) implement it; ``extract.loading`` picks one.
Order of the modules, one direction: concepts <- lexicon, umls <- loading <- linker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

GROUPS = ("ANATOMY", "OBSERVATION", "DEVICE")

_WORD_RE = re.compile(r"[A-Za-z0-9]+")
_IRREGULAR = {
    "pneumothoraces": "pneumothorax",
    "hila": "hilum",
    "apices": "apex",
    "vertebrae": "vertebra",
    "hemithoraces": "hemithorax",
    "sulci": "sulcus",
    "emboli": "embolus",
    "atelectases": "atelectasis",
    "bases": "base",
}
_KEEP_S = ("ss", "us", "is", "xis", "ous", "ics")


def normalise_word(word: str) -> str:
    """Lower-case and singularise one word (``opacities`` -> ``opacity``)."""
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(w) <= 3 or not w.endswith("s") or w.endswith(_KEEP_S):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "ches", "shes")):
        return w[:-2]
    return w[:-1]


def normalise_phrase(phrase: str) -> tuple[str, ...]:
    """The key a phrase is matched under: its normalised words, punctuation dropped."""
    return tuple(normalise_word(w) for w in _WORD_RE.findall(phrase))


@dataclass(frozen=True)
class Concept:
    cui: str
    name: str
    group: str  # ANATOMY / OBSERVATION / DEVICE
    semantic_types: tuple[str, ...]  # "T047:Disease or Syndrome"
    synonyms: tuple[str, ...]
    parents: tuple[str, ...]  # isa parents (CUIs)
    definition: str | None = None  # from MRDEF when the index has one


@dataclass(frozen=True)
class Match:
    """A concept found at words ``[start_word, end_word)`` of a word sequence."""

    start_word: int
    end_word: int
    cui: str


class ConceptIndex(Protocol):
    """What extractors and the graph need from a concept source (lexicon or UMLS)."""

    name: str
    version: str

    def concept(self, cui: str) -> Concept | None: ...

    def find(self, words: list[str]) -> list[Match]:
        """Non-overlapping longest matches over already-normalised words, left to right."""
        ...

    def concepts(self) -> Iterable[Concept]: ...

    def brief(self, cui: str) -> tuple[str, str, tuple[str, ...]] | None:
        """(preferred name, group, semantic types) of a CUI, without its parents: what a linker candidate needs."""
        ...

    def names_table(self) -> tuple[list[str], list[str]]:
        """Every (normalised name, CUI) pair, synonyms included, in a stable order: the linker's vocabulary."""
        ...

    def relations(self) -> pa.Table | None:
        """The source's concept relations (UMLS MRREL columns cui1, rela, cui2, sab), or None when it has none."""
        ...


class IndexBase:
    """``brief`` and ``names_table`` derived from ``concept`` and ``concepts``: an index with a cheaper way of its
    own (a UMLS index reads them from its Parquet files) overrides them."""

    def concept(self, cui: str) -> Concept | None:
        raise NotImplementedError

    def concepts(self) -> Iterable[Concept]:
        raise NotImplementedError

    def brief(self, cui: str) -> tuple[str, str, tuple[str, ...]] | None:
        c = self.concept(cui)
        return None if c is None else (c.name, c.group, tuple(c.semantic_types))

    def relations(self) -> pa.Table | None:
        return None

    def names_table(self) -> tuple[list[str], list[str]]:
        keys: list[str] = []
        cuis: list[str] = []
        for c in self.concepts():
            for syn in (c.name, *c.synonyms):
                k = " ".join(normalise_phrase(syn))
                if k:
                    keys.append(k)
                    cuis.append(c.cui)
        return keys, cuis


def longest_matches(words: list[str], first: set[str], max_len: int,
                    lookup: Callable[[list[str]], str | None]) -> list[Match]:
    """Non-overlapping longest matches, left to right: at each word that can start a name, the longest
    run of up to ``max_len`` words for which ``lookup(run)`` gives a CUI."""
    out: list[Match] = []
    i, n = 0, len(words)
    while i < n:
        if words[i] not in first:
            i += 1
            continue
        hit = None
        for length in range(min(max_len, n - i), 0, -1):
            cui = lookup(words[i : i + length])
            if cui is not None:
                hit = Match(i, i + length, cui)
                break
        if hit is None:
            i += 1
        else:
            out.append(hit)
            i = hit.end_word
    return out
