"""Annotations a user already has: a RadGraph JSON file used instead of running an extractor.

``kg build --radgraph FILE`` looks each report up by id (the key as written, without ``.txt``,
or its last path component: ``p10/p10000032/s50414267.txt`` matches report ``s50414267``).
Annotation tokens are aligned to the report's characters in order, so evidence spans index
the original report; concepts and the study merge come from medkg. A report with no
annotation raises :class:`~kg.core.errors.InvalidInput` (the build quarantines it).
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

from extract.concepts import ConceptIndex
from extract.lexicon import Lexicon
from extract.linker import concept_for_span
from extract.merge import merge_mentions
from extract.radgraph import RGDoc, read_radgraph
from extract.records import (
    ConceptMention,
    Entity,
    Extraction,
    Polarity,
    Relation,
    Section,
)
from extract.sections import split_sections
from extract.text import tokenize
from kg.core.errors import InvalidInput

ALIGN_WINDOW = 400  # characters searched ahead for the next annotation token


def _keys(doc_id: str) -> list[str]:
    k = doc_id.strip()
    stem = k[:-4] if k.endswith(".txt") else k
    return [k, stem, stem.rsplit("/", 1)[-1]]


class RadGraphFileExtractor:
    name = "radgraph-file"
    version = "0.1"
    uses_model = False

    def __init__(self, path: str | Path, index: ConceptIndex | None = None, labeler: str | None = None):
        self.index = index or Lexicon.default()
        self.path = Path(path)
        self.docs: dict[str, RGDoc] = {}
        for d in read_radgraph(self.path, labeler=labeler):
            for k in _keys(d.id):
                self.docs.setdefault(k, d)

    @property
    def id(self) -> str:
        return f"{self.name}/{self.version}:{self.path.name}+{self.index.name}@{self.index.version}"

    def extract(self, report_id: str, text: str, sections: tuple[Section, ...] | None = None) -> Extraction:
        doc = next((self.docs[k] for k in _keys(report_id) if k in self.docs), None)
        if doc is None:
            raise InvalidInput(f"no RadGraph annotation for report {report_id}", code="E130", where=str(self.path),
                             fix="annotate it, or build without --radgraph")
        if sections is None:
            sections = split_sections(text)
        tokens = tokenize(text)
        starts = [s for s, _ in tokens]
        spans = _align(doc.text.split(" "), text)
        ents: list[Any] = []
        mentions: list[Any] = []
        id_map: dict[str, str] = {}
        for e in doc.entities:
            got = [s for s in (spans[i] for i in range(e.start_ix, e.end_ix + 1)) if s is not None]
            if not got:
                continue
            start, end = got[0][0], got[-1][1]
            t0 = max(0, bisect.bisect_right(starts, start) - 1)
            t1 = max(t0, bisect.bisect_left(starts, end) - 1)
            sec = next((s.name for s in sections if s.start <= start < max(s.end, s.start + 1)), "other")
            cui = concept_for_span(self.index, text[start:end].split(), text[start:end], e.label)
            nid = str(len(ents) + 1)
            id_map[e.id] = nid
            ents.append(Entity(nid, text[start:end], e.label, start, end, t0, t1, sec, cui, "radgraph-file"))
            if cui is not None:
                c = self.index.concept(cui)
                pol = Polarity.of_label(e.label)
                mentions.append(ConceptMention(cui, c.name if c else cui, pol, start, end, text[start:end], sec,
                                               entity_id=nid))
        rels = [Relation(typ, id_map[e.id], id_map[tgt]) for e in doc.entities for typ, tgt in e.relations
                if e.id in id_map and tgt in id_map]
        mentions.sort(key=lambda m: (m.start, m.end, m.cui))
        return Extraction(report_id, tuple(sections), tuple(tokens), tuple(ents), tuple(rels), tuple(mentions),
                          self.id, merge_mentions(mentions))


def _align(words: list[str], text: str) -> list[tuple[int, int] | None]:
    """Character spans in ``text`` of annotation ``words``, found in order (None when not found)."""
    low = text.lower()
    out: list[tuple[int, int] | None] = []
    cur = 0
    for w in words:
        if not w:
            out.append(None)
            continue
        i = low.find(w.lower(), cur, cur + ALIGN_WINDOW + len(w))
        if i < 0:
            out.append(None)
            continue
        out.append((i, i + len(w)))
        cur = i + len(w)
    return out
