"""kg/sample: `kg sample DIR --studies N --images`, a larger corpus to try medkg on, built like the sample."""

import csv
import subprocess
import sys

KG = [sys.executable, "-m", "kg"]


def test_a_generated_corpus_builds_with_views_and_splits(tmp_path):
    p = subprocess.run([*KG, "sample", str(tmp_path / "c"), "--studies", "60", "--images", "-q"], capture_output=True,
                       text=True)
    assert p.returncode == 0 and "wrote 60 studies (20 patients, with images)" in p.stdout, p.stderr
    with (tmp_path / "c" / "mimic-cxr-2.0.0-split.csv").open() as fh:
        split = list(csv.DictReader(fh))
    with (tmp_path / "c" / "mimic-cxr-2.0.0-metadata.csv").open() as fh:
        views = {r["dicom_id"]: r["ViewPosition"] for r in csv.DictReader(fh)}
    assert {r["split"] for r in split} == {"train", "validate", "test"}
    assert all(len({r["split"] for r in split if r["subject_id"] == s}) == 1 for s in {r["subject_id"] for r in split})
    assert {"PA", "LATERAL"} <= set(views.values())
    b = subprocess.run([*KG, "build", str(tmp_path / "c"), "--out", str(tmp_path / "g"), "-q"], capture_output=True,
                       text=True)
    assert b.returncode == 0, b.stderr
    from graph.store import FileStore

    s = FileStore(tmp_path / "g")
    assert s.manifest.records.built == 60 and s.manifest.images.skipped_by_view == sum(
        v == "LATERAL" for v in views.values())
    assert {r["split"] for r in s.nodes("Study")} == {"train", "validate", "test"}


def test_it_never_writes_into_a_folder_with_files(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    for args in (["--studies", "3"], []):
        p = subprocess.run([*KG, "sample", str(tmp_path / "mine"), *args], capture_output=True, text=True)
        assert p.returncode == 2 and "E306" in p.stderr and "Traceback" not in p.stderr
    assert [x.name for x in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    p = subprocess.run([*KG, "sample", str(tmp_path / "new"), "--images"], capture_output=True, text=True)
    assert p.returncode == 2 and "--studies" in p.stderr
