"""medkg: radiology corpora to a medical multimodal knowledge graph.

The ``kg`` package is the application layer: the command line (``cli``), the build options, corpus readers
(``corpus``), the per-study step (``step``), its engines (``engines``) and the one step runner (``runner``), the
build pipeline that wires the stages in ``extract``, ``embed`` and ``graph``, the service (``serve``), the KG-RAG
plugin (``rag``) and MCP. ``kg.core`` is the foundation every package may import; the rest of ``kg`` may import
anything, and nothing in ``extract``, ``embed`` or ``graph`` imports it (import-linter contracts).
"""

__version__ = "0.1.0"
