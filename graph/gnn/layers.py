"""The message-passing layers of the graph encoders: R-GCN with basis decomposition (:class:`BasisRGCNConv`),
CompGCN's composition (:func:`compose`) and layer (``compgcn_conv_cls``), and the per-layer trimming of a sampled
subgraph (:func:`layer_trims`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class BasisRGCNConv(nn.Module):
    """An R-GCN layer with basis decomposition, ``W_r = sum_b a[r, b] V_b`` (Schlichtkrull et al., eq. 2-3):
    ``h_i = W_0 x_i + sum_r sum_{j in N_i^r} W_r x_j / c_{i,r}``, ``c_{i,r}`` = i's in-degree under r.

    Computed as aggregate, then transform, in one of two ways chosen per graph: with few relations per node the
    neighbours' features are summed per (node, relation) with one ``index_add`` (``[N, R_c, d]`` per chunk of
    relations, bounded to ``CHUNK`` floats) and contracted with the basis coefficients; with many relations and
    few edges each (MedMKG: 524 relations with inverses, 57k edges) one weighted ``index_add`` per basis. Either
    way the result is ``[N, B, d]``, then the bases; no ``[E, d]`` tensor is kept per basis. On 2M edges, 50k
    nodes, 40 relations, 8 bases, one layer forward + backward took 1.9 s by slots and 26 s as one PyG
    message-passing pass per basis. Shapes: ``x [N, in]``, ``edge_index [2, E]``,
    ``edge_type [E]`` -> ``[N, out]``."""

    CHUNK = 1 << 26  # floats of one (node, relation) aggregate: 256 MB

    def __init__(self, in_channels: int, out_channels: int, num_relations: int, num_bases: int):
        super().__init__()
        self.num_relations = num_relations
        self.bases = nn.Parameter(torch.empty(num_bases, in_channels, out_channels))
        self.comp = nn.Parameter(torch.empty(num_relations, num_bases))
        self.root = nn.Linear(in_channels, out_channels)
        nn.init.xavier_uniform_(self.bases)
        nn.init.xavier_uniform_(self.comp)
        self._plan_key: tuple[int, ...] | None = None
        self._plan: tuple[str, list] | None = None

    def _prepare(self, edge_index: torch.Tensor, edge_type: torch.Tensor, n: int, d: int,
                 cache: bool = True) -> tuple[str, list]:
        """How to aggregate this graph (kept for the next call with ``cache``, i.e. for the one full graph; a
        sampled subgraph is planned afresh, its tensors' addresses are reused by the next batch): per (node,
        relation) slot in relation chunks when the slot table is no larger than twice the edges, else one weighted
        pass per basis."""
        if not cache:
            return self._make_plan(edge_index, edge_type, n, d)
        key = (edge_index.data_ptr(), edge_type.data_ptr(), edge_index.shape[1], n, d)
        if self._plan_key != key or self._plan is None:
            self._plan_key, self._plan = key, self._make_plan(edge_index, edge_type, n, d)
        return self._plan

    def _make_plan(self, edge_index: torch.Tensor, edge_type: torch.Tensor, n: int, d: int) -> tuple[str, list]:
        src, dst, rel = edge_index[0], edge_index[1], edge_type
        slot = dst * self.num_relations + rel
        deg = torch.bincount(slot, minlength=n * self.num_relations).clamp(min=1)
        norm = (1.0 / deg[slot].float()).unsqueeze(1)
        if n * self.num_relations > 2 * len(rel):  # many relations, few edges each (MedMKG: 524 x 8k vs 57k)
            return "bases", [(src, dst, rel, norm)]
        order = torch.argsort(rel, stable=True)
        src, dst, rel, norm = src[order], dst[order], rel[order], norm[order]
        per = max(1, self.CHUNK // max(n * d, 1))  # relations per chunk
        bounds = torch.searchsorted(rel, torch.arange(0, self.num_relations + per, per, device=rel.device)).tolist()
        plan = []
        for c, lo in enumerate(range(0, self.num_relations, per)):
            a, b = bounds[c], bounds[c + 1]
            if a < b:
                hi = min(lo + per, self.num_relations)
                plan.append((lo, hi, src[a:b], dst[a:b] * (hi - lo) + (rel[a:b] - lo), norm[a:b]))
        return "slots", plan

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor,
                cache: bool = True, num_out: int | None = None) -> torch.Tensor:
        """``num_out``: only the first ``num_out`` nodes' outputs (every edge's target among them), ``[num_out, out]``
        -- a sampled subgraph's inner hops."""
        n, d = x.shape
        m = n if num_out is None else num_out
        how, plan = self._prepare(edge_index, edge_type, m, d, cache)
        if how == "bases":
            (src, dst, rel, norm), = plan
            xs = x[src] * norm.to(x.dtype)  # [E, d], kept once for the backward pass
            w = self.comp[rel].to(x.dtype)  # [E, B]
            h = torch.stack([x.new_zeros(m, d).index_add(0, dst, xs * w[:, b:b + 1]) for b in range(w.size(1))], 1)
        else:
            h = x.new_zeros(m, self.bases.size(0), d)
            for lo, hi, src, slot, norm in plan:
                agg = x.new_zeros(m * (hi - lo), d).index_add(0, slot, x[src] * norm.to(x.dtype)).view(m, hi - lo, d)
                h = h + torch.einsum("nrd,rb->nbd", agg, self.comp[lo:hi].to(x.dtype))
        return self.root(x[:m]) + torch.einsum("nbd,bdo->no", h, self.bases.to(x.dtype))


