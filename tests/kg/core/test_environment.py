"""kg/core/environment.py: every variable in one place, read at call time, secrets kept out of reprs."""

from pathlib import Path

from kg.core.cache import cache_root
from kg.core.environment import medkg_env, neo4j_env


def test_environment_is_read_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDKG_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:7999")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-value")
    monkeypatch.delenv("NEO4J_DATABASE", raising=False)
    assert cache_root() == tmp_path / "c" and medkg_env().cache == tmp_path / "c"
    n = neo4j_env()
    assert n.uri == "bolt://127.0.0.1:7999" and n.database == "neo4j"
    assert n.password.get_secret_value() == "s3cret-value" and "s3cret" not in repr(n)


def test_empty_variables_count_as_unset(monkeypatch):
    monkeypatch.setenv("MEDKG_CACHE", "")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == Path.home() / ".cache" / "medkg"
