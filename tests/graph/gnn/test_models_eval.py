"""graph/gnn/models.py and evaluate.py: all-entity scoring equals the models' own triple scores; ranks agree with
PyKEEN's RankBasedEvaluator on the same scores (ties and filtering included)."""

import numpy as np
import pytest
import torch

from graph.gnn.evaluate import known_index, metrics, rank_triples
from graph.gnn.models import MODELS, ModelConfig, build_model
from kg.core.errors import InvalidInput


@pytest.mark.parametrize("name,decoder", [("rgcn", "complex"), ("compgcn", "complex"),
                                          *((m, "distmult") for m in MODELS)])
def test_scoring_every_entity_equals_scoring_each_triple(name, decoder):
    torch.manual_seed(0)
    n = 40
    m = build_model(n, 3, ModelConfig(model=name, dim=16, decoder=decoder))
    ei = torch.randint(n, (2, 120))
    m.set_graph(torch.cat([ei, ei.flip(0)], 1), torch.randint(6, (240,)))
    m.eval()
    h, r, t = torch.tensor([1, 7, 3]), torch.tensor([0, 2, 1]), torch.tensor([4, 9, 11])
    with torch.no_grad():
        m.prepare()
        st, sh = m.score_tails(h, r), m.score_heads(r, t)
        all_n = torch.arange(n)
        if name in ("rgcn", "compgcn"):
            z = m.embeddings()
            one = lambda a, b, c: m._decode(z[a], b, z[c])  # noqa: E731
        else:
            one = m.kge
        ref_t = torch.stack([one(h[i].repeat(n), r[i].repeat(n), all_n) for i in range(3)])
        ref_h = torch.stack([one(all_n, r[i].repeat(n), t[i].repeat(n)) for i in range(3)])
    assert torch.allclose(st, ref_t, atol=1e-4) and torch.allclose(sh, ref_h, atol=1e-4)


def test_bad_model_settings_are_refused():
    for cfg, msg in ((ModelConfig(model="conve"), "unknown model"), (ModelConfig(dim=7), "even"),
                     (ModelConfig(model="compgcn", composition="add"), "unknown composition"),
                     (ModelConfig(decomposition="block", num_bases=5), "divisible")):
        with pytest.raises(InvalidInput, match=msg):
            build_model(10, 2, cfg)


class Fixed:
    """A model that returns given score matrices (one batch)."""

    def __init__(self, tails, heads):
        self.tails, self.heads = torch.tensor(tails), torch.tensor(heads)

    def eval(self):
        pass

    def prepare(self):
        pass

    def score_tails(self, h, r):
        return self.tails

    def score_heads(self, r, t):
        return self.heads


def test_ranks_agree_with_pykeen():
    pykeen = pytest.importorskip("pykeen.evaluation")
    rng = np.random.default_rng(0)
    n, b = 30, 25
    triples = np.stack([rng.integers(0, n, b), rng.integers(0, 3, b), rng.integers(0, n, b)], 1)
    extra = np.stack([rng.integers(0, n, 60), rng.integers(0, 3, 60), rng.integers(0, n, 60)], 1)
    tails = rng.integers(0, 6, (b, n)).astype(np.float32)  # few values: many ties
    heads = rng.integers(0, 6, (b, n)).astype(np.float32)
    filters = known_index(triples, extra)
    ours = rank_triples(Fixed(tails, heads), triples, filters, batch=b)
    for filtered in (False, True):
        ev = pykeen.RankBasedEvaluator(filtered=filtered)
        hrt = torch.as_tensor(triples)
        for target, scores, col in (("tail", tails, 2), ("head", heads, 0)):
            s = torch.tensor(scores)
            true = s.gather(1, hrt[:, col].view(-1, 1))
            if filtered:
                of = filters[0] if target == "tail" else filters[1]
                for i, (h, r, t) in enumerate(triples.tolist()):
                    for x in of.get((h, r) if target == "tail" else (r, t), ()):
                        if x != triples[i, col]:
                            s[i, x] = float("nan")
            ev.process_scores_(hrt, target, s, true_scores=true)
        res = ev.finalize()
        kind = "filtered" if filtered else "raw"
        for side in ("head", "tail"):
            mine = ours[kind][side]
            assert np.isclose(np.mean(1 / mine), res.get_metric(f"{side}.realistic.inverse_harmonic_mean_rank"))
            assert np.isclose(np.mean(mine <= 3), res.get_metric(f"{side}.realistic.hits_at_3"))
            assert np.isclose(np.mean(mine), res.get_metric(f"{side}.realistic.arithmetic_mean_rank"))


def test_metrics_report_raw_filtered_and_per_relation():
    tails = np.array([[3.0, 2.0, 1.0, 0.0]] * 2)
    heads = np.array([[0.0, 0.0, 5.0, 0.0]] * 2)
    triples = np.array([[2, 0, 1], [2, 1, 3]])
    known = known_index(triples, np.array([[2, 0, 0]]))  # (2, 0, 0) is true: filtered away for the first
    m = metrics(Fixed(tails, heads), triples, known, ["A", "B"], batch=2)
    assert m["raw"]["tail"]["mr"] == (2 + 4) / 2 and m["filtered"]["tail"]["mr"] == (1 + 4) / 2
    assert m["raw"]["head"]["mrr"] == 1.0 and set(m["perRelation"]) == {"A", "B"}
    assert m["perRelation"]["A"]["filtered"]["tail"]["mrr"] == 1.0


