"""The offline concept index: :class:`Lexicon` over the bundled ``extract/data/lexicon.tsv`` (or a user's TSV)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

from extract.concepts import (
    GROUPS,
    Concept,
    IndexBase,
    Match,
    longest_matches,
    normalise_phrase,
)
from kg.core.errors import InvalidInput


class Lexicon(IndexBase):
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
    def from_tsv(cls, path: str | Path) -> Lexicon:
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
    def default(cls) -> Lexicon:
        return _default_lexicon()

    def concept(self, cui: str) -> Concept | None:
        return self._concepts.get(cui)

    def concepts(self) -> Iterable[Concept]:
        return self._concepts.values()

    def find(self, words: list[str]) -> list[Match]:
        return longest_matches(words, self._first, self.max_len, lambda ws: self._phrases.get(tuple(ws)))


@lru_cache(maxsize=1)
def _default_lexicon() -> Lexicon:
    ref = resources.files("extract") / "data" / "lexicon.tsv"
    with resources.as_file(ref) as p:
        lex = Lexicon.from_tsv(p)
    lex.name = "lexicon:default"
    return lex
