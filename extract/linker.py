"""Map a mention to concepts: exact, variant, abbreviation and approximate candidates, scored.

Steps, each tried only when the earlier ones found nothing:

1. exact match on the normalised string (case, punctuation, plurals: :func:`extract.concepts.normalise_phrase`);
2. variants: words in another order; laterality and extent words dropped ("left pleural effusion");
3. abbreviations radiologists write (PTX, CHF, ETT, NGT, PICC, RLL …, ``ABBREVIATIONS``), expanded;
4. the head of the phrase (its last words: "right lower lobe consolidation" -> consolidation);
5. approximate: first word-level correction (every word of the mention found in the index's words or one
   edit / one adjacent transposition away, SymSpell-style, and the names holding all of them scored by edit
   similarity); failing that, character-trigram TF-IDF cosine against every name, through an inverted
   index that only reads the rarest trigrams' postings; the best candidates are scored half by that
   cosine, half by edit similarity (adjacent transpositions count once).

Candidates above ``threshold`` are ranked by score; near-ties go to the concept whose group suits the
RadGraph label (anatomy for ANAT-DP, observations and devices for OBS-*), then to concepts already in the
study (``context``), then to the concept with more names. Works over the bundled lexicon and over a UMLS index.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from extract.concepts import ConceptIndex, normalise_phrase

ABBREVIATIONS: dict[str, str] = {
    "ptx": "pneumothorax", "chf": "congestive heart failure", "ett": "endotracheal tube", "et": "endotracheal",
    "ngt": "nasogastric tube", "ng": "nasogastric", "og": "orogastric", "ogt": "orogastric tube",
    "picc": "peripherally inserted central catheter", "cvc": "central venous catheter", "cvl": "central venous line",
    "ij": "internal jugular", "svc": "superior vena cava", "ivc": "inferior vena cava", "rll": "right lower lobe",
    "rml": "right middle lobe", "rul": "right upper lobe", "lll": "left lower lobe", "lul": "left upper lobe",
    "cp": "costophrenic", "copd": "chronic obstructive pulmonary disease", "pna": "pneumonia",
    "iabp": "intra aortic balloon pump", "aicd": "automatic implantable cardioverter defibrillator",
    "icd": "implantable cardioverter defibrillator", "cabg": "coronary artery bypass graft", "fx": "fracture",
    "gge": "ground glass", "ggo": "ground glass opacity", "pe": "pulmonary embolism", "ards": "acute respiratory distress syndrome",
    "lv": "left ventricle", "pa": "pulmonary artery", "hh": "hiatal hernia", "sq": "subcutaneous",
}
DROPPABLE = frozenset(
    "left right bilateral bilaterally both small large moderate mild severe minimal trace tiny new acute chronic "
    "sided side lower upper basilar bibasilar".split()
)


@dataclass(frozen=True)
class Candidate:
    cui: str
    name: str
    semantic_types: tuple[str, ...]
    score: float
    matched: str  # the index string that matched
    method: str  # exact / variant / abbreviation / approximate


def _trigrams(s: str) -> list[str]:
    s = f"  {s} "
    return [s[i : i + 3] for i in range(len(s) - 2)]


def _osa(a: str, b: str, bound: int | None = None) -> int:
    """Optimal string alignment distance (Levenshtein with adjacent transpositions: "pnuemothorax" is
    one edit from "pneumothorax"). With ``bound``, any distance above it comes back as ``bound + 1``."""
    return OSA.distance(a, b, score_cutoff=bound)


class Linker:
    def __init__(self, index: ConceptIndex, *, threshold: float = 0.75, max_postings: int = 200_000):
        self.index = index
        self.threshold = threshold
        self.max_postings = max_postings
        keys, cuis = index.names_table()
        self.keys = keys
        self.cuis = cuis
        self._by_key: dict[str, list[int]] = {}
        self._by_sorted: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            self._by_key.setdefault(k, []).append(i)
            self._by_sorted.setdefault(" ".join(sorted(k.split())), []).append(i)
        self._by_compact: dict[str, list[int]] | None = None  # built on first need
        self._ngram = False  # the trigram postings, built on first need
        self.link = lru_cache(maxsize=200_000)(self._link)

    def prepare(self) -> Linker:
        """Build every lookup structure now (they are otherwise built on first need)."""
        if not hasattr(self, "_words"):
            self._build_words()
        if not self._ngram:
            self._build_ngrams()
        if self._by_compact is None:
            self._by_compact = self._build_compact()
        return self

    def _group(self, cui: str) -> str | None:
        b = self.index.brief(cui)
        return None if b is None else b[1]

    # -- word-level correction (misspelled words, exact elsewhere) ---------------------------
    def _build_words(self) -> None:
        """Word -> keys postings, and a one-deletion neighbourhood of every word (SymSpell-style), so a
        word one edit (or one adjacent transposition) away is found by dictionary lookups alone."""
        words: dict[str, int] = {}
        postings: list[list[int]] = []
        for i, k in enumerate(self.keys):
            for w in set(k.split()):
                j = words.get(w)
                if j is None:
                    j = words[w] = len(postings)
                    postings.append([])
                postings[j].append(i)
        deletes: dict[str, list[int]] = {}
        for w, j in words.items():
            if len(w) >= 4:
                for d in {w[:n] + w[n + 1 :] for n in range(len(w))}:
                    deletes.setdefault(d, []).append(j)
        self._words = words
        self._word_list = list(words)
        self._word_post = [np.asarray(p, dtype=np.int32) for p in postings]
        self._deletes = deletes

    def _word_candidates(self, w: str) -> list[int]:
        if w in self._words:
            return [self._words[w]]
        if len(w) < 4:
            return []
        out = set(self._deletes.get(w, []))
        for n in range(len(w)):
            d = w[:n] + w[n + 1 :]
            if d in self._words:
                out.add(self._words[d])
            out.update(self._deletes.get(d, []))
        k = 1 + (len(w) > 8)
        return [j for j in out if _osa(w, self._word_list[j], k) <= k]

    def _substituted(self, key: str, max_combinations: int = 64) -> list[tuple[int, float]] | None:
        """Names reached by replacing each mention word with a vocabulary word at most one or two edits
        away, looked up as whole phrases (dictionary lookups only). None when there are too many
        combinations to try; the posting-list intersection of ``_corrected`` answers those."""
        if not hasattr(self, "_words"):
            self._build_words()
        options: list[list[tuple[str, int]]] = []
        n = 1
        for w in key.split():
            if w in self._words:
                options.append([(w, 0)])
                continue
            cands = self._word_candidates(w)
            if not cands:
                return []
            opts = sorted((_osa(w, self._word_list[j]), self._word_list[j]) for j in cands)
            options.append([(x, e) for e, x in opts])
            n *= len(opts)
            if n > max_combinations:
                return None
        out: dict[int, float] = {}
        for combo in product(*options):
            edits = sum(e for _, e in combo)
            phrase = " ".join(x for x, _ in combo)
            for i in self._by_key.get(phrase, ()):
                out[i] = max(out.get(i, 0.0), 1.0 - edits / max(len(key), len(self.keys[i])))
            for i in self._by_sorted.get(" ".join(sorted(phrase.split())), ()):
                out[i] = max(out.get(i, 0.0), 0.98 - edits / max(len(key), len(self.keys[i])))
        return sorted(out.items(), key=lambda x: (-x[1], self.keys[x[0]]))

    def _compact(self, key: str) -> list[tuple[int, float]]:
        """Names equal to the mention once spaces are ignored: split or merged words ("pneumo thorax",
        "costophrenic" / "costo phrenic") and a transposition across a space. Each moved, added or
        dropped space counts as an edit."""
        if self._by_compact is None:
            self._by_compact = self._build_compact()
        out = []
        for i in self._by_compact.get(key.replace(" ", ""), ()):
            edits = _osa(key, self.keys[i])
            out.append((i, 1.0 - edits / max(len(key), len(self.keys[i]))))
        return sorted(out, key=lambda x: (-x[1], self.keys[x[0]]))

    def _build_compact(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, k in enumerate(self.keys):
            if len(k) >= 6:
                out.setdefault(k.replace(" ", ""), []).append(i)
        return out

    def _corrected(self, key: str, limit: int = 64) -> list[tuple[int, float]]:
        """Names whose words, position by position, equal the mention's or are one edit away."""
        if not hasattr(self, "_words"):
            self._build_words()
        qw = key.split()
        allowed: list[dict[str, int]] = []  # per position: candidate word -> edits from the mention's word
        parts = []
        for w in qw:
            cands = self._word_candidates(w)
            if not cands:
                return []
            allowed.append({self._word_list[j]: _osa(w, self._word_list[j]) for j in cands})
            parts.append(np.unique(np.concatenate([self._word_post[j] for j in cands])))
        parts.sort(key=len)
        ids = parts[0]
        for p in parts[1:]:
            ids = np.intersect1d(ids, p, assume_unique=True)
            if not len(ids):
                return []
        out = []
        for i in ids.tolist():
            kw = self.keys[i].split()
            if len(kw) != len(qw) or not all(x in allowed[n] for n, x in enumerate(kw)):
                continue
            edits = sum(allowed[n][x] for n, x in enumerate(kw))
            out.append((i, 1.0 - edits / max(len(key), len(self.keys[i]))))
        out.sort(key=lambda x: (-x[1], self.keys[x[0]]))
        return out[:limit]

    # -- approximate index -----------------------------------------------------------------
    def _build_ngrams(self) -> None:
        vocab: dict[str, int] = {}
        rows, cols = [], []
        for i, k in enumerate(self.keys):
            for t in set(_trigrams(k)):
                rows.append(vocab.setdefault(t, len(vocab)))
                cols.append(i)
        rows_a = np.asarray(rows, dtype=np.int32)
        del rows
        cols_a = np.asarray(cols, dtype=np.int32)
        del cols
        order = np.argsort(rows_a, kind="stable")
        self._post = cols_a[order]
        self._indptr = np.searchsorted(rows_a[order], np.arange(len(vocab) + 1))
        df = np.diff(self._indptr)
        self._idf = np.log((1 + len(self.keys)) / (1 + df)) + 1.0
        self._vocab = vocab
        self._ngram = True

    def _vec(self, s: str) -> dict[int, float]:
        counts = Counter(self._vocab[t] for t in _trigrams(s) if t in self._vocab)
        v = {t: c * self._idf[t] for t, c in counts.items()}
        n = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {t: x / n for t, x in v.items()}

    def _approximate(self, key: str, limit: int = 64) -> list[tuple[int, float]]:
        if not self._ngram:
            self._build_ngrams()
        q = self._vec(key)
        if not q:
            return []
        # the rarest trigrams carry the most information: take them rarest first, up to a budget of
        # postings (a misspelling leaves most trigrams intact, so a few rare ones find the name)
        rare = sorted(q, key=lambda t: self._indptr[t + 1] - self._indptr[t])
        parts: list[np.ndarray] = []
        budget = 0
        for t in rare[:12]:
            n = int(self._indptr[t + 1] - self._indptr[t])
            if n > self.max_postings or (len(parts) >= 4 and budget + n > 4 * self.max_postings // 10):
                break
            parts.append(self._post[self._indptr[t] : self._indptr[t + 1]])
            budget += n
        if not parts:
            return []
        ids, counts = np.unique(np.concatenate(parts), return_counts=True)
        top = ids[np.argsort(-counts, kind="stable")[:limit]].tolist()
        # edit similarity first (compiled), the trigram cosine for the best few only
        edits = process.extract(key, [self.keys[i] for i in top], scorer=OSA.normalized_similarity, limit=8)
        scored = []
        for _, edit, pos in edits:
            i = top[pos]
            v = self._vec(self.keys[i])
            cosine = sum(x * v.get(t, 0.0) for t, x in q.items())
            # half trigram cosine, half edit similarity (transpositions count once: "pnuemothorax")
            scored.append((i, 0.5 * cosine + 0.5 * edit))
        return sorted(scored, key=lambda x: (-x[1], self.keys[x[0]]))

    # -- linking ---------------------------------------------------------------------------
    def _link(self, mention: str, label: str | None = None, context: frozenset[str] = frozenset()) -> tuple[Candidate, ...]:
        key = " ".join(normalise_phrase(mention))
        if not key:
            return ()
        found = self._exact(key, 1.0, "exact")
        if not found:
            found = [(i, 0.98, "variant") for i in self._by_sorted.get(" ".join(sorted(key.split())), [])]
        if not found:
            words = [w for w in key.split() if w not in DROPPABLE]
            if words and len(words) < len(key.split()):
                found = self._exact(" ".join(words), 0.96, "variant")
        if not found:
            expanded = " ".join(ABBREVIATIONS.get(w, w) for w in key.split())
            if expanded != key:
                exp = " ".join(normalise_phrase(expanded))
                found = [(i, 0.95, "abbreviation") for i in self._by_key.get(exp, [])]
                key = exp if not found else key
        if not found:
            # the head of a noun phrase comes last ("right lower lobe consolidation"); a misspelled whole
            # phrase ("subcutanous emphysema") may still beat its head through approximate matching
            words = key.split()
            for j in range(1, len(words)):
                found = [(i, 0.9, "head") for i in self._by_key.get(" ".join(words[j:]), [])]
                if found:
                    break
            fixed = self._substituted(key)
            if fixed is None:
                fixed = self._corrected(key)
            if not fixed:
                fixed = self._compact(key)
            corrected = [(i, s, "approximate") for i, s in fixed if s >= self.threshold]
            found += corrected or [(i, s, "approximate") for i, s in self._approximate(key) if s >= self.threshold]
        best: dict[str, Candidate] = {}
        for i, score, method in found:
            cui = self.cuis[i]
            if cui in best and best[cui].score >= score:
                continue
            b = self.index.brief(cui)
            if b is None:
                continue
            best[cui] = Candidate(cui, b[0], b[2], round(float(score), 4), self.keys[i], method)
        return tuple(sorted(best.values(), key=lambda c: self._rank(c, label, context)))

    def _exact(self, key: str, score: float, method: str) -> list[tuple[int, float, str]]:
        """Names equal to ``key``; the index's own answer for an ambiguous string ("effusion" on a
        chest film means pleural effusion) keeps the full score, the others lose a hundredth."""
        hits = self._by_key.get(key, [])
        if len({self.cuis[i] for i in hits}) > 1:
            own = self.index.find(key.split())
            own_cui = own[0].cui if len(own) == 1 and own[0].end_word - own[0].start_word == len(key.split()) else None
            return [(i, score if own_cui in (None, self.cuis[i]) else score - 0.01, method) for i in hits]
        return [(i, score, method) for i in hits]

    def _rank(self, c: Candidate, label: str | None, context: frozenset[str]) -> tuple[float, bool, bool, str]:
        if label is None and not context:
            return (-round(c.score, 2), False, True, c.cui)
        group = self._group(c.cui)
        fits = label is None or ((group == "ANATOMY") == (label == "ANAT-DP"))
        return (-round(c.score, 2), not fits, c.cui not in context, c.cui)

    def best(self, mention: str, label: str | None = None, context: Iterable[str] = frozenset()) -> Candidate | None:
        cands = self.link(mention, label, frozenset(context))
        return cands[0] if cands else None


_LINKERS: dict[int, Linker] = {}  # by id() of the index; the linker holds the index, so the id stays its own


def linker_for(index: ConceptIndex) -> Linker:
    """One linker per concept index (built on first use, then kept for the few indexes a process uses)."""
    lk = _LINKERS.get(id(index))
    if lk is None:
        if len(_LINKERS) >= 8:
            _LINKERS.pop(next(iter(_LINKERS)))
        lk = _LINKERS[id(index)] = Linker(index)
    return lk


def concept_for_span(index: ConceptIndex, words: list[str], text: str, label: str | None) -> str | None:
    """The CUI for an entity found by a model: the index's exact phrase if it covers the span, else the linker."""
    from extract.concepts import normalise_word

    matches = index.find([normalise_word(w) for w in words])
    if len(matches) == 1 and matches[0].end_word - matches[0].start_word == len(words):
        return matches[0].cui
    best = linker_for(index).best(text, label)
    return best.cui if best is not None else None