def layer_trims(hops: tuple[list[int], list[int]] | None, layers: int) -> list[tuple[int, int, int] | None]:
    """Per layer of a sampled subgraph (nodes and edges in hop order, ``hops`` = nodes added and edges sampled per
    hop): ``(nodes in, edges, nodes out)`` — layer ``l`` of ``L`` reads the nodes of hops ``0..L-l`` and gives
    those of hops ``0..L-1-l`` from the edges of hops ``0..L-1-l``. ``None`` per layer for a whole graph."""
    if hops is None:
        return [None] * layers
    nodes, edges = np.cumsum(hops[0]).tolist(), np.cumsum(hops[1]).tolist()
    if len(edges) < layers:
        raise ValueError(f"{len(edges)} sampled hops for {layers} layers")
    return [(nodes[layers - n], edges[layers - 1 - n], nodes[layers - 1 - n]) for n in range(layers)]


def compose(x: torch.Tensor, rel: torch.Tensor, how: str) -> torch.Tensor:
    """CompGCN's composition of a node vector and a relation vector (``[.., d]`` each): elementwise product
    (DistMult-like), difference (TransE-like) or circular correlation (HolE-like, by FFT)."""
    if how == "mult":
        return x * rel
    if how == "sub":
        return x - rel
    d = x.size(-1)
    return torch.fft.irfft(torch.conj(torch.fft.rfft(x.float(), dim=-1)) * torch.fft.rfft(rel.float(), dim=-1),
                           n=d, dim=-1).to(x.dtype)


def compgcn_conv_cls():
    from torch_geometric.nn import MessagePassing

    class CompGCNConv(MessagePassing):
        """A CompGCN layer (Vashishth et al., 2020) as a PyG ``MessagePassing`` layer: node ``v`` gets
        ``BN(1/3 (sum_{(u, r) -> v} W_dir(r) phi(x_u, z_r) / c_{v,dir} + W_loop phi(x_v, z_loop)) + b)``, ``dir`` the
        edge's direction (a relation or its inverse: ``edge_type >= R``), ``c`` v's in-degree in that direction,
        ``BN`` batch normalisation as in the authors' code (without it products of small vectors shrink layer by
        layer and nothing learns); the relations move on as ``W_rel z_r``. Shapes: ``x [N, in]``,
        ``edge_index [2, E]``, ``edge_type [E]`` in ``0..2R-1``, ``rel [2R, in]`` -> ``([num_out, out], [2R, out])``."""

        def __init__(self, in_channels: int, out_channels: int, composition: str):
            super().__init__(aggr="add")
            self.composition, self.out_channels = composition, out_channels
            self.w_in = nn.Linear(in_channels, out_channels, bias=False)
            self.w_out = nn.Linear(in_channels, out_channels, bias=False)
            self.w_loop = nn.Linear(in_channels, out_channels, bias=False)
            self.w_rel = nn.Linear(in_channels, out_channels, bias=False)
            self.loop_rel = nn.Parameter(torch.empty(1, in_channels))
            self.bias = nn.Parameter(torch.zeros(out_channels))
            self.bn = nn.BatchNorm1d(out_channels)
            nn.init.xavier_uniform_(self.loop_rel)

        def forward(self, x, edge_index, edge_type, rel, num_out: int | None = None):
            n = x.size(0)
            m = n if num_out is None else num_out
            inv = edge_type >= rel.size(0) // 2
            key = edge_index[1] * 2 + inv.long()
            norm = 1.0 / torch.bincount(key, minlength=2 * m).clamp(min=1)[key].to(x.dtype)
            agg = self.propagate(edge_index, x=(x, x[:m]), rel=rel, edge_type=edge_type, inv=inv, norm=norm,
                                 size=(n, m))
            loop = self.w_loop(compose(x[:m], self.loop_rel, self.composition))
            return self.bn((agg + loop) / 3 + self.bias), self.w_rel(rel)

        def message(self, x_j, rel, edge_type, inv, norm):
            msg = compose(x_j, rel[edge_type], self.composition)
            out = msg.new_zeros(msg.size(0), self.out_channels)
            out[~inv] = self.w_in(msg[~inv])
            out[inv] = self.w_out(msg[inv])
            return out * norm.unsqueeze(1)

    return CompGCNConv