def test_the_basis_layer_is_the_r_gcn_formula():
    """h_i = W_0 x_i + sum_r sum_{j in N_i^r} W_r x_j / c_{i,r}, W_r = sum_b a_rb V_b, computed the slow way;
    relation chunks of one relation each exercise the chunked path too."""
    from graph.gnn.layers import BasisRGCNConv

    torch.manual_seed(1)
    n, r, d = 40, 5, 4
    ei, et = torch.randint(n, (2, 60)), torch.randint(r, (60,))
    x = torch.randn(n, d)
    conv = BasisRGCNConv(d, 3, r, 2)
    want = conv.root(x).detach().clone()
    w = torch.einsum("rb,bio->rio", conv.comp, conv.bases).detach()
    for i in range(n):
        for rel in range(r):
            js = ei[0][(ei[1] == i) & (et == rel)]
            if len(js):
                want[i] += (x[js] @ w[rel]).sum(0) / len(js)
    assert torch.allclose(conv(x, ei, et), want, atol=1e-5)
    assert conv._plan[0] == "bases"  # 40 nodes x 5 relations > 2 x 60 edges
    big = (torch.cat([ei] * 3, 1), torch.cat([et] * 3))  # each edge three times: same means, 180 edges
    assert torch.allclose(conv(x, *big), want, atol=1e-5) and conv._plan[0] == "slots"
    conv.CHUNK, conv._plan_key = n * d, None  # one relation per chunk
    assert torch.allclose(conv(x, *big), want, atol=1e-5) and len(conv._plan[1]) == r


@pytest.mark.parametrize("model,decomposition", [("rgcn", "basis"), ("rgcn", "block"), ("compgcn", "basis")])
def test_a_trimmed_subgraph_encodes_its_seeds_as_the_untrimmed_one_does(model, decomposition):
    """Layer by layer, a sampled subgraph only computes the hops the next layer needs; the seeds come out the same."""
    from graph.gnn.sampling import link_loader

    g = torch.Generator().manual_seed(0)
    n, r = 400, 3
    ei, et = torch.randint(0, n, (2, 3000), generator=g), torch.randint(0, 2 * r, (3000,), generator=g)
    triples = torch.stack([ei[0], et % r, ei[1]], 1)[:200]
    model = build_model(n, r, ModelConfig(model=model, dim=16, decomposition=decomposition, num_bases=4)).eval()
    b = next(iter(link_loader(ei, et, n, triples, fanout=[4, 4], batch_size=64)))
    seeds = b.num_sampled_nodes[0]
    with torch.no_grad():
        trimmed = model.encode(b.n_id, b.edge_index, b.edge_type, (b.num_sampled_nodes, b.num_sampled_edges))
        whole = model.encode(b.n_id, b.edge_index, b.edge_type)
    assert trimmed.shape == (seeds, 16) and b.n_id.numel() > seeds
    assert torch.allclose(trimmed, whole[:seeds], atol=1e-5)


@pytest.mark.parametrize("composition", ["mult", "sub", "corr"])
def test_the_compgcn_layer_is_the_compgcn_formula(composition):
    """One CompGCN layer against its formula written edge by edge."""
    from graph.gnn.layers import compose
    from graph.gnn.models import build_model

    torch.manual_seed(1)
    n, r, d = 7, 2, 4
    m = build_model(n, r, ModelConfig(model="compgcn", dim=d, layers=1, composition=composition)).eval()
    conv = m.convs[0]
    ei = torch.tensor([[0, 1, 2, 3, 1, 5], [1, 1, 1, 0, 4, 4]])
    et = torch.tensor([0, 1, 2, 3, 0, 0])  # 2, 3: inverses of 0, 1
    x, rel = torch.randn(n, d), torch.randn(2 * r, d)
    with torch.no_grad():
        got, rel_out = conv(x, ei, et, rel)
        for v in range(n):
            total = conv.w_loop(compose(x[v], conv.loop_rel[0], composition))
            for inverse in (False, True):
                into = [e for e in range(ei.size(1)) if int(ei[1, e]) == v and (int(et[e]) >= r) == inverse]
                w = conv.w_out if inverse else conv.w_in
                for e in into:
                    total = total + w(compose(x[ei[0, e]], rel[et[e]], composition)) / len(into)
            assert torch.allclose(got[v], conv.bn((total / 3 + conv.bias).unsqueeze(0))[0], atol=1e-5), v
        if composition == "corr":  # circular correlation: sum_i a_i b_(i + k mod d)
            a, b = x[0], rel[0]
            ref = torch.stack([sum(a[i] * b[(i + k) % d] for i in range(d)) for k in range(d)])
            assert torch.allclose(compose(a, b, "corr"), ref, atol=1e-5)
    assert torch.allclose(rel_out, conv.w_rel(rel))
