"""A GNN trained on a medkg build (the bundled sample): embeddings in the store, then in Neo4j with vector indexes."""

import shutil

import pytest

from graph.gnn.models import ModelConfig
from graph.gnn.runs import predict, train_store
from graph.gnn.train import TrainConfig
from graph.store import FileStore


@pytest.fixture(scope="module")
def trained(sample_build, tmp_path_factory):
    out = tmp_path_factory.mktemp("gnn") / "g"
    shutil.copytree(sample_build, out)
    rec = train_store(out, model_cfg=ModelConfig(model="rgcn", dim=16),
                      train_cfg=TrainConfig(epochs=10, eval_every=5, device="cpu"))
    return out, rec


def test_training_on_a_build_writes_embeddings_the_retrieval_uses(trained):
    out, rec = trained
    store = FileStore(out)
    assert rec["graph"]["byLabel"]["Image"] > 0 and rec["embeddings"]["dim"] == 16
    concept = store.node("Concept", "C0032227")  # pleural effusion, in the sample's reports
    assert concept is not None and len(concept["gnnEmbedding"]) == 16
    writers = {(p.label, p.writer) for p in store.manifest.properties if p.name == "gnnEmbedding"}
    assert writers == {("Concept", "gnn/rgcn"), ("Image", "gnn/rgcn")}
    from graph.retrieve import Retriever

    img = store.index.ids[0]
    ctx = Retriever(store).context(image_id=img, k=5)
    assert all(-1.0 <= t.score <= 1.0 for t in ctx.triplets)  # cosine to the findings, not report support
    top = predict(out, "C0032227", "LOCATED_AT", k=5)
    assert len(top["tails"]) == 5 and top["model"] == "rgcn"


@pytest.mark.neo4j
def test_gnn_embeddings_reach_neo4j_with_vector_indexes(trained, neo4j_env):
    from graph.neo4j import Neo4jClient, load_graph

    out, _ = trained
    settings, _ = neo4j_env
    with Neo4jClient(settings) as g:
        load_graph(out, g, workers=2)
        idx = {r["name"]: r["state"] for r in g.run("SHOW VECTOR INDEXES YIELD name, state RETURN name, state")}
        assert idx.get("medkg_concept_gnnembedding") == "ONLINE" and idx.get("medkg_image_gnnembedding") == "ONLINE"
        n = g.run("MATCH (c:Concept) WHERE c.gnnEmbedding IS NOT NULL RETURN count(c) AS n")[0]["n"]
        assert n == next(p.count for p in FileStore(out).manifest.properties
                         if (p.label, p.name) == ("Concept", "gnnEmbedding"))
