"""graph/retrieve/context.py: the cited, negation-aware context for an image, an embedding or a text."""

import shutil

import numpy as np
import pytest

from graph.retrieve import Retriever, choose_neighbours
from graph.store import FileStore
from kg.core.errors import InvalidInput


@pytest.fixture(scope="module")
def store(sample_build):
    return FileStore(sample_build)


def patient_of(store, image):
    return store.node("Study", store.node("Image", image)["studyId"])["patientId"]


def test_an_image_of_the_graph_never_sees_its_own_patient(store):
    img = store.index.ids[5]
    c = Retriever(store).context(image_id=img, k=5)
    assert len(c.neighbours) == 5 and img not in {n.id for n in c.neighbours}
    assert patient_of(store, img) not in {patient_of(store, n.id) for n in c.neighbours}
    assert c.excluded["samePatient"] >= 1  # the sample has several studies per patient
    open_ = Retriever(store).context(image_id=img, k=5, exclude="none")
    assert patient_of(store, img) in {patient_of(store, n.id) for n in open_.neighbours}
    assert c.query == {"kind": "image_id", "imageId": img} and c.k.method == "fixed" and c.k.k == 5


def test_findings_keep_polarity_apart_and_weigh_by_similarity(store):
    c = Retriever(store).context(image_id=store.index.ids[5], k=10)
    by = {(f.concept.cui, f.polarity): f for f in c.findings}
    both = [cui for cui, pol in by if pol == "positive" and (cui, "negative") in by]
    assert both, "a concept present in some neighbours and absent in others gives two findings"
    f = by[(both[0], "negative")]
    stating = [n for n in c.neighbours if any(r["cui"] == both[0] and r["type"] == "NEGATIVE" for r in store.findings_of(n.id))]
    assert f.cases == len(stating) and f.of == 10
    assert f.support == pytest.approx(sum(n.score for n in stating), abs=1e-5)
    assert f.agreement == pytest.approx(f.support / sum(n.score for n in c.neighbours), abs=1e-3)
    assert f.similarities == tuple(round(n.score, 4) for n in stating)  # the neighbours stating it, best first
    assert [x.support for x in c.findings] == sorted((x.support for x in c.findings), reverse=True)


def test_naf_dropped_neighbours_bring_their_findings(store):
    dropped = [r["id"] for r in store.nodes("Image") if r["kept"] is False and store.findings_of(r["id"])]
    assert dropped
    img = dropped[0]
    in_graph = [e for e in store.edges_of("Image", img) if e.type in ("POSITIVE", "NEGATIVE", "UNCERTAIN")]
    assert in_graph == []  # NaF left it without cross-modal edges in the graph
    c = Retriever(store).context(embedding=store.index.vector(img), k=1, exclude="none")
    assert c.neighbours[0].id == img and c.neighbours[0].kept is False
    assert {f.concept.cui for f in c.findings} == {r["cui"] for r in store.findings_of(img)}


def test_citations_point_at_the_report_text(store):
    from kg.sample import sample_corpus

    c = Retriever(store).context(image_id=store.index.ids[3], k=4, with_text=True)
    checked = 0
    for f in c.findings:
        for cit in f.citations:
            report = next(sample_corpus().rglob(f"{cit.report_id}.txt")).read_text()
            assert report[cit.start : cit.end] == cit.text and cit.extractor.startswith("rules/")
            assert cit.image_id in {n.id for n in c.neighbours}
            checked += 1
    assert checked > 5
    assert all(cit.text is None for f in Retriever(store).context(image_id=store.index.ids[3], k=4).findings
               for cit in f.citations)  # text only when asked for


def test_no_report_text_when_the_build_kept_none(tmp_path):
    from kg.build_options import BuildSettings
    from kg.pipeline import build
    from kg.sample import sample_corpus

    build(BuildSettings(source=sample_corpus(), out=tmp_path / "g", format="mimic", quiet=True, keep_text=False))
    s = FileStore(tmp_path / "g")
    c = Retriever(s).context(image_id=s.index.ids[0], k=3, with_text=True)
    assert c.findings and all(cit.text is None for f in c.findings for cit in f.citations)


def test_choosing_k():
    hits = [("a", 0.9), ("b", 0.8), ("c", 0.5), ("d", 0.3)]
    assert [h[0] for h in choose_neighbours(hits, 3)[0]] == ["a", "b", "c"]
    kept, kc = choose_neighbours(hits, 4, gamma=1.5)  # 0.9/0.5 = 1.8 >= 1.5: c and d go
    assert [h[0] for h in kept] == ["a", "b"] and (kc.method, kc.k, kc.gamma) == ("ratio", 2, 1.5)
    kept, kc = choose_neighbours(hits, 4, min_similarity=0.95)
    assert kept == [] and kc.method == "abstain" and kc.k == 0


