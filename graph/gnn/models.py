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

import torch
from torch import nn

from graph.gnn.layers import BasisRGCNConv, compgcn_conv_cls, layer_trims
from kg.core.errors import InvalidInput
from kg.core.registry import Registry

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
        if self.model not in LINK_MODELS:
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


class LinkModel(nn.Module):
    """What training, ranking and the embedding export use of a link-prediction model. ``encodes_graph``: it
    passes messages over the training graph (R-GCN, CompGCN; neighbour-sampled batches apply), or scores triples
    from its embeddings alone (the KGE models)."""

    encodes_graph: bool = False

    def set_graph(self, edge_index: torch.Tensor, edge_type: torch.Tensor) -> None:
        """The message-passing graph (training edges and their inverses); ignored by a model that encodes none."""

    def loss(self, pos: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch of positive triples ``[B, 3]``."""
        raise NotImplementedError

    def loss_sampled(self, n_id: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor,
                     hops: tuple[list[int], list[int]], pos: torch.Tensor) -> torch.Tensor:
        """The loss on a sampled subgraph (models that encode the graph)."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Whatever ranking needs computed once (eval mode)."""

    def embeddings(self) -> torch.Tensor:
        """One row per entity ``[N, d]``."""
        raise NotImplementedError

    def score_tails(self, h: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Every entity as the tail of ``(h, r)``: ``[B, N]``."""
        raise NotImplementedError

    def score_heads(self, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Every entity as the head of ``(r, t)``: ``[B, N]``."""
        raise NotImplementedError


class RGCN(LinkModel):
    """Node features ``x [N, d]`` → ``layers`` × RGCNConv over ``2R`` relations (each edge and its inverse) →
    ``z [N, d]``; decoder relation vectors ``[R, d]``."""

    encodes_graph = True

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
        if ei is None or et is None:
            raise ValueError("no graph: set_graph() first, or pass a sampled subgraph")
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

    def relations(self) -> torch.Tensor:
        """The decoder's relation vectors ``[R, d]``."""
        return self.rel

    def _decode(self, zh: torch.Tensor, r: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        """Scores of aligned triples: ``zh``, ``zt`` ``[B, d]``, ``r`` ``[B]`` -> ``[B]``."""
        rel = self.relations()[r]
        if self.cfg.decoder == "distmult":
            return (zh * rel * zt).sum(-1)
        d = self.cfg.dim // 2  # ComplEx: Re(<h, r, conj(t)>), halves as real and imaginary parts
        hr, hi, rr, ri, tr, ti = zh[..., :d], zh[..., d:], rel[..., :d], rel[..., d:], zt[..., :d], zt[..., d:]
        return (hr * rr * tr + hi * rr * ti + hr * ri * ti - hi * ri * tr).sum(-1)

    def _against_all(self, z: torch.Tensor, fixed: torch.Tensor, r: torch.Tensor, side: str) -> torch.Tensor:
        """Every entity as the tail (``side="tail"``, ``fixed`` = heads) or head of ``(fixed, r)``: ``[B, N]`` by one
        matrix product, never a ``[B, N, d]`` intermediate."""
        rel, q = self.relations()[r], z[fixed]
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
            + 1e-3 * self.relations().pow(2).mean()

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
            + 1e-3 * self.relations().pow(2).mean()

    @torch.no_grad()
    def prepare(self) -> None:
        """Encode once for ranking (eval mode)."""
        self._z = self.encode()

    def embeddings(self) -> torch.Tensor:
        if self._z is None:
            self.prepare()
        assert self._z is not None  # set by prepare()
        return self._z

    def score_tails(self, h: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return self._against_all(self.embeddings(), h, r, "tail")

    def score_heads(self, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._against_all(self.embeddings(), t, r, "head")


class CompGCN(RGCN):
    """CompGCN: node features ``x [N, d]`` and relation vectors ``[2R, d]`` (each relation and its inverse) through
    ``layers`` CompGCN layers together; the decoder (DistMult or ComplEx) scores with the last layer's relation
    vectors. The rest (losses, full-graph and sampled, ranking) is the R-GCN's."""

    def __init__(self, num_entities: int, num_relations: int, cfg: ModelConfig):
        nn.Module.__init__(self)
        conv = compgcn_conv_cls()
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

    def relations(self) -> torch.Tensor:
        """The decoder's relation vectors ``[R, d]``: the last layer's, from the latest :meth:`encode`."""
        if self._rel is None:
            self.prepare()
        assert self._rel is not None  # set by encode()
        return self._rel

    def encode(self, n_id: torch.Tensor | None = None, edge_index: torch.Tensor | None = None,
               edge_type: torch.Tensor | None = None, hops: tuple[list[int], list[int]] | None = None) -> torch.Tensor:
        """As :meth:`RGCN.encode`; also sets the decoder's relation vectors."""
        sub = n_id is not None
        z = self.x(n_id) if sub else self.x.weight
        ei, et = (edge_index, edge_type) if sub else (self.edge_index, self.edge_type)
        if ei is None or et is None:
            raise ValueError("no graph: set_graph() first, or pass a sampled subgraph")
        r: torch.Tensor = self.rel0
        L = len(self.convs)
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


class KGE(LinkModel):
    """A ``torch_geometric.nn.kge`` model (TransE, DistMult, ComplEx, RotatE) behind the same interface."""

    def __init__(self, num_entities: int, num_relations: int, cfg: ModelConfig):
        super().__init__()
        from torch_geometric.nn import kge

        cls = {"transe": kge.TransE, "distmult": kge.DistMult, "complex": kge.ComplEx, "rotate": kge.RotatE}[cfg.model]
        kw = {"margin": cfg.margin} if cfg.model in ("transe", "rotate") else {}
        dim = cfg.dim // 2 if cfg.model in ("complex", "rotate") else cfg.dim  # complex: d/2 real + d/2 imaginary
        self.cfg, self.num_entities = cfg, num_entities
        self.kge = cls(num_entities, num_relations, dim, **kw)

    def loss(self, pos: torch.Tensor) -> torch.Tensor:
        """PyG's own loss for the model (it draws its own corruptions)."""
        return self.kge.loss(pos[:, 0], pos[:, 1], pos[:, 2])

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


LINK_MODELS: Registry[LinkModel] = Registry("link-prediction model", option="--model")
LINK_MODELS.add("rgcn", RGCN)
LINK_MODELS.add("compgcn", CompGCN)
for _name in ("transe", "distmult", "complex", "rotate"):
    LINK_MODELS.add(_name, KGE)
MODELS = ("rgcn", "compgcn", "transe", "distmult", "complex", "rotate")  # in the order the help lists them


def encodes_graph(model: str) -> bool:
    """Whether the model named ``model`` passes messages over the graph (batch modes apply)."""
    make, _ = LINK_MODELS.get(model)
    return isinstance(make, type) and issubclass(make, LinkModel) and make.encodes_graph


def build_model(num_entities: int, num_relations: int, cfg: ModelConfig) -> LinkModel:
    cfg.check()
    make, _ = LINK_MODELS.get(cfg.model)
    return make(num_entities, num_relations, cfg)
