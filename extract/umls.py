"""A user's UMLS release (RRF files) as a concept index.

``kg umls index META_DIR --out INDEX`` reads ``MRCONSO.RRF``, ``MRSTY.RRF`` and ``MRREL.RRF`` (and
``MRDEF.RRF`` when present) once, streaming, and writes a compact folder:

    INDEX/concepts.parquet   cui, name (preferred), semanticTypes, group, names (count),
                             definition, definitionSab (one MRDEF row per concept, by DEFINITION_SABS)
    INDEX/names.parquet      key (normalised), cui, str, sab, tty — sorted by key, cui
    INDEX/relations.parquet  cui1, rel, rela, cui2, sab — MRREL rows among the kept concepts
    INDEX/index.json         release, filters, counts, malformed rows (line numbers)

:class:`UmlsIndex` reads that folder and answers the :class:`~extract.concepts.ConceptIndex` Protocol,
so every extractor uses a full UMLS with no code change. Exact lookups go through a sorted array of
64-bit hashes of the normalised keys (verified against the key itself).

RRF layouts (pipe-separated, with a trailing pipe), from the UMLS Reference Manual:
MRCONSO CUI|LAT|TS|LUI|STT|SUI|ISPREF|AUI|SAUI|SCUI|SDUI|SAB|TTY|CODE|STR|SRL|SUPPRESS|CVF|
MRSTY   CUI|TUI|STN|STY|ATUI|CVF|
MRREL   CUI1|AUI1|STYPE1|REL|CUI2|AUI2|STYPE2|RELA|RUI|SRUI|SAB|SL|RG|DIR|SUPPRESS|CVF|
MRDEF   CUI|AUI|ATUI|SATUI|SAB|DEF|SUPPRESS|CVF|
An MRREL row says that CUI2 has relation RELA (REL) to CUI1: ``C0013687|…|CHD|C0032227|…|isa|`` means
(Pleural effusion C0032227)-[:ISA]->(Effusion C0013687); medkg writes (CUI2)-[:RELA]->(CUI1).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from extract.concepts import Concept, Match, longest_matches, normalise_phrase
from kg.core.errors import InvalidInput, NotFound

MRCONSO_COLS = 18
MRSTY_COLS = 6
MRREL_COLS = 16
MRDEF_COLS = 8
# which source's definition a concept gets when several define it: these first, in this order, then
# any other source (alphabetically); within a source, the first row of the file
DEFINITION_SABS = ("MSH", "NCI", "CSP", "MEDLINEPLUS", "HPO", "SNOMEDCT_US", "MTH")

#: Semantic types left out by default: the non-clinical types MEDMKG drops (conceptual, qualitative,
#: quantitative, temporal, spatial and functional concepts, intellectual products, organisations,
#: groups, occupations, regulations, languages, classifications) and body systems.
DROP_TUIS: dict[str, str] = {
    "T077": "Conceptual Entity",
    "T078": "Idea or Concept",
    "T079": "Temporal Concept",
    "T080": "Qualitative Concept",
    "T081": "Quantitative Concept",
    "T082": "Spatial Concept",
    "T169": "Functional Concept",
    "T170": "Intellectual Product",
    "T171": "Language",
    "T185": "Classification",
    "T089": "Regulation or Law",
    "T090": "Occupation or Discipline",
    "T091": "Biomedical Occupation or Discipline",
    "T092": "Organization",
    "T093": "Health Care Related Organization",
    "T094": "Professional Society",
    "T095": "Self-help or Relief Organization",
    "T096": "Group",
    "T097": "Professional or Occupational Group",
    "T098": "Population Group",
    "T099": "Family Group",
    "T100": "Age Group",
    "T101": "Patient or Disabled Group",
    "T102": "Group Attribute",
    "T022": "Body System",
}
#: Semantic types read as anatomy and as devices; everything else clinical is an observation.
ANATOMY_TUIS = frozenset({"T017", "T018", "T021", "T023", "T024", "T025", "T026", "T029", "T030", "T031"})
DEVICE_TUIS = frozenset({"T073", "T074", "T075", "T203"})
DEFAULT_SUPPRESS = ("N",)  # O (obsolete), E (editor) and Y (source) suppressible names are left out
DEFAULT_LANGUAGES = ("ENG",)


def group_of(tuis: Iterable[str]) -> str:
    tuis = set(tuis)
    if tuis & ANATOMY_TUIS:
        return "ANATOMY"
    if tuis & DEVICE_TUIS:
        return "DEVICE"
    return "OBSERVATION"


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


@dataclass
class RrfProblems:
    """Malformed rows per file: count and the first line numbers with their reason."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def add(self, file: str, lineno: int, reason: str, strict: bool) -> None:
        if strict:
            raise InvalidInput(f"malformed row: {reason}", code="E131", where=f"{file}:{lineno}",
                             fix="repair the release file, or index without --strict to skip such rows")
        self.counts[file] = self.counts.get(file, 0) + 1
        if len(self.examples) < 50:
            self.examples.append(f"{file}:{lineno}: {reason}")


