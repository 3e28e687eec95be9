"""graph/store/files.py: the read side answers from one read; a node property written through the store API
lands atomically with the manifest updated, and later builds keep working."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from graph.store import FileStore, read_manifest
from graph.stores import open_store
from kg.core.errors import InvalidInput, NotFound


@pytest.fixture()
def build(sample_build, tmp_path):
    out = tmp_path / "g"
    shutil.copytree(sample_build, out)
    return out


def test_a_gnn_style_write_updates_the_table_and_the_manifest(build):
    store = FileStore(build)
    cuis = [r["cui"] for r in store.nodes("Concept")]
    rng = np.random.default_rng(0)
    values = {c: rng.standard_normal(16).astype(np.float32) for c in cuis[:-1]}  # one concept left without
    before = json.loads((build / "manifest.json").read_text())
    p = store.write_node_property("Concept", "gnnEmbedding", values, writer="gnn/test")
    assert (p.kind, p.dim, p.count, p.writer) == ("vector", 16, len(cuis) - 1, "gnn/test")
    t = pq.read_table(build / "nodes" / "Concept.parquet")
    col = dict(zip(t.column("cui").to_pylist(), t.column("gnnEmbedding").to_pylist()))
    assert np.allclose(col[cuis[0]], values[cuis[0]]) and col[cuis[-1]] is None
    m = read_manifest(build)
    assert [(q.label, q.name, q.dim) for q in m.properties] == [("Concept", "gnnEmbedding", 16)]
    after = json.loads((build / "manifest.json").read_text())
    drop = lambda d: {k: v for k, v in d.items() if k != "properties"}  # noqa: E731
    assert drop(after) == drop(before)  # nothing else changed
    assert store.node("Concept", cuis[0])["gnnEmbedding"] is not None  # the read side sees the new column
    # written again: replaced, not duplicated
    store.write_node_property("Concept", "gnnEmbedding", {cuis[0]: [1.0] * 8})
    assert [q.dim for q in read_manifest(build).properties] == [8]
    assert pq.read_table(build / "nodes" / "Concept.parquet").column_names.count("gnnEmbedding") == 1


def test_bad_writes_are_refused_and_change_nothing(build):
    store = open_store(build)
    before = (build / "nodes" / "Concept.parquet").read_bytes()
    cui = store.nodes("Concept")[0]["cui"]
    with pytest.raises(NotFound, match="not in the graph"):
        store.write_node_property("Concept", "gnnEmbedding", {"C9999999": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match="2 lengths"):
        store.write_node_property("Concept", "gnnEmbedding", {cui: [1.0, 2.0], store.nodes("Concept")[1]["cui"]: [1.0]})
    with pytest.raises(InvalidInput, match="cannot be a property"):
        store.write_node_property("Concept", "cui", {cui: "x"})
    with pytest.raises(NotFound, match="no Widget nodes"):
        store.write_node_property("Widget", "score", {cui: 1.0})
    assert (build / "nodes" / "Concept.parquet").read_bytes() == before
    assert read_manifest(build).properties == []


def test_the_read_side_reads_once(build):
    store = FileStore(build)
    img = store.index.ids[0]
    hits = store.nearest_images(store.index.vector(img), 3)
    assert hits[0][0] == img and len(hits) == 3
    g1 = store.graph
    assert store.graph is g1  # cached
    assert store.node("Image", img)["studyId"].startswith("s")
    assert store.networkx().number_of_nodes() == sum(store.manifest.graph.nodes.values())


def test_a_rebuild_after_a_property_write_is_clean(build):
    from kg.build_options import BuildSettings
    from kg.pipeline import build as run_build
    from kg.sample import sample_corpus

    store = FileStore(build)
    store.write_node_property("Concept", "gnnEmbedding", {store.nodes("Concept")[0]["cui"]: [0.5, 0.5]})
    run_build(BuildSettings(source=sample_corpus(), out=build, format="mimic", quiet=True))
    m = read_manifest(build)
    assert m.properties == [] and "gnnEmbedding" not in pq.read_table(build / "nodes" / "Concept.parquet").column_names
