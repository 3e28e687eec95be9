"""The bundled sample corpus (MIMIC-CXR layout, synthetic, CC0) and the generator of larger ones.

``corpus.py`` writes the sample (or a generated corpus) into the cache and says where; the data files sit beside it.
``stores.py`` makes small stores for the tests and benchmarks. It may import ``kg.core`` and the stages
(``extract``, ``embed``, ``graph``).
"""

from kg.sample.corpus import (
    generate_corpus,
    render_image,
    sample_corpus,
    write_sample,
)

__all__ = ["generate_corpus", "render_image", "sample_corpus", "write_sample"]
