"""kg/rag: KGRAG in process; the over-HTTP twin is tested with the service (tests/kg/serve)."""

import numpy as np
import pytest
from PIL import Image

from graph.retrieve import Context
from kg.rag import KGRAG


@pytest.fixture(scope="module")
def rag(sample_build):
    return KGRAG.from_store(sample_build, k=4)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from kg.sample import write_sample

    d = tmp_path_factory.mktemp("s")
    write_sample(d)
    return d


@pytest.fixture(scope="module")
def frontal(sample):
    return next(sample.rglob("e2253821-*.jpg"))  # the PA view of s50000011, which the build kept


@pytest.fixture(scope="module")
def lateral(sample):
    return next(sample.rglob("749af0f7-*.jpg"))  # its lateral view, which the build left out


def test_augment_gives_prompt_messages_and_citations(rag, frontal):
    out = rag.augment(Image.open(frontal), "Is there a pleural effusion?")
    assert isinstance(out.context, Context) and len(out.context.neighbours) == 4 and out.abstained is None
    assert out.prompt.endswith("Is there a pleural effusion?") and "similar cases" in out.prompt
    assert out.messages == [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": out.prompt}]}]
    assert out.citations and all(c.report_id for c in out.citations)
    assert out.metadata["k"]["k"] == 4


def test_every_image_form_gives_the_same_context(rag, frontal):
    im = Image.open(frontal)
    by = [rag.context(x).neighbours for x in (im, np.asarray(im), frontal.read_bytes(), str(frontal))]
    assert by[0] and all([n.id for n in b] == [n.id for n in by[0]] for b in by)


def test_a_view_the_build_left_out_gets_an_abstention_not_a_prior(rag, lateral):
    """The README's case: a lateral view whose own report says no effusion must not be told 'effusion present'."""
    out = rag.augment(lateral, "Is there a pleural effusion?")
    assert out.abstained.startswith("no similar image in the graph (best cosine 0.49")
    assert out.context.findings == () and out.citations == [] and "Pleural effusion" not in out.prompt
    assert out.prompt.startswith("The knowledge graph has no context for this query")
    assert out.metadata["abstained"] == out.abstained and out.metadata["match"]["best"] < out.metadata["match"]["floor"]


def test_text_only_and_options(rag, sample_build):
    out = rag.augment(text="Small right pleural effusion. No pneumothorax.", question="Anything else?", format="kg-llava")
    assert out.messages[0]["content"][0] == {"type": "text", "text": out.prompt}  # no image slot
    assert out.prompt.startswith("The image-specific triplets")
    from graph.store import FileStore

    img = FileStore(sample_build).index.ids[0]
    assert rag.context(image_id=img, k=2).k.k == 2


@pytest.mark.parametrize("query", ["noise", "photo"])
def test_an_image_unlike_any_in_the_graph_gets_no_findings(rag, query):
    from tests.graph.retrieve.test_ood import noise_png, photo_path

    out = rag.augment(noise_png() if query == "noise" else Image.open(photo_path()), "Is there a pleural effusion?")
    assert out.abstained.startswith("no similar image in the graph") and out.context.findings == ()
    assert out.citations == [] and "similar cases" not in out.prompt
    for fmt in ("kg-llava", "medmkg", "json"):
        assert "no similar image in the graph" in rag.augment(noise_png(), "Q?", format=fmt).prompt
