"""medkg: radiology corpora to a medical multimodal knowledge graph.

The ``kg`` package holds the command line, settings, corpus readers and the build
pipeline that wires the stages in ``extract``, ``embed`` and ``graph``.
"""

__version__ = "0.1.0"
