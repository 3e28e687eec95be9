"""The open_clip encoder on a tiny randomly initialised model saved the way open_clip saves models,
loaded through the same spec users give (--encoder open_clip:local-dir:<folder>)."""

import json

import numpy as np
import pytest

open_clip = pytest.importorskip("open_clip", reason="the images extra (open_clip_torch) is not installed")
torch = pytest.importorskip("torch")

from embed.encoders import get_encoder  # noqa: E402
from embed.images import load_image  # noqa: E402
from kg.core.errors import InvalidInput, NotFound  # noqa: E402

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("tiny-clip")
    torch.manual_seed(0)
    model = open_clip.CLIP(embed_dim=TINY["embed_dim"], vision_cfg=TINY["vision_cfg"], text_cfg=TINY["text_cfg"])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "open_clip_model.safetensors"))
    (d / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": TINY,
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bicubic",
                           "resize_mode": "shortest"},
    }))
    return d


def test_encodes_real_radiographs(tiny_dir, shared_data):
    enc = get_encoder(f"open_clip:local-dir:{tiny_dir}")
    assert enc.dim == 32 and enc.id.startswith("open_clip:local-dir:")
    ims = [load_image(p) for p in sorted((shared_data / "cxr14-images").glob("*.png"))]
    a, b = enc.encode(ims), enc.encode(ims)
    assert a.shape == (2, 32) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, b)
    assert not np.allclose(a[0], a[1])


def test_a_path_to_the_folder_works_too(tiny_dir):
    assert get_encoder(f"open_clip:{tiny_dir}").dim == 32


def test_missing_weights_are_an_error_never_a_fallback(tmp_path):
    with pytest.raises(InvalidInput, match="could not be loaded offline"):
        get_encoder(f"open_clip:local-dir:{tmp_path}")
    with pytest.raises(NotFound, match="not in the local Hugging Face cache"):
        get_encoder("open_clip:hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224")
    with pytest.raises(InvalidInput, match="needs weights"):
        get_encoder("open_clip:ViT-B-16")


def test_build_with_open_clip_and_dataloader_workers(tiny_dir, tmp_path):
    from kg.build_options import BuildSettings
    from kg.pipeline import build
    from kg.sample import sample_corpus

    out = tmp_path / "g"
    r = build(BuildSettings(source=sample_corpus(), out=out, format="mimic", quiet=True, workers=2,
                            encoder=f"open_clip:local-dir:{tiny_dir}", batch_size=8))
    m = r.manifest
    assert m.encoder.dim == 32 and m.vector_index["dim"] == 32 and m.images.embedded == 42
    v = np.load(out / "index" / "vectors.npy")
    assert v.shape == (42, 32) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_on_ray_the_encoder_actor_loads_the_model_and_the_vectors_match_the_local_build(tiny_dir, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    import subprocess
    import sys

    outs = {}
    for engine in ("local", "ray"):
        outs[engine] = tmp_path / engine
        subprocess.run([sys.executable, "-m", "kg", "build", "--sample", "--out", str(outs[engine]), "--quiet",
                        "--engine", engine, "--workers", "2", "--encoder", f"open_clip:local-dir:{tiny_dir}",
                        "--batch-size", "8"], check=True, capture_output=True)
    a, b = (np.load(outs[e] / "index" / "vectors.npy") for e in ("local", "ray"))
    assert a.shape == (42, 32) and a.tobytes() == b.tobytes()
    assert (outs["local"] / "index" / "ids.txt").read_text() == (outs["ray"] / "index" / "ids.txt").read_text()


def test_random_weights_come_from_a_fixed_seed_so_every_process_holds_the_same_model():
    enc = get_encoder("open_clip:ViT-B-32@random")
    state = torch.get_rng_state()
    again = get_encoder("open_clip:ViT-B-32@random")
    assert torch.equal(state, torch.get_rng_state())  # the caller's random state is untouched
    w1 = next(enc.model.parameters())
    w2 = next(again.model.parameters())
    assert torch.equal(w1, w2)
