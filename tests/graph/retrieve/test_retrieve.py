"""graph/retrieve: typed, cited results over the file store (the Neo4j store is exercised in test_neo4j)."""

import pytest

from graph.retrieve import (
    ConceptRef,
    ImageHit,
    find_concept,
    nearest_images,
    neighbourhood,
    similar_images,
)
from graph.store import FileStore
from kg.core.errors import NotFound


@pytest.fixture(scope="module")
def store(sample_build):
    return FileStore(sample_build)


def test_similar_to_an_image_of_the_graph_leaves_the_image_out(store):
    img = store.index.ids[0]
    hits = similar_images(store, img, k=3)
    assert len(hits) == 3 and all(isinstance(h, ImageHit) for h in hits) and img not in {h.id for h in hits}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    h = hits[0]
    assert h.study_id == store.node("Image", h.id)["studyId"] and isinstance(h.kept, bool)
    assert h.as_json().keys() == {"id", "score", "studyId", "kept", "positive"}


def test_a_new_image_file_is_encoded_with_the_builds_encoder(store, tmp_path):
    from kg.sample import write_sample

    write_sample(tmp_path / "s")
    lateral = next((tmp_path / "s").rglob("749af0f7-*.jpg"))
    assert lateral.stem not in store.index  # left out of the build by --views
    hits = similar_images(store, str(lateral), k=2)
    assert len(hits) == 2
    with pytest.raises(NotFound, match="neither an image id"):
        similar_images(store, "no-such-image", k=2)


def test_positive_findings_are_cited_per_image(store):
    img = next(r["_start"] for t in store.graph.edges.values() if t.type == "POSITIVE" and t.source_label == "Image"
               for r in t.rows)
    (hit,) = [h for h in nearest_images(store, store.index.vector(img), 1)]
    assert hit.id == img and hit.positive  # the image's own positive concepts, by name


def test_concepts_by_cui_or_name_and_their_neighbourhood(store):
    c = find_concept(store, "c0032227")
    assert c == find_concept(store, "pleural effusion") and isinstance(c, ConceptRef) and c.name == "Pleural effusion"
    n = neighbourhood(store, c)
    types = {(e.direction, e.type) for e in n.edges}
    assert ("out", "SUGGESTIVE_OF") in types and ("in", "POSITIVE") in types
    chf = next(e for e in n.edges if e.type == "SUGGESTIVE_OF")
    assert chf.other == "C0018802" and chf.properties["support"] >= 1 and chf.properties["reportIds"]
    counts = {e.type: int(e.other.split()[0]) for e in n.edges if e.other.endswith("Image nodes")}
    assert counts["NEGATIVE"] > counts["POSITIVE"] > 0
    with pytest.raises(NotFound, match="matches"):
        find_concept(store, "nasogastric")
    with pytest.raises(NotFound, match="no concept named"):
        find_concept(store, "no such thing")
