"""graph/store/outdir.py: a build replaces only its own files, and only once complete; a kill at any point of the
swap is finished by the next reader; the user's files are never deleted or overwritten."""

import json
import os

import pytest

import graph.store.outdir as outdir
from graph.store import FORMAT_VERSION, read_manifest
from graph.store.outdir import BuildOutput, OutputConflict, recover
from kg.core.errors import Conflict, InvalidInput


def build(out, tag: str, *, extra=None, fail=False):
    b = BuildOutput(out)
    with b as staging:
        for rel in ("nodes/Study.parquet", "edges/Study_HAS_REPORT_Report.parquet", "index/ids.txt",
                    "quarantine.jsonl", "report.html", *(extra or ())):
            p = staging / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(tag)
        if fail:
            raise RuntimeError("the build failed")
        m = {"medkg": "test", "format": FORMAT_VERSION, "tag": tag, "files": sorted([*b.files(), "manifest.json"])}
        (staging / "manifest.json").write_text(json.dumps(m))
        b.commit()


def state(out) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith(".medkg")}


def test_rebuild_keeps_the_users_files_everywhere(tmp_path):
    out = tmp_path / "g"
    build(out, "one", extra=("nodes/Old.parquet",))
    (out / "my-notes.txt").write_text("notes")
    (out / "figs").mkdir()
    (out / "figs" / "a.svg").write_text("<svg/>")
    (out / "nodes" / "mine.txt").write_text("mine")  # inside a folder medkg owns
    (out / "graph.graphml").write_text("export")
    build(out, "two")
    s = state(out)
    assert s["my-notes.txt"] == "notes" and s["figs/a.svg"] == "<svg/>" and s["graph.graphml"] == "export"
    assert s["nodes/mine.txt"] == "mine"
    assert "nodes/Old.parquet" not in s  # the previous build's own file is gone with it
    assert s["nodes/Study.parquet"] == "two" and json.loads(s["manifest.json"])["tag"] == "two"
    assert not (out / outdir.STAGING).exists() and not (out / outdir.PREVIOUS).exists()


def test_a_failed_build_leaves_the_previous_one(tmp_path):
    out = tmp_path / "g"
    build(out, "one")
    before = state(out)
    with pytest.raises(RuntimeError):
        build(out, "two", fail=True)
    assert state(out) == before and not (out / outdir.STAGING).exists()


def test_a_killed_build_leaves_the_previous_one_and_its_staging_is_dropped(tmp_path):
    out = tmp_path / "g"
    build(out, "one")
    before = state(out)
    staging = out / outdir.STAGING  # what a build killed before its swap leaves
    (staging / "nodes").mkdir(parents=True)
    (staging / "nodes" / "Study.parquet").write_text("half")
    assert read_manifest(out).tag == "one"
    assert state(out) == before and not staging.exists()


def test_a_kill_at_any_point_of_the_swap_is_finished_by_the_next_reader(tmp_path, monkeypatch):
    real = os.replace
    for crash_after in range(100):
        out = tmp_path / str(crash_after) / "g"
        build(out, "one")
        (out / "nodes" / "mine.txt").write_text("mine")
        calls = []

        def crashing(a, b, calls=calls, crash_after=crash_after):
            if len(calls) == crash_after:
                raise KeyboardInterrupt("killed")  # as abrupt as it gets in-process
            calls.append(1)
            return real(a, b)

        monkeypatch.setattr(outdir.os, "replace", crashing)
        try:
            build(out, "two")
            crashed = False
        except KeyboardInterrupt:
            crashed = True
        monkeypatch.setattr(outdir.os, "replace", real)
        m = read_manifest(out)  # a reader: finishes the swap, or drops a staging never marked complete
        s = state(out)
        tags = {v for k, v in s.items() if k not in ("manifest.json", "nodes/mine.txt")}
        assert tags == {m.tag}, (crash_after, s)  # never a mix of two builds
        assert m.tag == ("one" if crash_after == 0 else "two"), crash_after  # marked complete: rolled forward
        assert s["nodes/mine.txt"] == "mine"
        assert not (out / outdir.STAGING).exists() and not (out / outdir.PREVIOUS).exists()
        if not crashed:
            break
    assert crash_after >= 12  # the mark, each part out and in, the user's file back: every step was cut once


def test_a_folder_that_is_not_a_build_is_refused_unless_forced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("x")
    with pytest.raises(Conflict, match="holds no medkg build"):
        BuildOutput(out).check()
    BuildOutput(out, force=True).check()
    build_forced = BuildOutput(out, force=True)
    with build_forced as staging:
        (staging / "nodes").mkdir()
        (staging / "nodes" / "A.parquet").write_text("a")
        (staging / "manifest.json").write_text(json.dumps({"medkg": "t", "format": FORMAT_VERSION,
                                                           "files": ["manifest.json", "nodes/A.parquet"]}))
        build_forced.commit()
    assert (out / "thesis.tex").read_text() == "x"


def test_force_never_replaces_a_path_medkg_did_not_write(tmp_path):
    out = tmp_path / "mine"
    (out / "index").mkdir(parents=True)
    (out / "index" / "my-index.html").write_text("x")
    with pytest.raises(OutputConflict, match="index"):
        BuildOutput(out, force=True).check()
    assert (out / "index" / "my-index.html").read_text() == "x"


def test_out_that_is_a_file_or_cannot_be_created(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(InvalidInput, match="is a file"):
        BuildOutput(f).check()
    with pytest.raises(InvalidInput, match="cannot create"):
        BuildOutput(f / "sub").check()


def test_recover_leaves_a_clean_folder_alone(tmp_path):
    build(tmp_path / "g", "one")
    before = state(tmp_path / "g")
    recover(tmp_path / "g")
    assert state(tmp_path / "g") == before
