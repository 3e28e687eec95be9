"""Which concept index a build uses: the bundled lexicon, a UMLS index folder, a release's META folder (indexed
once into the cache) or a lexicon TSV."""

from __future__ import annotations

import logging
from pathlib import Path

from extract.lexicon import Lexicon
from extract.umls import UmlsIndex, build_index
from kg.core.cache import cache_root
from kg.core.errors import InvalidInput


def _indexed_release(meta: Path):
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


def load_concept_index(path: str | Path | None):
    """The bundled lexicon (``None``), a UMLS index folder (``kg umls index``), or a lexicon TSV file."""
    if path is None:
        return Lexicon.default()
    p = Path(path)
    if p.is_dir() and (p / "index.json").is_file():
        return UmlsIndex(p)
    if p.is_file() and p.suffix == ".tsv":
        return Lexicon.from_tsv(p)
    if p.is_dir() and (p / "MRCONSO.RRF").is_file():
        return _indexed_release(p)
    raise InvalidInput(f"{p} is neither a medkg UMLS index nor a lexicon .tsv", code="E117",
                     fix="build an index with `kg umls index META_DIR --out INDEX`")