def test_embedding_queries_are_checked(store):
    v = store.index.vector(store.index.ids[0])
    c = Retriever(store).context(embedding=v * 3.0, k=2, exclude="none")
    assert c.neighbours[0].id == store.index.ids[0] and c.neighbours[0].score == pytest.approx(1.0, abs=1e-5)
    for bad, word in (([0.1] * 7, "dimensions"), ([float("nan")] * len(v), "NaN"), ([0.0] * len(v), "zeros")):
        with pytest.raises(InvalidInput, match=word):
            Retriever(store).context(embedding=bad)
    with pytest.raises(InvalidInput, match="exactly one"):
        Retriever(store).context(image_id=store.index.ids[0], text="effusion")
    with pytest.raises(InvalidInput, match="k: Input should be less than or equal to 200"):
        Retriever(store).context(embedding=v, k=10**9)


def test_an_image_file_or_its_bytes(store, tmp_path):
    from kg.sample import write_sample

    write_sample(tmp_path / "s")
    lateral = next((tmp_path / "s").rglob("749af0f7-*.jpg"))  # a view the build left out
    by_path = Retriever(store).context(image=str(lateral), k=3, ood_percentile=0)
    by_bytes = Retriever(store).context(image=lateral.read_bytes(), k=3, ood_percentile=0)
    assert [n.id for n in by_path.neighbours] == [n.id for n in by_bytes.neighbours] and by_path.findings
    with pytest.raises(InvalidInput, match="not a readable image"):
        Retriever(store).context(image=b"this is not an image")


def test_a_file_or_vector_of_an_image_of_the_graph_is_that_image(store):
    """Sending the pixels (or the encoder's vector) of an image the graph holds must not leak its own report: it
    counts as that image, so its study and patient are left out as for a query by id."""
    img = store.index.ids[5]
    path = store.node("Image", img)["path"]
    by_id = Retriever(store).context(image_id=img, k=5)
    for query in ({"image": open(path, "rb").read()}, {"image": path}, {"embedding": store.index.vector(img)}):
        c = Retriever(store).context(k=5, **query)
        assert c.query["imageId"] == img and c.query["matchedBy"] == "vector"
        assert [n.id for n in c.neighbours] == [n.id for n in by_id.neighbours] and c.excluded == by_id.excluded
        assert patient_of(store, img) not in {patient_of(store, n.id) for n in c.neighbours}
    open_ = Retriever(store).context(image=path, k=5, exclude="none")  # no guard asked for: kept
    assert open_.neighbours[0].id == img and open_.query == {"kind": "image", "imageId": None}


def test_a_text_query_gives_its_own_findings_and_their_triplets(store):
    c = Retriever(store).context(text="Small left pleural effusion. No pneumothorax.")
    assert {(f.concept.cui, f.polarity) for f in c.findings} == {("C0032227", "positive"), ("C0032326", "negative")}
    assert {f.source for f in c.findings} == {"query"} and c.abstained is None
    assert c.neighbours == () and c.query == {"kind": "text"}
    assert all(t.head.cui == "C0032227" or t.tail.cui == "C0032227" for t in c.triplets if t.hop == 1)


def test_triplets_rank_by_gnn_embedding_when_present(sample_build, tmp_path):
    out = tmp_path / "g"
    shutil.copytree(sample_build, out)
    s = FileStore(out)
    c = Retriever(s).context(image_id=s.index.ids[5], k=5, hops=2)
    assert c.triplets and all(t.hop in (1, 2) for t in c.triplets)
    hop1 = [t.score for t in c.triplets if t.hop == 1]
    assert hop1 == sorted(hop1, reverse=True)  # by report support
    rng = np.random.default_rng(3)
    s.write_node_property("Concept", "gnnEmbedding", {r["cui"]: rng.standard_normal(8) for r in s.nodes("Concept")})
    g = Retriever(s).context(image_id=s.index.ids[5], k=5, hops=2)
    hop1 = [t.score for t in g.triplets if t.hop == 1]
    assert hop1 == sorted(hop1, reverse=True) and all(-1.0 <= x <= 1.0 for x in hop1)
    assert [t.score for t in g.triplets] != [t.score for t in c.triplets]
