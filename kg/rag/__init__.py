"""KG-RAG for a VLM: the in-process plugin (``plugin.py``: :class:`KGRAG`, local or against a running service),
prompt formats within a token budget (``prompt.py``) and the neo4j-graphrag retriever (``graphrag.py``).

It may import ``kg.core`` and ``graph`` (retrieval and stores), never the web framework (an import-linter
contract).
"""

from kg.rag.plugin import (
    FORMATS,
    KGRAG,
    Augmented,
    PromptOptions,
    QueryOptions,
    image_bytes,
    render,
)

__all__ = ["Augmented", "FORMATS", "KGRAG", "PromptOptions", "QueryOptions", "image_bytes", "render"]
