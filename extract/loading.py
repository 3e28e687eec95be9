"""Which concept index a build uses: the bundled lexicon, a UMLS index folder, a release's META folder (indexed
once into the cache) or a lexicon TSV."""

from __future__ import annotations

import logging
from pathlib import Path

from extract.concepts import ConceptIndex
from extract.lexicon import Lexicon
from extract.umls import UmlsIndex, build_index
from kg.core.cache import cache_root
from kg.core.errors import InvalidInput
from kg.core.registry import Registry


def _indexed_release(meta: Path) -> UmlsIndex:
    """A release folder passed where an index is expected: indexed once with the default filters into
    the user cache (:func:`kg.core.cache.cache_root`), keyed by the folder and its files' sizes and times, and
    reused after that."""
    import hashlib

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


CONCEPT_INDEXES: Registry[ConceptIndex] = Registry("concept index", option="--umls")
CONCEPT_INDEXES.add("lexicon", lambda arg: Lexicon.from_tsv(Path(arg)) if arg else Lexicon.default())
CONCEPT_INDEXES.add("umls-index", lambda arg: UmlsIndex(Path(arg)))
CONCEPT_INDEXES.add("umls-release", lambda arg: _indexed_release(Path(arg)))


def concept_index_spec(path: str | Path | None) -> str:
    """The registry spec for what ``--umls`` names: ``lexicon`` (nothing given, or a lexicon .tsv),
    ``umls-index:<folder>`` (``kg umls index`` output) or ``umls-release:<META folder>``."""
    if path is None:
        return "lexicon"
    p = Path(path)
    if p.is_dir() and (p / "index.json").is_file():
        return f"umls-index:{p}"
    if p.is_file() and p.suffix == ".tsv":
        return f"lexicon:{p}"
    if p.is_dir() and (p / "MRCONSO.RRF").is_file():
        return f"umls-release:{p}"
    raise InvalidInput(f"{p} is neither a medkg UMLS index, a UMLS release META folder nor a lexicon .tsv",
                       code="E117", fix="pass a release's META folder, or build an index with "
                       "`kg umls index META_DIR --out INDEX`")


def load_concept_index(path: str | Path | None) -> ConceptIndex:
    """The bundled lexicon (``None``), a UMLS index folder (``kg umls index``), a release's META folder (indexed
    once into the cache) or a lexicon TSV file."""
    return CONCEPT_INDEXES.create(concept_index_spec(path))
