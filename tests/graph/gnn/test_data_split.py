"""graph/gnn/data.py and split.py: stable collision-free ids, inverse edges for message passing only, a split
that keeps data-inverse pairs together."""

import numpy as np
import pytest

from graph.gnn.data import KGData
from graph.gnn.split import inverse_pairs, split_edges
from kg.core.errors import InvalidInput


def rows(n=400, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a, b = (f"C{x:07d}" for x in rng.integers(0, 80, 2))
        out.append((("Concept", a), "PART_OF", ("Concept", b)))
        out.append((("Concept", b), "HAS_PART", ("Concept", a)))  # a data inverse
        out.append((("Concept", a), "ASSOCIATED_WITH", ("Concept", f"C{int(rng.integers(0, 80)):07d}")))
    return out


def test_ids_are_sorted_unique_and_independent_of_input_order():
    r = rows()
    a, b = KGData.from_triples(r), KGData.from_triples(list(reversed(r)))
    assert a.entities == sorted(set(a.entities)) and len(a.index) == a.num_entities  # no two keys share an id
    assert np.array_equal(a.triples, b.triples) and a.checksum() == b.checksum()
    assert len(a.triples) == len(set(map(tuple, a.triples.tolist())))  # duplicates dropped
    with pytest.raises(InvalidInput, match="no edges"):
        KGData.from_triples([])


def test_inverse_edges_run_backwards_as_their_own_relations():
    kg = KGData.from_triples(rows(50))
    ei, et = kg.edge_index(kg.triples[:5])
    assert ei.shape == (2, 10) and et[5:].tolist() == (kg.triples[:5, 1] + kg.num_relations).tolist()
    assert ei[0, 5:].tolist() == kg.triples[:5, 2].tolist() and ei[1, 5:].tolist() == kg.triples[:5, 0].tolist()
    data = kg.to_pyg(kg.triples[:5])
    assert data.num_nodes == kg.num_entities and data.edge_index.shape[1] == 10


def test_the_split_keeps_each_triple_and_its_data_inverse_together():
    kg = KGData.from_triples(rows())
    part_of, has_part = kg.relation_index["PART_OF"], kg.relation_index["HAS_PART"]
    assert (min(part_of, has_part), max(part_of, has_part)) in inverse_pairs(kg.triples)
    s = split_edges(kg.triples, seed=3)
    train = set(map(tuple, s.train.tolist()))
    held = [*s.valid.tolist(), *s.test.tolist()]
    assert held and len(train) + len(held) == len(kg.triples)
    inverse = {part_of: has_part, has_part: part_of}
    for h, r, t in held:
        if r in inverse:
            assert (t, inverse[r], h) not in train, "a held-out edge's mirror is in training"
    seen = {x for h, _, t in train for x in (h, t)}
    assert all(h in seen and t in seen for h, _, t in held)  # every held-out entity was trained
    again = split_edges(kg.triples, seed=3)
    assert np.array_equal(again.test, s.test) and not np.array_equal(split_edges(kg.triples, seed=4).test, s.test)


@pytest.mark.parametrize("ratios", [(0.5, 0.5), (0.9, 0.2, -0.1), (0.0, 0.5, 0.5)])
def test_bad_split_ratios_are_refused(ratios):
    kg = KGData.from_triples(rows(20))
    with pytest.raises(InvalidInput, match="split ratios"):
        split_edges(kg.triples, ratios=ratios)
