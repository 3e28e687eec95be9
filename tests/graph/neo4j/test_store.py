"""graph/store/neo4j.py on a real server: a property written through the store API survives `kg load`, and the
Neo4j store writes it into the database with its vector index."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.neo4j


def kg(*args):
    return subprocess.run([sys.executable, "-m", "kg", *map(str, args)], capture_output=True, text=True,
                          env=os.environ.copy())


def test_a_property_written_to_the_files_survives_kg_load(neo4j_env, sample_build, tmp_path):
    from graph.neo4j import Neo4jClient
    from graph.store import FileStore

    settings, _ = neo4j_env
    out = tmp_path / "g"
    shutil.copytree(sample_build, out)
    assert kg("load", out, "--quiet").returncode == 0  # loaded before the write: the next load must not skip it
    store = FileStore(out)
    cuis = [r["cui"] for r in store.nodes("Concept")]
    rng = np.random.default_rng(7)
    vec = {c: rng.standard_normal(24).astype(np.float32) for c in cuis}
    store.write_node_property("Concept", "gnnEmbedding", vec, writer="gnn/test")
    p = kg("load", out, "--quiet")
    assert p.returncode == 0, p.stderr
    with Neo4jClient(settings) as g:
        n = g.run("MATCH (c:Concept) WHERE c.gnnEmbedding IS NOT NULL RETURN count(c) AS n")[0]["n"]
        assert n == len(cuis)
        hit = g.run("CALL db.index.vector.queryNodes('medkg_concept_gnnembedding', 1, $v) YIELD node "
                    "RETURN node.cui AS cui", v=vec[cuis[3]].tolist())
        assert hit == [{"cui": cuis[3]}]


def test_the_neo4j_store_writes_into_the_database_and_the_folder(neo4j_env, sample_build, tmp_path):
    from graph.neo4j.store import Neo4jStore
    from graph.store import read_manifest

    settings, _ = neo4j_env
    out = tmp_path / "g"
    shutil.copytree(sample_build, out)
    assert kg("load", out, "--quiet").returncode == 0
    with Neo4jStore.connect(out, settings=settings) as store:
        image = store.files.index.ids[0]
        assert store.nearest_images(store.files.index.vector(image), 1)[0][0] == image
        assert store.node("Image", image)["studyId"] == store.files.node("Image", image)["studyId"]
        assert len(store.nodes("Study")) == 42
        store.write_node_property("Image", "qualityScore", {image: 0.75})
        assert store.node("Image", image)["qualityScore"] == 0.75
    assert [p.name for p in read_manifest(out).properties] == ["qualityScore"]


def test_retrieval_over_neo4j_matches_the_file_store(neo4j_env, sample_build):
    from graph.neo4j.store import Neo4jStore
    from graph.retrieve import Retriever
    from graph.store import FileStore

    settings, _ = neo4j_env
    assert kg("load", sample_build, "--quiet").returncode == 0
    files = FileStore(sample_build)
    img = files.index.ids[5]
    local = Retriever(files).context(image_id=img, k=5, hops=2)
    with Neo4jStore.connect(sample_build, settings=settings) as store:
        remote = Retriever(store).context(image_id=img, k=5, hops=2)
        # the image's own vector (a file of the graph, encoded again) is that image there too: its study is left out
        same = Retriever(store).context(embedding=files.index.vector(img), k=5, hops=2)
    assert [n.id for n in remote.neighbours] == [n.id for n in local.neighbours]
    assert same.query["imageId"] == img and [n.id for n in same.neighbours] == [n.id for n in local.neighbours]
    def shape(c):  # by concept and polarity: near-equal supports may order differently in float32
        return sorted((f.concept.cui, f.polarity, f.cases, f.of, f.citations, f.support) for f in c.findings)

    mine, theirs = shape(local), shape(remote)
    assert [x[:5] for x in theirs] == [x[:5] for x in mine] and remote.excluded == local.excluded
    assert [x[5] for x in theirs] == pytest.approx([x[5] for x in mine], abs=2e-3)
    assert {(t.head.cui, t.relation, t.tail.cui) for t in remote.triplets} == \
        {(t.head.cui, t.relation, t.tail.cui) for t in local.triplets}
