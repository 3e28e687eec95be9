"""Images in object storage: an fsspec URL as the image root or as one image's path reads like a folder."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from embed.images import ImageError, load_image
from kg.core.errors import Unavailable
from kg.core.locations import is_url, location

pytest.importorskip("upath", reason="the remote extra is not installed")


def test_urls_and_paths_are_told_apart():
    assert is_url("s3://bucket/mimic") and is_url("file:///data/x.jpg") and is_url("memory://a/b")
    assert not is_url("/data/mimic") and not is_url("relative/x.jpg") and not is_url("C:\\data\\x.jpg")


def test_an_image_in_memory_storage_decodes_and_a_missing_one_is_quarantinable():
    buf = io.BytesIO()
    Image.fromarray(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)).save(buf, format="PNG")
    target = location("memory://medkg-test/study/x.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buf.getvalue())
    im = load_image("memory://medkg-test/study/x.png")
    assert im.mode == "L" and im.size == (64, 64) and np.asarray(im)[10, 10] == np.arange(4096)[10 * 64 + 10] % 256
    with pytest.raises(ImageError, match="missing"):
        load_image("memory://medkg-test/study/absent.png")


def test_a_protocol_whose_package_is_missing_names_the_package():
    try:
        import s3fs  # noqa: F401
    except ImportError:
        with pytest.raises(Unavailable, match="pip install s3fs"):
            location("s3://bucket/mimic-cxr-jpg")
    else:
        pytest.skip("s3fs is installed here")


def test_a_build_reads_its_images_through_a_url_root_with_identical_vectors(tmp_path):
    from kg.sample import sample_corpus

    root = sample_corpus()
    env = {**os.environ, "COLUMNS": "200"}
    for out, extra in ((tmp_path / "a", []), (tmp_path / "b", ["--images", root.resolve().as_uri()])):
        subprocess.run([sys.executable, "-m", "kg", "build", "--sample", "--out", str(out), "--quiet", *extra],
                       check=True, capture_output=True, env=env)
    a, b = tmp_path / "a" / "index", tmp_path / "b" / "index"
    assert (a / "ids.txt").read_text() == (b / "ids.txt").read_text() and len((a / "ids.txt").read_text()) > 100
    assert (a / "vectors.npy").read_bytes() == (b / "vectors.npy").read_bytes()
    import pyarrow.parquet as pq

    paths = pq.read_table(tmp_path / "b" / "nodes" / "Image.parquet").column("path").to_pylist()
    assert paths and all(p.startswith("file://") for p in paths)
