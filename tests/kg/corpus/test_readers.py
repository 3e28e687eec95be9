from pathlib import Path

import pytest

from kg.core.errors import InvalidInput, NotFound
from kg.corpus import Rejected, Study, detect_format, read_corpus

IU = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <uId id="CXR7"/>
  <MedlineCitation><Article><Abstract>
    <AbstractText Label="COMPARISON">None.</AbstractText>
    <AbstractText Label="INDICATION">Chest pain</AbstractText>
    <AbstractText Label="FINDINGS">The heart is normal in size. No pleural effusion or pneumothorax.</AbstractText>
    <AbstractText Label="IMPRESSION">No acute disease.</AbstractText>
  </Abstract></Article></MedlineCitation>
  <parentImage id="CXR7_IM-0001-1001"><url>/x/CXR7_IM-0001-1001.jpg</url></parentImage>
</eCitation>
"""


def test_mimic_reader_on_sample(tmp_path):
    from tests.conftest import copy_sample

    root = copy_sample(tmp_path / "mimic")
    assert detect_format(root) == "mimic"
    recs = list(read_corpus(root))
    studies = [r for r in recs if isinstance(r, Study)]
    assert len(studies) == 42 and len({s.patient_id for s in studies}) >= 15
    s = next(s for s in studies if s.id == "s50000011")
    assert s.patient_id == "p10000101" and s.split == "train"
    assert sorted(i.view_position for i in s.images) == ["LATERAL", "PA"]
    assert all(Path(i.path).is_file() for i in s.images)


def test_mimic_images_in_another_root_and_missing_image(tmp_path):
    from tests.conftest import copy_sample

    root = copy_sample(tmp_path / "all")
    images = tmp_path / "jpg"
    (images / "files").mkdir(parents=True)
    (root / "files").rename(images / "files_tmp")
    reports = tmp_path / "reports"
    (reports / "files").mkdir(parents=True)
    for txt in (images / "files_tmp").rglob("*.txt"):
        dest = reports / "files" / txt.relative_to(images / "files_tmp")
        dest.parent.mkdir(parents=True, exist_ok=True)
        txt.rename(dest)
    (images / "files_tmp").rename(images / "files")
    (root / "mimic-cxr-2.0.0-metadata.csv").rename(reports / "mimic-cxr-2.0.0-metadata.csv")
    one = next((images / "files").rglob("*.jpg"))
    one.unlink()
    studies = [r for r in read_corpus(reports, images=images) if isinstance(r, Study)]
    refs = {i.id: i for s in studies for i in s.images}
    assert len(refs) == 63
    assert not Path(refs[one.stem].path).exists()  # listed in metadata, kept for quarantine


def test_iu_xml_reader_and_broken_file(tmp_path):
    (tmp_path / "1.xml").write_text(IU)
    (tmp_path / "2.xml").write_text(IU.replace("CXR7", "CXR8")[:300])
    assert detect_format(tmp_path) == "iu-xml"
    recs = list(read_corpus(tmp_path))
    ok = [r for r in recs if isinstance(r, Study)]
    bad = [r for r in recs if isinstance(r, Rejected)]
    assert [s.id for s in ok] == ["CXR7"]
    assert "FINDINGS: The heart is normal" in ok[0].text and "IMPRESSION: No acute disease." in ok[0].text
    assert ok[0].images[0].id == "CXR7_IM-0001-1001"
    assert len(bad) == 1 and "XML parse error" in bad[0].reason and bad[0].source.startswith(str(tmp_path / "2.xml"))


def test_jsonl_reader_quarantines_bad_lines(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_bytes(
        b'{"id": "a", "text": "FINDINGS: No effusion."}\n'
        b'{"id": "b", "findings": "Small effusion.", "impression": "Effusion."}\n'
        b'{"id": "c", "text": ""}\n'
        b'{not json}\n'
        b'{"id": "d", "text": "caf\xe9"}\n'
    )
    recs = list(read_corpus(p))
    assert [r.id for r in recs if isinstance(r, Study)] == ["a", "b"]
    bad = [r for r in recs if isinstance(r, Rejected)]
    assert [b.source.rsplit(":", 1)[1] for b in bad] == ["3", "4", "5"]


def test_csv_reader_wrong_field_count(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text('id,text\na,"FINDINGS: No effusion."\nb,FINDINGS: x,extra\n')
    recs = list(read_corpus(p))
    assert isinstance(recs[0], Study) and isinstance(recs[1], Rejected)
    assert "wrong number of fields" in recs[1].reason


def test_text_folder_and_non_utf8(tmp_path):
    (tmp_path / "r1.txt").write_text("IMPRESSION: No effusion.")
    (tmp_path / "r2.txt").write_bytes(b"IMPRESSION: \xff\xfe bad")
    (tmp_path / "r3.txt").write_text("   \n")
    recs = list(read_corpus(tmp_path))
    assert isinstance(recs[0], Study)
    assert "UTF-8" in recs[1].reason and recs[2].reason == "empty report"


def test_unknown_and_missing_sources(tmp_path):
    with pytest.raises(NotFound):
        list(read_corpus(tmp_path / "nope"))
    with pytest.raises(InvalidInput):
        list(read_corpus(tmp_path, fmt="dicomweb"))
    (tmp_path / "x.bin").write_bytes(b"\x00")
    with pytest.raises(InvalidInput):
        detect_format(tmp_path / "x.bin")
