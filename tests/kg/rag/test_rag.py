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
def lateral(tmp_path_factory):
    from kg.sample import write_sample

    d = tmp_path_factory.mktemp("s")
    write_sample(d)
    return next(d.rglob("749af0f7-*.jpg"))


def test_augment_gives_prompt_messages_and_citations(rag, lateral):
    out = rag.augment(Image.open(lateral), "Is there a pleural effusion?")
    assert isinstance(out.context, Context) and len(out.context.neighbours) == 4
    assert out.prompt.endswith("Is there a pleural effusion?") and "similar cases" in out.prompt
    assert out.messages == [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": out.prompt}]}]
    assert out.citations and all(c.report_id for c in out.citations)
    assert out.metadata["k"]["k"] == 4


def test_every_image_form_gives_the_same_context(rag, lateral):
    im = Image.open(lateral)
    by = [rag.context(x).neighbours for x in (im, np.asarray(im), lateral.read_bytes(), str(lateral))]
    assert all([n.id for n in b] == [n.id for n in by[0]] for b in by)


def test_text_only_and_options(rag, sample_build):
    out = rag.augment(text="Small right pleural effusion. No pneumothorax.", question="Anything else?", format="kg-llava")
    assert out.messages[0]["content"][0] == {"type": "text", "text": out.prompt}  # no image slot
    assert out.prompt.startswith("The image-specific triplets")
    from graph.store import FileStore

    img = FileStore(sample_build).index.ids[0]
    assert rag.context(image_id=img, k=2).k.k == 2
