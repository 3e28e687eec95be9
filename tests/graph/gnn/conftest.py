"""A generated knowledge graph with planted structure: 12 communities of concepts; relation k links community c to
community (c + k + 1) mod 12, and each image is POSITIVE for concepts of one community. A model that learns the
structure ranks a held-out tail inside the right community of 20: far above chance among 300 entities."""

import csv
import random

import pytest

pytest.importorskip("torch_geometric")

COMMUNITIES, SIZE, RELS = 12, 20, 3


def planted_rows(seed: int = 0, edges_per_rel: int = 900, images: int = 60):
    rng = random.Random(seed)
    cui = [f"C{n:07d}" for n in range(COMMUNITIES * SIZE)]
    member = {c: n // SIZE for n, c in enumerate(cui)}
    by_comm = [cui[k * SIZE:(k + 1) * SIZE] for k in range(COMMUNITIES)]
    rows = set()
    for k in range(RELS):
        while sum(1 for r in rows if r[1] == f"rel_{k}") < edges_per_rel:
            h = rng.choice(cui)
            t = rng.choice(by_comm[(member[h] + k + 1) % COMMUNITIES])
            rows.add((h, f"rel_{k}", t))
    for i in range(images):
        comm = by_comm[i % COMMUNITIES]
        for c in rng.sample(comm, 6):
            rows.add((f"I{50000000 + i}", "POSITIVE", c))
    return sorted(rows), member


def write_medmkg_csv(path, rows):
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Head", "Relation", "Tail", "Head_Name", "Tail_Name"])
        for h, r, t in rows:
            w.writerow([h, r, t, f"Image_{h}" if h.startswith("I") else f"concept {h}", f"concept {t}"])


@pytest.fixture(scope="session")
def planted_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("planted") / "planted.csv"
    write_medmkg_csv(path, planted_rows()[0])
    return path
