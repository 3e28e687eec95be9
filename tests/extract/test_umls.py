import json

import pytest

from extract.umls import UmlsIndex, build_index
from kg.core.errors import InvalidInput, NotFound

META = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "umls" / "META"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    out = tmp_path_factory.mktemp("umls-index")
    build_index(META, out)
    return UmlsIndex(out)


def test_filters_and_malformed_rows(index):
    meta = index.meta
    assert meta["counts"]["concepts"] == 5  # Severe (T080, qualitative) is dropped by default
    assert meta["malformed"]["counts"] == {"MRCONSO.RRF": 1, "MRDEF.RRF": 1}
    assert meta["malformed"]["examples"][0].startswith("MRCONSO.RRF:13:")
    assert index.lookup("Fluid in pleural cavity") is None  # obsolete (SUPPRESS=O)
    assert index.lookup("Epanchement pleural") is None  # not English
    assert index.lookup("Severe") is None


def test_exact_lookup_with_variants(index):
    assert index.lookup("pleural effusions") == "C0032227"
    assert index.lookup("PLEURAL EFFUSION") == "C0032227"
    assert index.lookup("ptx") == "C0032326"
    c = index.concept("C0032227")
    assert c.name == "Pleural effusion" and c.group == "OBSERVATION" and c.semantic_types == ("T047:Disease or Syndrome",)
    assert index.concept("C0024109").group == "ANATOMY"


def test_definitions_from_mrdef(index):
    # MSH is preferred over NCI; an obsolete (SUPPRESS=O) row is skipped; a dropped concept gets none
    assert index.concept("C0032227").definition.startswith("An accumulation of fluid in the pleural cavity")
    assert index.concept("C0018800").definition.startswith("A heart larger than normal")
    assert index.concept("C0024109").definition is None
    assert index.meta["counts"]["definitions"] == 2


def test_a_release_without_mrdef_is_indexed_without_definitions(tmp_path):
    import shutil

    meta = tmp_path / "META"
    meta.mkdir()
    for name in ("MRCONSO", "MRSTY", "MRREL"):
        shutil.copy(META / f"{name}.RRF", meta)
    summary = build_index(meta, tmp_path / "idx")
    assert summary["counts"]["definitions"] == 0 and summary["counts"]["concepts"] == 5
    assert UmlsIndex(tmp_path / "idx").concept("C0032227").definition is None


def test_mrrel_direction_isa(index):
    # MRREL "C0013687|…|CHD|C0032227|…|isa": Pleural effusion isa Effusion
    assert index.parents("C0032227") == ["C0013687"]
    assert index.parents("C0013687") == []
    rel = index.relations().to_pylist()
    assert {"cui1": "C0013687", "rel": "CHD", "rela": "isa", "cui2": "C0032227", "sab": "MTH"} in rel
    assert all("C0205082" not in (r["cui1"], r["cui2"]) for r in rel)  # relations only among kept concepts


def test_reindexing_is_byte_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    build_index(META, a)
    build_index(META, b)
    for f in ("concepts.parquet", "names.parquet", "relations.parquet", "index.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_strict_and_missing_files(tmp_path):
    with pytest.raises(InvalidInput, match="MRCONSO.RRF:13"):
        build_index(META, tmp_path / "s", strict=True)
    (tmp_path / "META").mkdir()
    with pytest.raises(NotFound, match="MRCONSO.RRF is missing"):
        build_index(tmp_path / "META", tmp_path / "x")


def test_rules_extractor_runs_on_the_umls_index(index):
    from extract.rules import RulesExtractor

    x = RulesExtractor(index).extract("r", "FINDINGS: No pleural effusions. Small PTX. Enlarged heart.")
    pol = {c.cui: c.polarity for c in x.concepts}
    assert pol == {"C0032227": "negative", "C0032326": "positive", "C0018800": "positive"}


def test_cli_index_and_build_with_umls_edges(tmp_path):
    import subprocess
    import sys

    from graph.store import read_graph

    idx = tmp_path / "idx"
    p = subprocess.run([sys.executable, "-m", "kg", "umls", "index", str(META), "--out", str(idx), "-q"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "malformed rows skipped" in p.stderr
    src = tmp_path / "r"
    src.mkdir()
    (src / "a.txt").write_text("FINDINGS: Small pleural effusions in both lungs. No PTX.")
    out = tmp_path / "g"
    p = subprocess.run([sys.executable, "-m", "kg", "build", str(src), "--out", str(out), "--umls", str(idx),
                        "--umls-parents", "1", "-q"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    g = read_graph(out)
    edges = {(t.type, r["_start"], r["_end"]) for t in g.edges.values() for r in t.rows}
    assert ("ISA", "C0032227", "C0013687") in edges  # the parent came in with --umls-parents 1
    assert ("HAS_FINDING_SITE", "C0032227", "C0024109") in edges
    assert ("FINDING_SITE_OF", "C0024109", "C0032227") in edges
    concepts = {r["cui"]: r for r in g.nodes["Concept"].rows}
    assert concepts["C0032227"]["definition"].startswith("An accumulation of fluid")
    assert concepts["C0024109"].get("definition") is None
    isa = next(t for t in g.edges.values() if t.type == "ISA").rows[0]
    assert isa["source"] == "UMLS" and isa["sab"] == ["MTH"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["conceptIndex"]["name"].startswith("umls:")


def test_cli_link_phrases_with_the_lexicon_and_a_release_folder(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "MEDKG_CACHE": str(tmp_path / "cache")}
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("pnuemothorax\nsmall left pleural effusions\nETT\nzzzz qqqq\n")
    p = subprocess.run([sys.executable, "-m", "kg", "umls", "link", "--file", str(phrases), "--json"],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["candidates"][0]["cui"] if r["candidates"] else None for r in rows] == \
        ["C0032326", "C0032227", "C0336630", None]
    assert rows[0]["candidates"][0]["method"] == "approximate" and rows[0]["candidates"][0]["score"] < 1
    # a release folder is indexed once into the cache, then reused
    args = [sys.executable, "-m", "kg", "umls", "link", "Enlarged heart", "ptx", "--umls", str(META)]
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    assert p.returncode == 0 and "indexing the UMLS release" in p.stderr, p.stderr
    assert [line.split("\t")[1] for line in p.stdout.splitlines()] == ["C0018800", "C0032326"]
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    assert "indexing" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "kg", "umls", "link"], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "no phrases given" in p.stderr
