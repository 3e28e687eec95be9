"""graph/retrieve/ood.py: an image unlike the graph's own images gets an abstention, never findings."""

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from graph.retrieve import Retriever
from graph.retrieve.ood import floor_for, measure, ordinal
from graph.store import FileStore
from kg.core.errors import InvalidInput


@pytest.fixture(scope="module")
def store(sample_build):
    return FileStore(sample_build)


def noise_png() -> bytes:
    arr = (np.random.default_rng(0).random((512, 512)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def photo_path() -> str:
    """A real photograph that is not a chest radiograph (a portrait matplotlib ships as sample data)."""
    import matplotlib.cbook

    return str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="module")
def lateral(tmp_path_factory):
    from kg.sample import write_sample

    d = tmp_path_factory.mktemp("s")
    write_sample(d)
    return next(d.rglob("749af0f7-*.jpg"))  # the lateral view of s50000011, which the build leaves out


def test_the_build_records_its_own_best_matches(store):
    sim = store.manifest.similarity
    assert sim is not None and sim.encoder == store.manifest.encoder.id and sim.images == len(store.index)
    for q in (sim.patient, sim.study):
        assert len(q) == 101 and q == sorted(q) and -1.0 <= q[0] <= q[-1] <= 1.0 + 1e-6
    assert sim.study[1] >= sim.patient[1]  # another study of the same patient is at least as close as another patient


def test_measure_leaves_out_the_image_s_own_patient_and_study():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((3, 16))
    # images a1, a2 (patient A, one study each) are near copies; b1 and c1 are unlike them and each other
    vecs = np.stack([base[0], base[0] + 0.01, base[1], base[2]]).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = ["a1", "a2", "b1", "c1"]
    study = {"a1": "sa1", "a2": "sa2", "b1": "sb", "c1": "sc"}
    patient = {"sa1": "A", "sa2": "A", "sb": "B", "sc": "C"}
    r = measure(ids, vecs, study, patient, encoder="test")
    cross = vecs @ vecs.T
    best_other_patient = max(cross[0, 2], cross[0, 3])
    assert r["study"][100] == pytest.approx(cross[0, 1], abs=1e-5)  # a1's best match outside its study is a2
    assert r["patient"][100] < 0.99 and best_other_patient <= r["patient"][100] + 1e-6  # never its own patient's
    sampled = measure(ids, vecs, study, patient, encoder="test", sample=2)
    assert sampled["sample"] == 2 and sampled == measure(ids, vecs, study, patient, encoder="test", sample=2)


@pytest.mark.parametrize("query", ["noise", "photo", "lateral"])
def test_an_image_unlike_the_graph_abstains_with_its_reason(store, lateral, query):
    image = {"noise": noise_png(), "photo": photo_path(), "lateral": str(lateral)}[query]
    c = Retriever(store).context(image=image, k=5)
    assert c.findings == () and c.triplets == () and c.neighbours == ()
    floor = store.manifest.similarity.patient[1]
    assert c.abstained.startswith(f"no similar image in the graph (best cosine {c.match.best:.2f}, the graph's 1st "
                                  f"percentile is {floor:.2f})")
    assert c.match.best < c.match.floor == pytest.approx(floor, abs=1e-6) and c.k.method == "abstain"
    # asked to, it answers from the least unlike images, and says how unlike they are
    loose = Retriever(store).context(image=image, k=5, ood_percentile=0)
    assert loose.abstained is None and loose.findings and loose.match.floor is None
    assert loose.match.graph_percentile == 0.0


def test_an_image_like_the_graph_s_own_gets_findings(store):
    img = store.index.ids[5]
    c = Retriever(store).context(image_id=img, k=5)
    assert c.abstained is None and c.findings and c.match.best >= c.match.floor
    assert c.match.best == c.neighbours[0].score and 0 <= c.match.graph_percentile <= 100


def test_percentile_and_min_similarity_set_the_floor(store):
    img = store.index.ids[5]
    c = Retriever(store).context(image_id=img, k=5)
    high = Retriever(store).context(image_id=img, k=5, min_similarity=min(c.match.best + 0.001, 1.0))
    assert high.abstained.endswith(f"below min_similarity {min(c.match.best + 0.001, 1.0):.2f})")
    assert high.match.percentile is None and high.findings == ()
    at50 = Retriever(store).context(image_id=img, k=5, ood_percentile=50)
    assert at50.match.floor == pytest.approx(np.interp(50, range(101), store.manifest.similarity.patient))
    study_ref = Retriever(store).context(image_id=img, k=5, exclude="study")
    assert study_ref.match.reference == "study" and c.match.reference == "patient"
    with pytest.raises(InvalidInput, match="ood_percentile"):
        Retriever(store).context(image_id=img, ood_percentile=80)


def test_a_build_from_before_the_guard_gets_the_same_floor(sample_build, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(sample_build, out)
    m = json.loads((out / "manifest.json").read_text())
    del m["similarity"]
    (out / "manifest.json").write_text(json.dumps(m))
    old = FileStore(out)
    assert old.manifest.similarity is None
    c = Retriever(old).context(image=noise_png(), k=5)
    assert c.abstained and c.match.floor == pytest.approx(FileStore(sample_build).manifest.similarity.patient[1])


def test_a_text_with_no_concept_of_the_graph_abstains(store):
    c = Retriever(store).context(text="Is there free air under the diaphragm, a pneumoperitoneum?")
    assert c.findings == () and c.triplets == () and "Pneumoperitoneum not in this graph" in c.abstained
    nothing = Retriever(store).context(text="What do you see?")
    assert nothing.abstained == "no concept of the graph in the text (no finding, device or anatomy recognised)"


def test_floor_and_words():
    q = list(np.linspace(0.5, 1.0, 101))
    f = floor_for({"patient": q}, "patient", 1.0, None)
    assert f.value == pytest.approx(0.505) and f.rank(0.75) == pytest.approx(50.0)
    assert floor_for({"patient": q}, "patient", 0.0, None).value is None
    assert floor_for({"patient": q}, "patient", 1.0, 0.9).value == 0.9
    assert floor_for(None, "patient", 1.0, None).value is None  # no reference: no floor from it
    assert [ordinal(p) for p in (1, 2, 3, 4, 11, 12, 21, 2.5)] == ["1st", "2nd", "3rd", "4th", "11th", "12th", "21st",
                                                                    "2.5th"]
