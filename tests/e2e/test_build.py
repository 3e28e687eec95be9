"""The whole build as a user runs it: the CLI in a subprocess on the sample and on broken corpora."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from graph.store import load_networkx, read_graph

KG = [sys.executable, "-m", "kg"]


def run(*args, check=True):
    env = {**os.environ, "COLUMNS": "200"}
    p = subprocess.run([*KG, *map(str, args)], capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"kg {args} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def tables_digest(out: Path) -> dict[str, str]:
    files = sorted(p for p in out.rglob("*") if p.suffix in (".parquet", ".npy", ".txt", ".jsonl"))
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_sample_build_counts_and_polarity(sample_build):
    m = json.loads((sample_build / "manifest.json").read_text())
    assert m["records"] == {"read": 42, "built": 42, "quarantined": 0}
    assert m["graph"]["nodes"]["Patient"] == 17 and m["graph"]["nodes"]["Study"] == 42
    assert m["images"]["seen"] == 42 and m["images"]["skippedByView"] == 21  # laterals skipped
    assert m["vectorIndex"]["count"] == 42 and m["vectorIndex"]["dim"] == 1024
    assert m["naf"]["after"]["conceptsCovered"] == m["naf"]["before"]["conceptsCovered"]
    assert m["naf"]["after"]["images"] < m["naf"]["before"]["images"]
    g = read_graph(sample_build)
    concepts = {r["cui"]: r for r in g.nodes["Concept"].rows}
    assert concepts["C0032227"]["name"] == "Pleural effusion"
    images = {r["id"]: r for r in g.nodes["Image"].rows}
    kept_edges = {(t.type, r["_start"], r["_end"]) for t in g.edges.values() if t.source_label == "Image" for r in t.rows}
    # NaF never drops a kept image's edges; filtered images are flagged, not lost
    assert all(images[s]["kept"] for _, s, _ in kept_edges)
    assert any(not r["kept"] for r in images.values())
    G = load_networkx(sample_build)
    assert G.nodes["Concept:C0032326"]["name"] == "Pneumothorax"


def test_sample_polarities_without_naf(tmp_path):
    out = tmp_path / "g"
    run("build", "--sample", "--out", out, "--naf", "none", "--quiet")
    g = read_graph(out)
    edges = {}
    for t in g.edges.values():
        if t.source_label == "Image":
            for r in t.rows:
                edges[(r["reportId"], r["_end"])] = t.type
    # s50000051: "moderate right apical pneumothorax"; s50000011: "without ... pneumothorax"
    assert edges[("s50000051", "C0032326")] == "POSITIVE"
    assert edges[("s50000011", "C0032326")] == "NEGATIVE"
    # s50000031: "Left retrocardiac opacity likely reflects atelectasis, although pneumonia cannot be excluded"
    assert edges[("s50000031", "C0004144")] == "UNCERTAIN"
    assert edges[("s50000031", "C0032285")] == "UNCERTAIN"
    # s50000032: "The endotracheal tube has been removed."
    assert edges[("s50000032", "C0336630")] == "NEGATIVE"
    assert edges[("s50000022", "C0032227")] == "POSITIVE"  # left effusion unchanged, right resolved


def test_two_builds_are_byte_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run("build", "--sample", "--out", a, "--quiet")
    run("build", "--sample", "--out", b, "--quiet", "--workers", "2")
    assert tables_digest(a) == tables_digest(b)
    assert len(tables_digest(a)) > 10


def broken_corpus(tmp_path: Path) -> Path:
    from tests.conftest import copy_sample

    root = copy_sample(tmp_path / "corpus")
    pdir = root / "files" / "p10" / "p10009999"
    pdir.mkdir()
    (pdir / "s59999991.txt").write_bytes(b"FINDINGS: Small \xff\xfe effusion.\n")
    (pdir / "s59999992.txt").write_text("")
    (pdir / "s59999993.txt").write_text("INDICATION: cough\n\nCOMPARISON: none\n")
    (pdir / "s59999994.txt").write_text("FINDINGS: Large right pleural effusion.\n")
    img_dir = pdir / "s59999994"
    img_dir.mkdir()
    (img_dir / "deadbeef-0.jpg").write_bytes(b"")
    # in a study that reads fine: a truncated JPEG (quarantined) and a 16-bit PNG (embedded)
    good_dir = next((root / "files" / "p10" / "p10000101").glob("s50000011"))
    jpg = next(good_dir.glob("*.jpg"))
    (good_dir / "truncated-1.jpg").write_bytes(jpg.read_bytes()[:300])
    import numpy as np
    from PIL import Image

    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 9).save(good_dir / "sixteen-bit.png")
    return root


def test_broken_records_are_quarantined_and_reconciled(tmp_path):
    root = broken_corpus(tmp_path)
    out = tmp_path / "g"
    p = run("build", root, "--out", out, "--quiet")
    assert "3 records and 2 images quarantined" in p.stderr
    q = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    reasons = {r["record"]: r for r in q}
    assert "UTF-8" in reasons["s59999991"]["reason"]
    assert reasons["s59999992"]["reason"] == "empty report"
    assert "no FINDINGS or IMPRESSION" in reasons["s59999993"]["reason"]
    assert reasons["deadbeef-0"]["stage"] == "image" and "empty" in reasons["deadbeef-0"]["reason"]
    assert "decoded" in reasons["truncated-1"]["reason"]
    assert "sixteen-bit" in (out / "index" / "ids.txt").read_text()
    m = json.loads((out / "manifest.json").read_text())
    assert m["records"] == {"read": 46, "built": 43, "quarantined": 3}
    # the study whose only image is broken keeps its text edges, on the Study node
    g = read_graph(out)
    study_edges = [r for t in g.edges.values() if t.source_label == "Study" and t.type == "POSITIVE" for r in t.rows]
    assert any(r["_start"] == "s59999994" and r["_end"] == "C0032227" for r in study_edges)


def test_strict_stops_with_exit_2_and_names_the_file(tmp_path):
    root = broken_corpus(tmp_path)
    p = run("build", root, "--out", tmp_path / "g", "--strict", "--quiet", check=False)
    assert p.returncode == 2
    assert "s59999991.txt" in p.stderr and "Fix:" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("args", [["build", "/no/such/corpus", "--out", "x"], ["build", ".", "--out", "x", "--format", "dicomweb"]])
def test_usage_errors_exit_2_without_traceback(tmp_path, args):
    p = subprocess.run([*KG, *args], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and "error:" in p.stderr and "Traceback" not in p.stderr


def test_iu_xml_corpus_builds(tmp_path):
    from tests.kg.corpus.test_readers import IU

    src = tmp_path / "iu"
    src.mkdir()
    (src / "1.xml").write_text(IU)
    (src / "2.xml").write_text("<eCitation><uId id='CXR9'/>")
    out = tmp_path / "g"
    run("build", src, "--out", out, "--quiet")
    m = json.loads((out / "manifest.json").read_text())
    assert m["records"] == {"read": 2, "built": 1, "quarantined": 1}
    assert m["images"]["quarantined"] == 1  # the XML names an image that is not on disk


def test_stats_neighbors_export(sample_build, tmp_path):
    s = json.loads(run("stats", sample_build, "--json").stdout)
    assert s["polarity"]["NEGATIVE"] > 0 and s["topConcepts"][0]["cui"].startswith("C")
    p = run("neighbors", sample_build, "Pleural effusion")
    assert "C0032227" in p.stdout and "SUGGESTIVE_OF" in p.stdout and "C0018802" in p.stdout
    p = run("neighbors", sample_build, "no such thing", check=False)
    assert p.returncode == 2
    run("export", sample_build, "--format", "graphml", "--out", tmp_path / "g.graphml")
    run("export", sample_build, "--format", "rdf", "--out", tmp_path / "g.ttl")
    import networkx as nx
    import rdflib

    G = nx.read_graphml(tmp_path / "g.graphml")
    assert G.number_of_nodes() == sum(json.loads((sample_build / "manifest.json").read_text())["graph"]["nodes"].values())
    R = rdflib.Graph().parse(tmp_path / "g.ttl")
    eff = rdflib.URIRef("http://linkedlifedata.com/resource/umls/id/C0032227")
    assert (eff, rdflib.RDFS.label, rdflib.Literal("Pleural effusion")) in R


def test_help_is_fast_and_imports_no_heavy_libraries():
    code = "import sys; from kg.cli import app; import typer.testing as t; t.CliRunner().invoke(app, ['--help']); " \
           "print(sorted(m for m in ('torch','transformers','open_clip','faiss','torch_geometric','pyarrow','PIL') if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr
    assert run("--version").stdout.startswith("medkg ")


def test_parquet_tables_use_guide_names(sample_build):
    names = {p.stem for p in (sample_build / "nodes").glob("*.parquet")}
    assert names == {"Patient", "Study", "Report", "Image", "Concept"}
    cols = pq.read_table(sample_build / "nodes" / "Study.parquet").column_names
    assert cols == ["id", "patientId", "split"]


def test_limit_reads_only_n_records(tmp_path):
    out = tmp_path / "g"
    run("build", "--sample", "--out", out, "--limit", "5", "--quiet")
    m = json.loads((out / "manifest.json").read_text())
    assert m["records"] == {"read": 5, "built": 5, "quarantined": 0}


def test_build_from_existing_radgraph_annotations(tmp_path):
    from extract.radgraph import extraction_doc, write_radgraph
    from extract.rules import RulesExtractor

    src = tmp_path / "r"
    src.mkdir()
    texts = {"a": "FINDINGS: No pneumothorax. Small left pleural effusion.", "b": "IMPRESSION: Possible pneumonia."}
    for k, t in texts.items():
        (src / f"{k}.txt").write_text(t)
    (src / "c.txt").write_text("FINDINGS: Cardiomegaly.")  # no annotation for c: quarantined
    x = RulesExtractor()
    docs = [extraction_doc(f"files/{k}.txt", x.extract(k, t), t) for k, t in texts.items()]
    write_radgraph(docs, tmp_path / "rg.json")
    out = tmp_path / "g"
    run("build", src, "--out", out, "--radgraph", tmp_path / "rg.json", "--quiet")
    m = json.loads((out / "manifest.json").read_text())
    assert m["records"] == {"read": 3, "built": 2, "quarantined": 1}
    assert m["extractor"]["id"].startswith("radgraph-file/")
    g = read_graph(out)
    edges = {(t.type, r["_start"], r["_end"]) for t in g.edges.values() if t.source_label == "Study" for r in t.rows}
    assert ("NEGATIVE", "a", "C0032326") in edges and ("POSITIVE", "a", "C0032227") in edges
    assert ("UNCERTAIN", "b", "C0032285") in edges
    q = (out / "quarantine.jsonl").read_text()
    assert "no RadGraph annotation for report c" in q


def test_one_image_per_study_prefers_pa(tmp_path):
    out = tmp_path / "g"
    run("build", "--sample", "--out", out, "--quiet", "--views", "", "--one-image-per-study")
    m = json.loads((out / "manifest.json").read_text())
    assert m["images"]["seen"] == 42
    views = {r["viewPosition"] for r in read_graph(out).nodes["Image"].rows}
    assert "LATERAL" not in views
