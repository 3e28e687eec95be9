from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# ../shared/data beside the checkout (developers' machines and CI); MEDKG_SHARED_DATA overrides
SHARED = Path(os.environ.get("MEDKG_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    os.environ["MEDKG_CACHE"] = str(tmp_path_factory.mktemp("medkg-cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"../shared/data is missing at {SHARED}; CI runs with shared/ beside the clone")
        pytest.skip("../shared/data not present on this machine")
    return SHARED


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory) -> Path:
    from kg.pipeline import build
    from kg.sample import sample_corpus
    from kg.settings import BuildSettings

    out = tmp_path_factory.mktemp("sample") / "graph"
    build(BuildSettings(source=sample_corpus(), out=out, format="mimic", quiet=True))
    return out


def copy_sample(dest: Path) -> Path:
    from kg.sample import sample_corpus

    shutil.copytree(sample_corpus(), dest)
    return dest
