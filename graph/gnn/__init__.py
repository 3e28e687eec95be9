"""GNN link prediction over the knowledge graph (PyTorch Geometric): graph → PyG (:mod:`.data`), a leak-free
edge split (:mod:`.split`), R-GCN and KGE models (:mod:`.models`), training (:mod:`.train`), filtered and raw
rank metrics (:mod:`.evaluate`), and the store-facing runs (:mod:`.runs`). torch is imported by the modules
that need it, not here. It may import ``graph.model``, ``graph.store`` and ``kg.core``."""

import warnings

# PyTorch Geometric 2.x calls torch.jit.script at import time (torch_geometric.nn.pool.select), which torch 2.9+
# answers with a FutureWarning on every import: a notice about PyG's code, not medkg's or the user's, printed by
# every GNN command. Only that warning is silenced, for the processes that import medkg's GNN.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
