"""The graph model, linking, neighbor-aware filtering, the stores, retrieval, the GNN and interchange formats.

It may import ``extract``, ``embed`` and ``kg.core``; never the application layer (``kg`` beyond ``kg.core``)."""
