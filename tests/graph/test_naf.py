import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.naf import naf


def test_hand_computed_medmkg_example():
    # images a, b, c, d; relations 0 = POSITIVE, 1 = NEGATIVE; concepts 0..2
    ids = ["a", "b", "c", "d"]
    edges = [("a", 0, 0), ("a", 0, 1), ("b", 0, 0), ("c", 1, 2), ("d", 0, 0), ("d", 0, 1)]
    ei = np.array([ids.index(e[0]) for e in edges])
    er = np.array([e[1] for e in edges])
    ec = np.array([e[2] for e in edges])
    res = naf(ids, ei, er, ec, "medmkg")
    # N(0,0) = {a,b,d}: log(4/3); N(0,1) = {a,d}: log(4/2); N(1,2) = {c}: log(4/1)
    assert math.isclose(res.score[0], math.log(4 / 3) + math.log(2))
    assert math.isclose(res.score[2], math.log(4))
    # order: c (1.386), a (1.099, id before d), d (1.099), b (0.288); c+a cover {0,1,2}
    assert res.kept.tolist() == [True, False, True, False]
    g = naf(ids, ei, er, ec, "greedy")
    assert g.kept.tolist() == [True, False, True, False]
    assert naf(ids, ei, er, ec, "none").kept.all()


graphs = st.integers(1, 30).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 2), st.integers(0, 12)), max_size=80),
    )
)


@settings(max_examples=200, deadline=None)
@given(graphs, st.sampled_from(["medmkg", "greedy"]))
def test_naf_keeps_coverage_subset_and_is_deterministic(g, method):
    n, edges = g
    ids = [f"img{k:03d}" for k in range(n)]
    ei = np.array([e[0] for e in edges], dtype=np.int64)
    er = np.array([e[1] for e in edges], dtype=np.int64)
    ec = np.array([e[2] for e in edges], dtype=np.int64)
    res = naf(ids, ei, er, ec, method)
    assert res.kept.shape == (n,)
    before = set(ec.tolist())
    after = {c for i, c in zip(ei.tolist(), ec.tolist()) if res.kept[i]}
    assert after == before
    again = naf(ids, ei, er, ec, method)
    assert np.array_equal(res.kept, again.kept)
    if method == "greedy" and len(edges):
        # minimality: every kept image covers at least one concept no earlier pick covered
        assert res.kept.sum() <= len(before)


def test_apply_naf_returns_a_new_graph_and_leaves_its_input():
    import copy

    from graph.model import Graph, NodeTable
    from graph.naf import apply_naf

    g = Graph()
    g.nodes["Image"] = NodeTable("Image", [{"id": i} for i in ("a", "b", "c")])
    g.nodes["Concept"] = NodeTable("Concept", [{"cui": c} for c in ("C1", "C2")])
    g.add_edges("POSITIVE", "Image", "Concept", [{"_start": "a", "_end": "C1"}, {"_start": "b", "_end": "C1"},
                                                  {"_start": "b", "_end": "C2"}, {"_start": "c", "_end": "C1"}])
    before = copy.deepcopy(g)
    out, report = apply_naf(g, "medmkg")
    assert g == before  # untouched
    assert [r["kept"] for r in out.nodes["Image"].rows] == [False, True, False]
    assert [(r["_start"], r["_end"]) for r in out.edges["Image_POSITIVE_Concept"].rows] == [("b", "C1"), ("b", "C2")]
    assert report.before.images == 3
    assert report.after.model_dump(by_alias=True) == {"images": 1, "edges": {"POSITIVE": 2}, "conceptsCovered": 2}