def iter_rrf(path: Path, ncols: int, problems: RrfProblems, strict: bool = False) -> Iterator[list[str]]:
    """Rows of an RRF file as lists of ``ncols`` fields; malformed rows are counted, not fatal."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.add(path.name, lineno, f"not UTF-8 at byte {exc.start}", strict)
                continue
            fields = line.rstrip("\r\n").split("|")
            if fields and fields[-1] == "":
                fields.pop()
            if len(fields) != ncols:
                problems.add(path.name, lineno, f"{len(fields)} fields, expected {ncols}", strict)
                continue
            yield fields


def _release_files(meta: Path) -> dict[str, Path]:
    if not meta.is_dir():
        raise NotFound(f"UMLS folder not found: {meta}", code="E205",
                         fix="pass the META folder of a UMLS release (it holds MRCONSO.RRF, MRSTY.RRF, MRREL.RRF)")
    files = {}
    for name in ("MRCONSO", "MRSTY", "MRREL", "MRDEF"):
        p = meta / f"{name}.RRF"
        if not p.is_file() and name != "MRDEF":
            raise NotFound(
                f"{p.name} is missing from {meta}", code="E206",
                fix="a release folder (…/META) holds MRCONSO.RRF, MRSTY.RRF and MRREL.RRF (MRDEF.RRF optional); "
                "MetamorphoSys writes them, or unzip the full release",
            )
        if p.is_file():
            files[name] = p
    return files


def build_index(meta: Path, out: Path, *, languages: Iterable[str] = DEFAULT_LANGUAGES,
                suppress: Iterable[str] = DEFAULT_SUPPRESS,
                sabs: Iterable[str] | None = None, drop_tuis: Iterable[str] = tuple(DROP_TUIS),
                strict: bool = False, advance: Callable[..., None] = lambda n=1: None) -> dict[str, Any]:
    """Index a release folder into ``out``; returns the summary written to ``index.json``."""
    files = _release_files(meta)
    problems = RrfProblems()
    drop = set(drop_tuis)
    sabs = set(sabs) if sabs else None
    langs, supp = set(languages), set(suppress)

    types: dict[str, list[str]] = {}
    for f in iter_rrf(files["MRSTY"], MRSTY_COLS, problems, strict):
        types.setdefault(f[0], []).append(f"{f[1]}:{f[3]}")
    kept_types = {c: t for c, t in types.items() if not any(x.split(":", 1)[0] in drop for x in t)}

    # names accumulate as Arrow chunks (compact strings), not Python lists: peak memory stays near the
    # size of the kept names themselves, whatever the release size
    cols: dict[str, list[Any]] = {k: [] for k in ("key", "cui", "str", "sab", "tty")}
    chunks: list[pa.Table] = []
    preferred: dict[str, tuple[int, str]] = {}
    n_rows = 0

    def flush() -> None:
        if cols["key"]:
            chunks.append(pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()}))
            for v in cols.values():
                v.clear()

    for f in iter_rrf(files["MRCONSO"], MRCONSO_COLS, problems, strict):
        n_rows += 1
        if n_rows % 100_000 == 0:
            advance(100_000)
        cui, lat, ts, stt, ispref, sab, tty, s, suppress_flag = f[0], f[1], f[2], f[4], f[6], f[11], f[12], f[14], f[16]
        if lat not in langs or suppress_flag not in supp or cui not in kept_types:
            continue
        if sabs is not None and sab not in sabs:
            continue
        key = " ".join(normalise_phrase(s))
        if not key:
            continue
        for k, v in zip(("key", "cui", "str", "sab", "tty"), (key, cui, s, sab, tty)):
            cols[k].append(v)
        if len(cols["key"]) >= 250_000:
            flush()
        rank = (ts == "P") * 4 + (stt == "PF") * 2 + (ispref == "Y")
        if cui not in preferred or rank > preferred[cui][0]:
            preferred[cui] = (rank, s)
    flush()
    schema = pa.schema([(k, pa.string()) for k in ("key", "cui", "str", "sab", "tty")])
    names = pa.concat_tables(chunks) if chunks else schema.empty_table()
    chunks.clear()
    names = names.sort_by([("key", "ascending"), ("cui", "ascending"), ("str", "ascending"), ("sab", "ascending")])
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(names, out / "names.parquet")
    name_counts = names.group_by("cui").aggregate([("key", "count")]).to_pydict()
    counts = dict(zip(name_counts["cui"], name_counts["key_count"]))
    del names

    concept_cuis = sorted(preferred)
    definitions: dict[str, tuple[tuple[int, str], str]] = {}
    if "MRDEF" in files:
        order = {sab: n for n, sab in enumerate(DEFINITION_SABS)}
        for f in iter_rrf(files["MRDEF"], MRDEF_COLS, problems, strict):
            cui, sab, text, suppress_flag = f[0], f[4], f[5].strip(), f[6]
            if cui not in preferred or suppress_flag not in supp or not text or (sabs is not None and sab not in sabs):
                continue
            def_rank = (order.get(sab, len(order)), sab)
            if cui not in definitions or def_rank < definitions[cui][0]:
                definitions[cui] = (def_rank, text)
    pq.write_table(pa.table({
        "cui": concept_cuis,
        "name": [preferred[c][1] for c in concept_cuis],
        "semanticTypes": [sorted(kept_types[c]) for c in concept_cuis],
        "group": [group_of(t.split(":", 1)[0] for t in kept_types[c]) for c in concept_cuis],
        "names": [int(counts.get(c, 0)) for c in concept_cuis],
        "definition": pa.array([definitions[c][1] if c in definitions else None for c in concept_cuis], pa.string()),
        "definitionSab": pa.array([definitions[c][0][1] if c in definitions else None for c in concept_cuis], pa.string()),
    }), out / "concepts.parquet")

    kept = set(concept_cuis)
    rel: dict[str, list[str]] = {k: [] for k in ("cui1", "rel", "rela", "cui2", "sab")}
    for f in iter_rrf(files["MRREL"], MRREL_COLS, problems, strict):
        if f[0] in kept and f[4] in kept and f[0] != f[4] and f[14] in supp:
            for k, v in zip(rel, (f[0], f[3], f[7], f[4], f[10])):
                rel[k].append(v)
    rels = pa.table(rel).sort_by([(k, "ascending") for k in ("cui2", "rela", "rel", "cui1", "sab")])
    rels = rels.group_by(list(rel)).aggregate([]) if rels.num_rows else rels
    rels = rels.sort_by([(k, "ascending") for k in ("cui2", "rela", "rel", "cui1", "sab")])
    pq.write_table(rels, out / "relations.parquet")
    summary = {
        "release": meta.resolve().parent.name,
        "filters": {"languages": sorted(langs), "suppress": sorted(supp), "sabs": sorted(sabs) if sabs else "all",
                    "droppedSemanticTypes": sorted(drop)},
        "counts": {"mrconsoRows": n_rows, "concepts": len(concept_cuis), "names": int(sum(counts.values())),
                   "relations": rels.num_rows, "definitions": len(definitions)},
        "malformed": {"counts": problems.counts, "examples": problems.examples},
    }
    (out / "index.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


class UmlsIndex:
    """A concept index over a folder written by :func:`build_index`."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        if not (folder / "index.json").is_file():
            raise InvalidInput(f"{folder} is not a medkg UMLS index", code="E132",
                               fix="build one with `kg umls index META_DIR --out INDEX`")
        self.folder = folder
        self.meta = json.loads((folder / "index.json").read_text())
        self.name = f"umls:{self.meta.get('release', folder.name)}"
        self.version = str(self.meta.get("release", "unknown"))
        c = pq.read_table(folder / "concepts.parquet").to_pydict()
        self._row = {cui: i for i, cui in enumerate(c["cui"])}
        self._c = c
        names = pq.read_table(folder / "names.parquet", columns=["key", "cui"])
        keys = names.column("key").to_pylist()
        cuis = names.column("cui").to_pylist()
        # one entry per distinct key: the CUI with the most names (ties: lowest CUI) answers exact lookups
        best: dict[str, str] = {}
        for k, cui in zip(keys, cuis):
            cur = best.get(k)
            if cur is None or (c["names"][self._row[cui]], cur) > (c["names"][self._row[cur]], cui):
                best[k] = cui
        ks = sorted(best)
        h = np.array([key_hash(k) for k in ks], dtype=np.int64)
        order = np.argsort(h, kind="stable")
        self._hash = h[order]
        self._keys = [ks[i] for i in order]
        self._cui = [best[ks[i]] for i in order]
        self._first = {k.split(" ", 1)[0] for k in ks}
        self.max_len = max((k.count(" ") + 1 for k in ks), default=1)
        self._parents: dict[str, list[str]] | None = None
        self._cache: dict[str, Concept] = {}

    def _lookup(self, key: str) -> str | None:
        h = key_hash(key)
        i = int(np.searchsorted(self._hash, h))
        while i < len(self._hash) and self._hash[i] == h:
            if self._keys[i] == key:
                return self._cui[i]
            i += 1
        return None

    def lookup(self, phrase: str) -> str | None:
        """The CUI whose normalised name equals the phrase's, if any."""
        return self._lookup(" ".join(normalise_phrase(phrase)))

    def concept(self, cui: str) -> Concept | None:
        hit = self._cache.get(cui)
        if hit is not None:
            return hit
        c = self._concept(cui)
        if c is not None and len(self._cache) < 500_000:
            self._cache[cui] = c
        return c

    def _concept(self, cui: str) -> Concept | None:
        i = self._row.get(cui)
        if i is None:
            return None
        c = self._c
        definition = c["definition"][i] if "definition" in c else None
        return Concept(cui, c["name"][i], c["group"][i], tuple(c["semanticTypes"][i]), (), tuple(self.parents(cui)),
                       definition)

    def brief(self, cui: str) -> tuple[str, str, tuple[str, ...]] | None:
        """(preferred name, group, semantic types) without walking MRREL for parents: what a linker
        candidate needs."""
        i = self._row.get(cui)
        if i is None:
            return None
        c = self._c
        return c["name"][i], c["group"][i], tuple(c["semanticTypes"][i])

    def concepts(self) -> Iterator[Concept]:
        return (c for c in map(self.concept, self._c["cui"]) if c is not None)

    def find(self, words: list[str]) -> list[Match]:
        return longest_matches(words, self._first, self.max_len, lambda ws: self._lookup(" ".join(ws)))

    def names_table(self) -> tuple[list[str], list[str]]:
        """Every (normalised name, CUI) pair of the index, for the linker."""
        t = pq.read_table(self.folder / "names.parquet", columns=["key", "cui"])
        return t.column("key").to_pylist(), t.column("cui").to_pylist()

    def relations(self) -> pa.Table:
        return pq.read_table(self.folder / "relations.parquet")

    def parents(self, cui: str) -> list[str]:
        """isa parents: MRREL rows (cui1=parent, rela=isa, cui2=child)."""
        if self._parents is None:
            r = self.relations().to_pydict()
            p: dict[str, list[str]] = {}
            for c1, rela, c2 in zip(r["cui1"], r["rela"], r["cui2"]):
                if rela == "isa":
                    p.setdefault(c2, []).append(c1)
            self._parents = {k: sorted(set(v)) for k, v in p.items()}
        return self._parents.get(cui, [])
