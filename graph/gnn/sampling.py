"""Mini-batches for graphs whose full-batch R-GCN step does not fit: PyG's ``LinkNeighborLoader`` over the
message-passing graph, a batch of training triples as its seed links.

PyG's neighbour sampling runs in ``pyg-lib`` or ``torch-sparse``; neither ships wheels on PyPI for current torch
(pyg-lib comes from data.pyg.org, torch-sparse only as a source build). Where neither is installed,
:class:`TorchNeighborSampler` does the same sampling in plain torch behind PyG's ``NeighborSampler`` interface,
so the loader, its batching and its edge-attribute slicing are PyG's either way. With pyg-lib installed PyG's
own routine is used.

Also here: the estimate of a full-batch step's memory that ``batch_mode="auto"`` decides by.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor


def sampler_backend() -> str:
    import torch_geometric.typing as t

    return "pyg-lib" if t.WITH_PYG_LIB else "torch-sparse" if t.WITH_TORCH_SPARSE else "torch"


def _torch_sampler_cls():
    from torch_geometric.sampler import NeighborSampler, SamplerOutput

    class TorchNeighborSampler(NeighborSampler):
        """Directional neighbour sampling over PyG's CSC view of the graph (``colptr``, ``row``, ``perm``), in
        torch. At each hop every node added by the previous hop draws ``k`` of its incoming edges uniformly with
        replacement and keeps the distinct ones (all of them when it has at most ``k``; ``-1`` takes all). The
        seeds come first in ``node``, in order, as PyG's samplers return them. Homogeneous, non-temporal,
        non-disjoint graphs only (what link prediction over a KG needs)."""

        def __init__(self, *args, **kwargs):
            import warnings

            with warnings.catch_warnings():  # PyG warns that sampling without pyg-lib is deprecated
                warnings.simplefilter("ignore", UserWarning)
                super().__init__(*args, **kwargs)
            self._local: Tensor | None = None

        def _sample(self, seed, seed_time=None, **kwargs):
            if isinstance(seed, dict) or seed_time is not None or self.disjoint:
                raise ValueError("TorchNeighborSampler samples homogeneous, non-temporal, non-disjoint graphs")
            colptr, row = self.colptr, self.row
            if self._local is None:
                self._local = torch.full((self.num_nodes,), -1, dtype=torch.long)
            local = self._local
            seed = seed.long()
            local[seed] = torch.arange(len(seed))
            nodes, rows, cols, edges = [seed], [], [], []
            n_nodes, n_edges = [len(seed)], []
            frontier, count = seed, len(seed)
            for k in self.num_neighbors.get_values():
                start = colptr[frontier]
                deg = colptr[frontier + 1] - start
                take = deg if k < 0 else deg.clamp(max=k)
                total = int(take.sum())
                if total == 0:
                    n_nodes.append(0)
                    n_edges.append(0)
                    frontier = frontier[:0]
                    continue
                owner = torch.repeat_interleave(torch.arange(len(frontier)), take)
                pos = torch.arange(total) - torch.repeat_interleave(torch.cumsum(take, 0) - take, take)
                if k >= 0:
                    d = deg[owner]
                    drawn = (torch.rand(total) * d).long().clamp_(max=d - 1)
                    pos = torch.where(d <= k, pos, drawn)
                csc = torch.unique(start[owner] + pos)  # sorted CSC positions: grouped by destination
                dst = torch.searchsorted(colptr, csc, right=True) - 1
                src = row[csc]
                new = torch.unique(src[local[src] < 0])
                local[new] = torch.arange(count, count + len(new))
                count += len(new)
                nodes.append(new)
                rows.append(local[src])
                cols.append(local[dst])
                edges.append(csc)
                n_nodes.append(len(new))
                n_edges.append(len(csc))
                frontier = new
            node = torch.cat(nodes)
            local[node] = -1  # the buffer is reused by the next batch
            empty = torch.empty(0, dtype=torch.long)
            return SamplerOutput(node=node, row=torch.cat(rows) if rows else empty,
                                 col=torch.cat(cols) if cols else empty, edge=torch.cat(edges) if edges else empty,
                                 num_sampled_nodes=n_nodes, num_sampled_edges=n_edges)

    return TorchNeighborSampler


def link_loader(edge_index: Tensor, edge_type: Tensor, num_nodes: int, triples: Tensor, *, fanout: list[int],
                batch_size: int, shuffle: bool = True, random_nodes: float = 1.0):
    """A ``LinkNeighborLoader`` whose batches hold ``n_id`` (global ids of the subgraph's nodes, ``[n]``),
    ``edge_index`` ``[2, e]`` (local), ``edge_type`` ``[e]``, and the batch's triples as ``edge_label_index``
    ``[2, b']`` (local head, tail) with ``edge_label`` ``[b']``: relation + 1 for the batch's triples, 0 for
    ``random_nodes`` x b pairs of uniformly drawn nodes (PyG's binary negative sampling). Those random nodes are
    in the subgraph so that a sampled softmax over its nodes does not only see the seeds' own neighbourhoods
    (near neighbours make the negatives all hard ones from the same region of the graph).
    ``edge_index``/``edge_type``: the message-passing graph; ``triples``: ``[T, 3]`` training triples."""
    from torch_geometric.data import Data
    from torch_geometric.loader import LinkNeighborLoader
    from torch_geometric.sampler import NegativeSampling

    data = Data(edge_index=edge_index.cpu(), edge_type=edge_type.cpu(), num_nodes=num_nodes)
    sampler = None
    if sampler_backend() == "torch":
        sampler = _torch_sampler_cls()(data, num_neighbors=fanout)
    triples = triples.cpu()
    return LinkNeighborLoader(data, num_neighbors=fanout, edge_label_index=triples[:, [0, 2]].T.contiguous(),
                              edge_label=triples[:, 1] + 1, batch_size=batch_size, shuffle=shuffle,
                              neighbor_sampler=sampler,
                              neg_sampling=NegativeSampling("binary", random_nodes) if random_nodes > 0 else None)


def full_batch_bytes(num_entities: int, mp_edges: int, *, dim: int, layers: int, bases: int, batch: int) -> int:
    """Peak memory of one full-batch R-GCN training step, estimated: per layer three ``[E, d]`` float tensors of
    messages and two ``[N, B, d]`` aggregates, and the scores of ``batch`` triples against every entity as head and
    tail with their gradients. Calibrated on a generated graph (50k entities, 2M message edges, d 64, 2 layers,
    8 bases, batch 4096): estimate 8.4 GB, measured peak RSS 6.5 GB on CPU (``bench/gnn.py``)."""
    floats = layers * (3 * mp_edges * dim + 2 * num_entities * bases * dim) + 6 * batch * num_entities
    return 4 * floats


def memory_budget(device: torch.device) -> int:
    """Bytes a training step may use: 80% of the GPU's free memory, or half the machine's available memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // 2
