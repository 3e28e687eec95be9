"""An edge's evidence is typed end to end: Parquet list<struct> as the build writes it, read back field for field
into citations; a build in the previous store format gets a clear message, and `kg build` replaces it."""

import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from graph.model import EVIDENCE_TYPE, Evidence
from graph.store import FORMAT_VERSION
from graph.stores import open_store
from kg.core.errors import InvalidInput


def test_evidence_is_a_struct_column_read_back_exactly(sample_build):
    from kg.sample import sample_corpus

    t = pq.read_table(sample_build / "edges" / "Image_POSITIVE_Concept.parquet")
    assert t.schema.field("evidence").type == EVIDENCE_TYPE
    rows = t.to_pylist()
    assert rows
    reports = {p.stem: p.read_text() for p in sample_corpus().rglob("s*.txt")}
    for row in rows:
        spans = [Evidence.from_row(ev) for ev in row["evidence"]]
        for ev in spans:
            assert ev.report_id == row["reportId"] and ev.extractor == row["extractor"]
            assert reports[ev.report_id][ev.start : ev.end] == ev.text
            assert Evidence.from_row(ev.as_row()) == ev
        assert "positive" in {ev.polarity for ev in spans}  # the mention that decided the POSITIVE edge
    findings = pq.read_table(sample_build / "retrieval" / "image_findings.parquet")
    assert findings.schema.field("evidence").type == EVIDENCE_TYPE


def test_a_build_in_the_previous_format_says_to_build_again(sample_build, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(sample_build, old)
    m = json.loads((old / "manifest.json").read_text())
    m["format"] = FORMAT_VERSION - 1
    (old / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(InvalidInput) as e:
        open_store(old)
    assert e.value.code == "E1151" and "kg build" in e.value.fix
    env = os.environ.copy()
    p = subprocess.run([sys.executable, "-m", "kg", "stats", str(old)], capture_output=True, text=True, env=env)
    assert p.returncode != 0 and "E1151" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "kg", "build", "--sample", "--out", str(old), "--quiet"],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert open_store(old).manifest.format == FORMAT_VERSION
