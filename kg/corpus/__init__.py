"""Corpus readers: each streams :class:`Study` records (or :class:`Rejected` ones).

``reading.py`` picks the reader for a format (``mimic``, ``iu-xml``, ``jsonl``, ``csv``, ``text``; ``auto``
detects) and drops duplicate ids; one module per format beside it; ``records.py`` the records. It may import
``kg.core`` only.
"""

from kg.corpus.reading import (
    FORMATS,
    READERS,
    ImageRef,
    Rejected,
    Study,
    detect_format,
    read_corpus,
    unique_records,
)

__all__ = ["FORMATS", "ImageRef", "READERS", "Rejected", "Study", "detect_format", "read_corpus", "unique_records"]
