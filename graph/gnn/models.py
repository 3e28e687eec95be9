"""Link-prediction models over :class:`graph.gnn.data.KGData`, one interface for training and ranking.

* ``rgcn``: an R-GCN encoder (basis decomposition that aggregates per node and relation before it transforms,
  or PyG's ``RGCNConv`` with block decomposition; the graph's inverse edges as relations of their own) over
  learned node features, with a DistMult or ComplEx decoder (Schlichtkrull et al., 2018).
* ``transe``, ``distmult``, ``complex``, ``rotate``: PyG's ``torch_geometric.nn.kge`` models, as baselines.

Every model gives ``embeddings() -> [N, d]`` (what is written to the store as ``gnnEmbedding``) and scores
against every entity: ``score_tails(h, r) -> [B, N]``, ``score_heads(r, t) -> [B, N]``; higher is more likely.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from kg.core.errors import InvalidInput

MODELS = ("rgcn", "compgcn", "transe", "distmult", "complex", "rotate")
COMPOSITIONS = ("mult", "sub", "corr")


@dataclass
class ModelConfig:
    model: str = "rgcn"
    dim: int = 64
    layers: int = 2  # R-GCN layers
    decomposition: str = "basis"  # R-GCN: "basis" or "block"
    num_bases: int = 8  # basis decomposition: shared bases; block: blocks (dim must divide by it)
    decoder: str = "distmult"  # R-GCN decoder: "distmult" or "complex"
    dropout: float = 0.2
    margin: float = 1.0  # TransE / RotatE margin
    composition: str = "mult"  # CompGCN: how a neighbour and its relation combine: mult, sub or corr

    def as_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        if self.model not in MODELS:
            raise InvalidInput(f"unknown model {self.model!r}", code="E1104", fix="use one of: " + ", ".join(MODELS))
        if self.decomposition not in ("basis", "block"):
            raise InvalidInput(f"unknown decomposition {self.decomposition!r}", code="E1105", fix="use basis or block")
        if self.composition not in COMPOSITIONS:
            raise InvalidInput(f"unknown composition {self.composition!r}", code="E1123",
                               fix="use one of: " + ", ".join(COMPOSITIONS))
        if self.decoder not in ("distmult", "complex"):
            raise InvalidInput(f"unknown decoder {self.decoder!r}", code="E1106", fix="use distmult or complex")
        if self.dim < 2 or self.dim % 2:
            raise InvalidInput(f"dim must be an even number >= 2, not {self.dim}", code="E1107", fix="e.g. --dim 64")
        if self.decomposition == "block" and self.dim % self.num_bases:
            raise InvalidInput(f"block decomposition needs dim ({self.dim}) divisible by blocks ({self.num_bases})",
                               code="E1108", fix="choose --bases that divides --dim")


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
        self._plan_key, self._plan = None, None

    def _prepare(self, edge_index: torch.Tensor, edge_type: torch.Tensor, n: int, d: int,
                 cache: bool = True) -> tuple[str, list]:
        """How to aggregate this graph (kept for the next call with ``cache``, i.e. for the one full graph; a
        sampled subgraph is planned afresh, its tensors' addresses are reused by the next batch): per (node,
        relation) slot in relation chunks when the slot table is no larger than twice the edges, else one weighted
        pass per basis."""
        if not cache:
            return self._make_plan(edge_index, edge_type, n, d)
        key = (edge_index.data_ptr(), edge_type.data_ptr(), edge_index.shape[1], n, d)
        if self._plan_key != key:
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


class RGCN(nn.Module):
    """Node features ``x [N, d]`` → ``layers`` × RGCNConv over ``2R`` relations (each edge and its inverse) →
    ``z [N, d]``; decoder relation vectors ``[R, d]``."""

    def __init__(self, num_entities: int, num_relations: int, cfg: ModelConfig):
        super().__init__()
        from torch_geometric.nn import RGCNConv

        self.cfg, self.num_relations = cfg, num_relations
        self.x = nn.Embedding(num_entities, cfg.dim)
        nn.init.xavier_uniform_(self.x.weight)
        if cfg.decomposition == "basis":
            layers = [BasisRGCNConv(cfg.dim, cfg.dim, 2 * num_relations, min(cfg.num_bases, 2 * num_relations))
                      for _ in range(cfg.layers)]
        else:  # block-diagonal weights per relation: PyG's RGCNConv (one pass per relation)
            layers = [RGCNConv(cfg.dim, cfg.dim, 2 * num_relations, num_blocks=cfg.num_bases) for _ in range(cfg.layers)]
        self.convs = nn.ModuleList(layers)
        self.rel = nn.Parameter(torch.empty(num_relations, cfg.dim))
        nn.init.xavier_uniform_(self.rel)
        self.edge_index: torch.Tensor | None = None
        self.edge_type: torch.Tensor | None = None
        self._z: torch.Tensor | None = None

    def set_graph(self, edge_index: torch.Tensor, edge_type: torch.Tensor) -> None:
        """The message-passing graph (training edges and their inverses)."""
        self.edge_index, self.edge_type, self._z = edge_index, edge_type, None

    def encode(self, n_id: torch.Tensor | None = None, edge_index: torch.Tensor | None = None,
               edge_type: torch.Tensor | None = None, hops: tuple[list[int], list[int]] | None = None) -> torch.Tensor:
        """``z [N, d]`` over the whole graph, or for a sampled subgraph: its nodes' global ids ``n_id [n]``, its edges
        ``edge_index [2, e]`` (local) and ``edge_type [e]``, and ``hops`` = (nodes added per hop, edges sampled per
        hop), PyG's ``num_sampled_nodes``/``num_sampled_edges``, nodes and edges in hop order. Each layer then only
        computes what the next needs (PyG's trim-to-layer idea): layer ``l`` of ``L`` gives the nodes of hops
        ``0..L-1-l`` from the edges of those hops, and the result is ``[seeds, d]``."""
        sub = n_id is not None
        z = self.x(n_id) if sub else self.x.weight
        ei, et = (edge_index, edge_type) if sub else (self.edge_index, self.edge_type)
        L = len(self.convs)
        for n, (conv, trim) in enumerate(zip(self.convs, layer_trims(hops, L))):
            if trim is None:
                z = conv(z, ei, et, cache=not sub) if isinstance(conv, BasisRGCNConv) else conv(z, ei, et)
            else:
                n_in, e, out = trim
                z = z[:n_in]
                if isinstance(conv, BasisRGCNConv):
                    z = conv(z, ei[:, :e], et[:e], cache=False, num_out=out)
                else:
                    z = conv((z, z[:out]), ei[:, :e], et[:e])
            if n < L - 1:
                z = torch.relu(z)
                z = nn.functional.dropout(z, self.cfg.dropout, self.training)
        return z

    def _decode(self, zh: torch.Tensor, r: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        """Scores of aligned triples: ``zh``, ``zt`` ``[B, d]``, ``r`` ``[B]`` -> ``[B]``."""
        rel = self.rel[r]
        if self.cfg.decoder == "distmult":
            return (zh * rel * zt).sum(-1)
        d = self.cfg.dim // 2  # ComplEx: Re(<h, r, conj(t)>), halves as real and imaginary parts
        hr, hi, rr, ri, tr, ti = zh[..., :d], zh[..., d:], rel[..., :d], rel[..., d:], zt[..., :d], zt[..., d:]
        return (hr * rr * tr + hi * rr * ti + hr * ri * ti - hi * ri * tr).sum(-1)

    def _against_all(self, z: torch.Tensor, fixed: torch.Tensor, r: torch.Tensor, side: str) -> torch.Tensor:
        """Every entity as the tail (``side="tail"``, ``fixed`` = heads) or head of ``(fixed, r)``: ``[B, N]`` by one
        matrix product, never a ``[B, N, d]`` intermediate."""
        rel, q = self.rel[r], z[fixed]
        if self.cfg.decoder == "distmult":
            return (q * rel) @ z.T
        d = self.cfg.dim // 2
        qr, qi, rr, ri = q[:, :d], q[:, d:], rel[:, :d], rel[:, d:]
        if side == "tail":  # sum tr (hr rr - hi ri) + ti (hr ri + hi rr)
            a = torch.cat([qr * rr - qi * ri, qr * ri + qi * rr], dim=1)
        else:  # sum hr (rr tr + ri ti) + hi (rr ti - ri tr), q = t
            a = torch.cat([rr * qr + ri * qi, rr * qi - ri * qr], dim=1)
        return a @ z.T

    def loss(self, pos: torch.Tensor) -> torch.Tensor:
        """1-vs-all cross-entropy: each positive ``(h, r, t)`` ``[B, 3]`` against every entity as its tail and as its
        head (Ruffinelli et al., 2020), with label smoothing and L2 on the decoder's relations; every other entity
        is a negative."""
        z = self.encode()
        h, r, t = pos[:, 0], pos[:, 1], pos[:, 2]
        tails = self._against_all(z, h, r, "tail")
        heads = self._against_all(z, t, r, "head")
        ce = nn.functional.cross_entropy
        return (ce(tails.float(), t, label_smoothing=0.1) + ce(heads.float(), h, label_smoothing=0.1)) / 2 \
            + 1e-3 * self.rel.pow(2).mean()

    def loss_sampled(self, n_id: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor,
                     hops: tuple[list[int], list[int]], pos: torch.Tensor) -> torch.Tensor:
        """The loss of :meth:`loss` on a sampled subgraph (:meth:`encode`'s arguments; ``pos [B, 3]`` in its local
        ids): each positive against the subgraph's seeds (the batch's heads and tails and the random nodes drawn
        with them) as tails and heads, a sampled softmax in place of the full one."""
        z = self.encode(n_id, edge_index, edge_type, hops)
        h, r, t = pos[:, 0], pos[:, 1], pos[:, 2]
        ce = nn.functional.cross_entropy
        return (ce(self._against_all(z, h, r, "tail").float(), t, label_smoothing=0.1)
                + ce(self._against_all(z, t, r, "head").float(), h, label_smoothing=0.1)) / 2 \
            + 1e-3 * self.rel.pow(2).mean()

    @torch.no_grad()
    def prepare(self) -> None:
        """Encode once for ranking (eval mode)."""
        self._z = self.encode()

    def embeddings(self) -> torch.Tensor:
        if self._z is None:
            self.prepare()
        return self._z

    def score_tails(self, h: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return self._against_all(self.embeddings(), h, r, "tail")

    def score_heads(self, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._against_all(self.embeddings(), t, r, "head")


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


def _compgcn_conv_cls():
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


class CompGCN(RGCN):
    """CompGCN: node features ``x [N, d]`` and relation vectors ``[2R, d]`` (each relation and its inverse) through
    ``layers`` CompGCN layers together; the decoder (DistMult or ComplEx) scores with the last layer's relation
    vectors. The rest (losses, full-graph and sampled, ranking) is the R-GCN's."""

    def __init__(self, num_entities: int, num_relations: int, cfg: ModelConfig):
        nn.Module.__init__(self)
        conv = _compgcn_conv_cls()
        self.cfg, self.num_relations = cfg, num_relations
        self.x = nn.Embedding(num_entities, cfg.dim)
        nn.init.xavier_uniform_(self.x.weight)
        self.rel0 = nn.Parameter(torch.empty(2 * num_relations, cfg.dim))
        nn.init.xavier_uniform_(self.rel0)
        self.convs = nn.ModuleList(conv(cfg.dim, cfg.dim, cfg.composition) for _ in range(cfg.layers))
        self.edge_index: torch.Tensor | None = None
        self.edge_type: torch.Tensor | None = None
        self._z: torch.Tensor | None = None
        self._rel: torch.Tensor | None = None

    @property
    def rel(self) -> torch.Tensor:
        """The decoder's relation vectors ``[R, d]``: the last layer's, from the latest :meth:`encode`."""
        if self._rel is None:
            self.prepare()
        return self._rel

    def encode(self, n_id: torch.Tensor | None = None, edge_index: torch.Tensor | None = None,
               edge_type: torch.Tensor | None = None, hops: tuple[list[int], list[int]] | None = None) -> torch.Tensor:
        """As :meth:`RGCN.encode`; also sets the decoder's relation vectors."""
        sub = n_id is not None
        z = self.x(n_id) if sub else self.x.weight
        ei, et = (edge_index, edge_type) if sub else (self.edge_index, self.edge_type)
        r, L = self.rel0, len(self.convs)
        for n, (conv, trim) in enumerate(zip(self.convs, layer_trims(hops, L))):
            if trim is None:
                z, r = conv(z, ei, et, r)
            else:
                n_in, e, out = trim
                z, r = conv(z[:n_in], ei[:, :e], et[:e], r, num_out=out)
            if n < L - 1:
                z = nn.functional.dropout(torch.tanh(z), self.cfg.dropout, self.training)
                r = torch.tanh(r)
        self._rel = r[:self.num_relations]
        return z


