"""Concepts and the index that finds them in text.

A :class:`ConceptIndex` answers two questions: which concept does a run of tokens name
(longest match on normalised tokens), and what is known about a CUI (name, group,
semantic types, isa parents). :class:`Lexicon` is the offline implementation over the
bundled ``extract/data/lexicon.tsv``; a full UMLS index implements the same Protocol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Protocol

from kg.core.errors import InvalidInput

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


class Lexicon:
    """A concept index over a TSV lexicon (the bundled default or a user's file)."""

    def __init__(self, concepts: Iterable[Concept], *, name: str, version: str):
        self.name = name
        self.version = version
        self._concepts: dict[str, Concept] = {}
        self._phrases: dict[tuple[str, ...], str] = {}
        self.max_len = 1
        for c in concepts:
            self._concepts[c.cui] = c
            for syn in (c.name, *c.synonyms):
                key = normalise_phrase(syn)
                if key:
                    # first writer wins: the file order decides ambiguous synonyms
                    self._phrases.setdefault(key, c.cui)
                    self.max_len = max(self.max_len, len(key))
        self._first: set[str] = {k[0] for k in self._phrases}

    @classmethod
    def from_tsv(cls, path: str | Path) -> "Lexicon":
        path = Path(path)
        concepts: list[Concept] = []
        version = "unversioned"
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.startswith("#"):
                    m = re.search(r"version (\S+)", line)
                    if m and version == "unversioned":
                        version = m.group(1)
                    continue
                if not line.strip():
                    continue
                cols = line.rstrip("\n").split("\t")
                if len(cols) != 6:
                    raise InvalidInput(
                        f"lexicon row has {len(cols)} columns, expected 6", code="E118",
                        where=f"{path}:{lineno}",
                        fix="use tab-separated cui, name, group, semantic_types, synonyms, parents",
                    )
                cui, name, group, stys, syns, parents = cols
                if not re.fullmatch(r"C\d{7}", cui) or group not in GROUPS:
                    raise InvalidInput(
                        f"bad CUI {cui!r} or group {group!r}", code="E119",
                        where=f"{path}:{lineno}",
                        fix=f"CUIs look like C0032227; groups are {', '.join(GROUPS)}",
                    )
                concepts.append(
                    Concept(
                        cui=cui,
                        name=name,
                        group=group,
                        semantic_types=tuple(s for s in stys.split(";") if s),
                        synonyms=tuple(s for s in syns.split("|") if s),
                        parents=tuple(p for p in parents.split("|") if p),
                    )
                )
        return cls(concepts, name=f"lexicon:{path.name}", version=version)

    @classmethod
    def default(cls) -> "Lexicon":
        return _default_lexicon()

    def concept(self, cui: str) -> Concept | None:
        return self._concepts.get(cui)

    def concepts(self) -> Iterable[Concept]:
        return self._concepts.values()

    def find(self, words: list[str]) -> list[Match]:
        return longest_matches(words, self._first, self.max_len, lambda ws: self._phrases.get(tuple(ws)))


def longest_matches(words: list[str], first: set[str], max_len: int, lookup) -> list[Match]:
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


@lru_cache(maxsize=1)
def _default_lexicon() -> Lexicon:
    ref = resources.files("extract") / "data" / "lexicon.tsv"
    with resources.as_file(ref) as p:
        lex = Lexicon.from_tsv(p)
    lex.name = "lexicon:default"
    return lex


def _indexed_release(meta: Path):
    """A release folder passed where an index is expected: indexed once with the default filters into
    the user cache (:func:`kg.core.cache.cache_root`), keyed by the folder and its files' sizes and times, and
    reused after that."""
    import hashlib
    import logging

    from extract.umls import UmlsIndex, build_index
    from kg.core.cache import cache_root

    key = hashlib.sha256(str(meta.resolve()).encode())
    for f in sorted(meta.glob("MR*.RRF")):
        st = f.stat()
        key.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    cache = cache_root() / "umls" / key.hexdigest()[:16]
    if not (cache / "index.json").is_file():
        logging.getLogger("medkg").info(
            "indexing the UMLS release %s once into %s (kg umls index does this with options)", meta, cache)
        build_index(meta, cache)
    return UmlsIndex(cache)


def load_concept_index(path: str | Path | None):
    """The bundled lexicon (``None``), a UMLS index folder (``kg umls index``), or a lexicon TSV file."""
    if path is None:
        return Lexicon.default()
    p = Path(path)
    if p.is_dir() and (p / "index.json").is_file():
        from extract.umls import UmlsIndex

        return UmlsIndex(p)
    if p.is_file() and p.suffix == ".tsv":
        return Lexicon.from_tsv(p)
    from kg.core.errors import InvalidInput

    if p.is_dir() and (p / "MRCONSO.RRF").is_file():
        return _indexed_release(p)
    raise InvalidInput(f"{p} is neither a medkg UMLS index nor a lexicon .tsv", code="E117",
                     fix="build an index with `kg umls index META_DIR --out INDEX`")
