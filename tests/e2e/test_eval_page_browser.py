"""kg eval rag's page as a user opens it: headless Chromium loads it from disk with no network, its charts render
with a size; a file at --html that medkg did not write is left as it was."""

import json
import os
import subprocess
import sys

from tests.e2e.conftest import BROWSER_DIR


def test_the_eval_page_opens_in_a_browser(sample_build, tmp_path, chromium):
    page = tmp_path / "eval" / "rag.html"
    p = subprocess.run([sys.executable, "-m", "kg", "eval", "rag", sample_build, "--model", "retrieval-only",
                        "--split", "all", "--contexts", "none,fixed:7", "-q", "--html", page],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    shot = tmp_path / "eval.png"
    env = {**os.environ, "CHROMIUM": chromium, "MEDKG_REPORT": str(page), "MEDKG_SHOT": str(shot)}
    r = subprocess.run(["node", "report.js"], cwd=BROWSER_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["title"].startswith("medkg eval rag: retrieval-only on 42 images of all (report)")
    assert {"Scores per context setting", "Differences", "F1 per label"} <= set(info["headings"])
    assert len(info["charts"]) == 2 and min(info["charts"]) > 200 and info["requests"] == []
    mine = tmp_path / "notes.html"
    mine.write_text("my own notes")
    p = subprocess.run([sys.executable, "-m", "kg", "eval", "rag", sample_build, "--model", "prior", "--split", "all",
                        "--contexts", "none", "-q", "--html", mine], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "E3102" in p.stderr and mine.read_text() == "my own notes"
