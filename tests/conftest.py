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
    from kg.build_options import BuildSettings
    from kg.pipeline import build
    from kg.sample import sample_corpus

    out = tmp_path_factory.mktemp("sample") / "graph"
    build(BuildSettings(source=sample_corpus(), out=out, format="mimic", quiet=True))
    return out


def copy_sample(dest: Path) -> Path:
    from kg.sample import sample_corpus

    shutil.copytree(sample_corpus(), dest)
    return dest


# -- Neo4j: NEO4J_URI when set, else the project's own server started once per test run --------------
REPO = Path(__file__).resolve().parents[1]


def _need(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"Neo4j tests cannot run: {reason} (under CI=true no Neo4j test may skip)")
    pytest.skip(reason)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def neo4j_server():
    """(settings, home or None). home is set when the tests started the server themselves."""
    try:
        import neo4j  # noqa: F401
    except ImportError:
        _need("the neo4j driver is not installed (pip install 'medkg[neo4j]')")
    from graph.neo4j import Neo4jSettings

    if os.environ.get("NEO4J_URI"):
        yield Neo4jSettings.from_env(), None
        return
    if shutil.which("java") is None or shutil.which("mvn") is None:
        _need("java and mvn are needed to assemble the local Neo4j")
    from kg.neo4j_local import ServerHome, start, stop

    home = ServerHome.resolve(os.environ.get("MEDKG_NEO4J_HOME") or REPO / ".neo4j")
    stop(home)
    bolt, http = free_port(), free_port()
    uri = start(home, bolt=bolt, http=http)
    yield Neo4jSettings(uri=uri, user="neo4j", password=home.password(), database="neo4j"), home
    stop(home)


@pytest.fixture()
def neo4j_env(neo4j_server, monkeypatch):
    """A clean database and NEO4J_* variables for subprocesses; yields (settings, home)."""
    from graph.neo4j import Neo4jClient, clear

    settings, home = neo4j_server
    with Neo4jClient(settings) as g:
        clear(g)
        for row in g.run("SHOW INDEXES YIELD name, type WHERE type = 'VECTOR' RETURN name"):
            g.run(f"DROP INDEX `{row['name']}` IF EXISTS")
    monkeypatch.setenv("NEO4J_URI", settings.uri)
    monkeypatch.setenv("NEO4J_USERNAME", settings.user)
    monkeypatch.setenv("NEO4J_PASSWORD", settings.password)
    monkeypatch.setenv("NEO4J_DATABASE", settings.database)
    yield settings, home
