import numpy as np
import pytest
from PIL import Image

from embed.encoders import PixelsEncoder, get_encoder
from embed.images import ImageError, load_image
from embed.index import VectorIndex
from kg.core.errors import InvalidInput


def test_real_pngs_decode_and_encode(shared_data):
    paths = sorted((shared_data / "cxr14-images").glob("*.png"))
    assert len(paths) == 2
    ims = [load_image(p) for p in paths]
    assert all(im.mode == "L" and im.size[0] >= 512 for im in ims)
    enc = PixelsEncoder(32)
    v1, v2 = enc.encode(ims), enc.encode(ims)
    assert v1.shape == (2, 1024) and v1.dtype == np.float32
    assert np.allclose(np.linalg.norm(v1, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(v1, v2)
    assert not np.allclose(v1[0], v1[1])  # different radiographs, different vectors


def test_16bit_and_cmyk_decode_correctly(tmp_path):
    ramp = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 3 + 1000)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    im = load_image(tmp_path / "g16.png")
    a = np.asarray(im)
    assert im.mode == "L" and a.min() == 0 and a.max() == 255 and a[0, 0] < a[-1, -1]
    Image.new("CMYK", (16, 16), (0, 0, 0, 255)).save(tmp_path / "k.jpg")
    assert np.asarray(load_image(tmp_path / "k.jpg")).mean() < 40


def test_bad_images_raise_image_error(tmp_path):
    (tmp_path / "zero.jpg").write_bytes(b"")
    good = tmp_path / "good.jpg"
    Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(good)
    (tmp_path / "trunc.jpg").write_bytes(good.read_bytes()[:200])
    (tmp_path / "text.png").write_text("not an image")
    for name, word in [("zero.jpg", "empty"), ("trunc.jpg", "decoded"), ("text.png", "readable"), ("missing.jpg", "missing")]:
        with pytest.raises(ImageError, match=word):
            load_image(tmp_path / name)


def test_vector_index_roundtrip_and_search(tmp_path):
    rng = np.random.default_rng(1)
    v = rng.normal(size=(20, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    idx = VectorIndex([f"i{k:02d}" for k in range(20)], v)
    idx.save(tmp_path)
    back = VectorIndex.load(tmp_path)
    hits = back.search(v[7], k=3)
    assert hits[0][0] == "i07" and abs(hits[0][1] - 1.0) < 1e-5 and len(hits) == 3


def test_unknown_encoder_is_a_usage_error():
    with pytest.raises(InvalidInput, match="unknown image encoder"):
        get_encoder("biomedclip")


def test_large_index_is_hnsw_with_high_recall_and_roundtrips(tmp_path):
    pytest.importorskip("faiss", reason="faiss-cpu is not installed")
    from embed.index import HNSW_FROM

    assert VectorIndex(["a"], np.ones((1, 4), dtype=np.float32)).kind == "flat-ip"
    rng = np.random.default_rng(3)
    v = rng.normal(size=(20_000, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    idx = VectorIndex([f"i{k:06d}" for k in range(len(v))], v, kind="hnsw")  # built the way >= HNSW_FROM is
    assert HNSW_FROM > len(v) and idx.kind == "hnsw" and idx.params["M"] > 0
    q = v[:50]
    approx = idx.search_many(q, 10)
    exact = idx.search_many(q, 10, exact=True)
    recall = np.mean([len({a for a, _ in x} & {e for e, _ in y}) / 10 for x, y in zip(approx, exact)])
    assert recall >= 0.9
    idx.save(tmp_path)
    back = VectorIndex.load(tmp_path)
    assert back.kind == "hnsw" and back.search(v[7], 1)[0][0] == "i000007"
