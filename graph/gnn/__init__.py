"""GNN link prediction over the knowledge graph (PyTorch Geometric): graph → PyG (:mod:`.data`), a leak-free
edge split (:mod:`.split`), R-GCN and KGE models (:mod:`.models`), training (:mod:`.train`), filtered and raw
rank metrics (:mod:`.evaluate`), and the store-facing runs (:mod:`.runs`). torch is imported by the modules
that need it, not here."""