class KGE(nn.Module):
    """A ``torch_geometric.nn.kge`` model (TransE, DistMult, ComplEx, RotatE) behind the same interface."""

    def __init__(self, num_entities: int, num_relations: int, cfg: ModelConfig):
        super().__init__()
        from torch_geometric.nn import kge

        cls = {"transe": kge.TransE, "distmult": kge.DistMult, "complex": kge.ComplEx, "rotate": kge.RotatE}[cfg.model]
        kw = {"margin": cfg.margin} if cfg.model in ("transe", "rotate") else {}
        dim = cfg.dim // 2 if cfg.model in ("complex", "rotate") else cfg.dim  # complex: d/2 real + d/2 imaginary
        self.cfg, self.num_entities = cfg, num_entities
        self.kge = cls(num_entities, num_relations, dim, **kw)

    def set_graph(self, edge_index, edge_type) -> None:  # no message passing
        pass

    def loss(self, pos: torch.Tensor) -> torch.Tensor:
        """PyG's own loss for the model (it draws its own corruptions)."""
        return self.kge.loss(pos[:, 0], pos[:, 1], pos[:, 2])

    def prepare(self) -> None:
        pass

    def embeddings(self) -> torch.Tensor:
        w = self.kge.node_emb.weight
        im = getattr(self.kge, "node_emb_im", None)
        return torch.cat([w, im.weight], dim=-1) if im is not None else w

    def _against_all(self, fixed: torch.Tensor, r: torch.Tensor, side: str) -> torch.Tensor:
        """Every entity as the tail (``side="tail"``, ``fixed`` = heads) or head: ``[B, N]``, in closed form (a
        distance or a matrix product over all entities), the same numbers as PyG's ``forward`` triple by triple."""
        m, name = self.kge, self.cfg.model
        e = m.node_emb.weight
        if name == "transe":
            p = m.p_norm
            en = nn.functional.normalize(e, p=p, dim=-1)
            q = en[fixed]
            return -torch.cdist(q + m.rel_emb(r), en, p=p) if side == "tail" else -torch.cdist(q - m.rel_emb(r), en, p=p)
        if name == "distmult":
            return (e[fixed] * m.rel_emb(r)) @ e.T
        im = m.node_emb_im.weight
        qr, qi = e[fixed], im[fixed]
        if name == "complex":
            rr, ri = m.rel_emb(r), m.rel_emb_im(r)
            if side == "tail":
                return (qr * rr - qi * ri) @ e.T + (qr * ri + qi * rr) @ im.T
            return (rr * qr + ri * qi) @ e.T + (rr * qi - ri * qr) @ im.T
        theta = m.rel_emb(r)  # rotate: |h o r - t| = |h - t o conj(r)| since |r| = 1
        cr, ci = torch.cos(theta), torch.sin(theta)
        if side == "tail":
            q = torch.cat([cr * qr - ci * qi, cr * qi + ci * qr], dim=1)
        else:
            q = torch.cat([cr * qr + ci * qi, cr * qi - ci * qr], dim=1)
        return m.margin - torch.cdist(q, torch.cat([e, im], dim=1), p=2)

    def score_tails(self, h: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return self._against_all(h, r, "tail")

    def score_heads(self, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._against_all(t, r, "head")


def build_model(num_entities: int, num_relations: int, cfg: ModelConfig) -> nn.Module:
    cfg.check()
    if cfg.model == "rgcn":
        return RGCN(num_entities, num_relations, cfg)
    if cfg.model == "compgcn":
        return CompGCN(num_entities, num_relations, cfg)
    return KGE(num_entities, num_relations, cfg)
