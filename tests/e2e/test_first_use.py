"""A new user's first hour, run as they would run it: the `kg` command in a subprocess (sys.executable)."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from graph.store import load_networkx

KG = [sys.executable, "-m", "kg"]


def kg(*args, check=True, cwd=None, env=None, **kw):
    p = subprocess.run([*KG, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                       env=env or {k: v for k, v in os.environ.items() if k != "COLUMNS"}, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"kg {args} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def digest(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and not p.name.startswith(".medkg")}


def test_a_rebuild_keeps_the_users_files(tmp_path):
    out = tmp_path / "g"
    kg("build", "--sample", "--out", out, "--quiet")
    (out / "my-notes.txt").write_text("notes")
    (out / "figs").mkdir()
    (out / "figs" / "fig1.svg").write_text("<svg/>")
    kg("export", out, "--format", "graphml")
    kg("build", "--sample", "--out", out, "--quiet")
    assert (out / "my-notes.txt").read_text() == "notes"
    assert (out / "figs" / "fig1.svg").read_text() == "<svg/>"
    assert (out / "graph.graphml").stat().st_size > 1000
    assert "my-notes.txt" not in json.loads((out / "manifest.json").read_text())["files"]


def _big_corpus(path: Path, n: int) -> Path:
    from kg.sample import sample_corpus

    texts = sorted(p.read_text() for p in sample_corpus().rglob("s*.txt"))
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"r{i:06d}", "text": texts[i % len(texts)]}) + "\n")
    return path


def test_a_build_killed_halfway_leaves_the_previous_build(tmp_path):
    out = tmp_path / "g"
    kg("build", "--sample", "--out", out, "--quiet")
    before = digest(out)
    corpus = _big_corpus(tmp_path / "big.jsonl", 20_000)
    proc = subprocess.Popen([*KG, "build", str(corpus), "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = out / ".medkg-staging"
    deadline = time.monotonic() + 60
    while not staging.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(1.0)  # well into reading and extracting the 20,000 reports
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the build finished before it could be killed"
    s = json.loads(kg("stats", out, "--json").stdout)
    assert s["records"]["read"] == 42
    assert digest(out) == before and not staging.exists()
    kg("build", "--sample", "--out", out, "--quiet")  # and the next build goes through
    assert digest(out).keys() == before.keys()


def test_a_folder_that_is_not_a_build_is_refused(tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("x")
    p = kg("build", "--sample", "--out", mine, "--quiet", check=False)
    assert p.returncode == 2 and "holds no medkg build" in p.stderr and "--force" in p.stderr
    kg("build", "--sample", "--out", mine, "--quiet", "--force")
    assert (mine / "chapter1.tex").read_text() == "x" and (mine / "manifest.json").is_file()


def test_duplicate_ids_are_quarantined_not_merged(tmp_path):
    src = tmp_path / "dup.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"id": "x1", "text": "FINDINGS: Small left pleural effusion."},
        {"id": "x2", "text": "FINDINGS: No pneumothorax."},
        {"id": "x1", "text": "FINDINGS: Cardiomegaly."},
    ]) + "\n")
    out = tmp_path / "g"
    p = kg("build", src, "--out", out, "--quiet")
    assert "1 record and 0 images quarantined" in p.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["records"] == {"read": 3, "built": 2, "quarantined": 1}
    (q,) = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert q["record"] == "x1" and q["source"].endswith("dup.jsonl:3") and "dup.jsonl:1" in q["reason"]
    assert pq.read_table(out / "nodes" / "Study.parquet").column("id").to_pylist() == ["x1", "x2"]
    G = load_networkx(out)
    stats = json.loads(kg("stats", out, "--json").stdout)
    assert stats["nodes"]["Study"] == sum(1 for _, d in G.nodes(data=True) if d["label"] == "Study") == 2
    assert "effusion" in G.nodes["Report:x1"]["findings"]  # the first record's text, not the second's


def test_a_mimic_study_id_seen_twice_is_quarantined(tmp_path):
    from tests.conftest import copy_sample

    root = copy_sample(tmp_path / "corpus")
    other = root / "files" / "p10" / "p10009999"
    other.mkdir()
    (other / "s50000011.txt").write_text("FINDINGS: Cardiomegaly.\n")  # the id of p10000101's first study
    out = tmp_path / "g"
    kg("build", root, "--out", out, "--quiet")
    m = json.loads((out / "manifest.json").read_text())
    assert m["records"] == {"read": 43, "built": 42, "quarantined": 1}
    q = (out / "quarantine.jsonl").read_text()
    assert "duplicate record id 's50000011'" in q and "p10009999" in q


def test_duplicate_image_file_names_are_quarantined(tmp_path):
    from kg.sample import sample_corpus

    img = next(sample_corpus().rglob("*.txt"))  # any file: the image stage is not reached for the duplicate
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"id": "r1", "text": "FINDINGS: Cardiomegaly.", "image": "a/1.png"}) + "\n"
                   + json.dumps({"id": "r2", "text": "FINDINGS: No effusion.", "image": "b/1.png"}) + "\n")
    assert img
    out = tmp_path / "g"
    kg("build", src, "--out", out, "--quiet")
    q = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert any("duplicate image id '1'" in r["reason"] and r["source"].endswith("b/1.png") for r in q)
    assert pq.read_table(out / "nodes" / "Image.parquet").num_rows <= 1


@pytest.mark.parametrize("args,expect", [
    (["--naf", "foo"], ["--naf", "'foo'", "greedy, medmkg, none"]),
    (["--format", "iu-xml"], ["no record found", "detects 'mimic'"]),
    (["--format", "jsonl"], ["--format jsonl reads one file", "detects 'mimic'"]),
])
def test_bad_options_are_named_with_the_fix(tmp_path, args, expect):
    src = tmp_path / "s"
    kg("sample", src)
    p = kg("build", src, "--out", tmp_path / "g", "--quiet", *args, check=False)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "pydantic" not in p.stderr
    for e in expect:
        assert e in p.stderr, p.stderr
    assert not (tmp_path / "g" / "manifest.json").exists()


def test_a_bad_out_fails_before_any_work(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    corpus = _big_corpus(tmp_path / "big.jsonl", 20_000)
    for out in (f, f / "sub"):
        t = time.monotonic()
        p = kg("build", corpus, "--out", out, "--quiet", check=False)
        assert p.returncode == 2 and "Traceback" not in p.stderr and str(out) in p.stderr, p.stderr
        assert time.monotonic() - t < 5  # no 20,000-report build first
    assert f.read_text() == "x"


def test_views_that_keep_no_image_warn(tmp_path):
    p = kg("build", "--sample", "--out", tmp_path / "g", "--quiet", "--views", "XYZ")
    (line,) = [x for x in p.stderr.splitlines() if "--views" in x]
    assert line.startswith("warning: --views XYZ kept no image: 63 image(s)") and "LATERAL 21" in line


def test_eval_warns_about_labelled_reports_missing_from_the_corpus(tmp_path):
    from kg.sample import sample_corpus

    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"s50000011": {"pneumothorax": "definitely absent"},
                                  "nope1": {"pneumothorax": "definitely present"},
                                  "nope2": {"pneumothorax": "definitely present"}}))
    p = kg("eval", "extract", sample_corpus(), "--labels", labels, "--json")
    r = json.loads(p.stdout)
    assert "2 labelled report(s) are not in" in p.stderr and "nope1" in p.stderr
    assert r["reports"] == 1 and r["missingReports"] == ["nope1", "nope2"]
    assert r["micro"]["positive"]["fn"] == 0  # the missing reports are not counted as misses
    assert r["micro"]["negative"]["tp"] == 1


def test_output_is_whole_when_piped(tmp_path):
    out = tmp_path / "g"
    p = kg("build", "--sample", "--out", out)
    lines = p.stdout.splitlines()
    assert sum(1 for x in lines if "NaF" in x) == 1  # said once
    assert any(x.startswith("Polarity (cross-modal edges):") and "merge conflicts" in x for x in lines)
    assert max(len(x) for x in lines) > 80  # nothing wrapped at 80 columns
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"id": "a", "text": "FINDINGS: No effusion."}) + "\n")
    assert "1 study," in kg("build", one, "--out", tmp_path / "g1", "--quiet").stdout
    ids = (out / "index" / "ids.txt").read_text().split()
    sim = kg("similar", out, ids[0], "-k", "3").stdout
    assert sum(1 for i in ids if i in sim) >= 4  # the query and its 3 neighbours, every id whole
    assert "…" not in sim
    nb = kg("neighbors", out, "Pleural effusion").stdout
    assert "…" not in nb and "support=" in nb
    info = json.loads(kg("neighbors", out, "Pleural effusion", "--json").stdout)
    assert info["concept"]["cui"] == "C0032227"
    assert any(e["type"] == "SUGGESTIVE_OF" and e["properties"]["support"] >= 1 for e in info["edges"])


def test_report_is_written_and_rerendered(tmp_path):
    out = tmp_path / "g"
    kg("build", "--sample", "--out", out, "--quiet")
    page = (out / "report.html").read_text()
    for text in ("medkg build report", "Polarity per concept", "Concept co-occurrence", "Quarantine",
                 "Time per stage", "sha256:", "rules/", "pixels", "Pleural effusion"):
        assert text in page, text
    assert page.count("<svg") >= 3  # the charts are inline
    assert not re.findall(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", page) and "<link" not in page  # nothing fetched
    (out / "report.html").unlink()
    assert "report.html" in kg("report", out).stdout
    assert "Polarity per concept" in (out / "report.html").read_text()


def test_report_shows_quarantine_reasons(tmp_path):
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "FINDINGS: Cardiomegaly."}) + "\n{broken\n"
                   + json.dumps({"id": "a", "text": "FINDINGS: Edema."}) + "\n")
    kg("build", src, "--out", tmp_path / "g", "--quiet")
    page = (tmp_path / "g" / "report.html").read_text()
    assert "Quarantine (2)" in page and "duplicate record id" in page and "invalid JSON" in page
