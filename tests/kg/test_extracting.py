import json
import subprocess
import sys

from extract.radgraph import (
    extraction_doc,
    read_radgraph,
    score_radgraph,
    write_radgraph,
)
from extract.rules import RulesExtractor

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures"


def kg(*args):
    return subprocess.run([sys.executable, "-m", "kg", *map(str, args)], capture_output=True, text=True)


def test_kg_extract_writes_schema_and_quarantines_bad_input(tmp_path):
    src = tmp_path / "reports"
    src.mkdir()
    (src / "a.txt").write_text("FINDINGS: No pleural effusion. Left basilar atelectasis.\nIMPRESSION: Atelectasis.")
    (src / "b.txt").write_text("")  # empty
    (src / "c.txt").write_text("INDICATION: cough\n\nCOMPARISON: none")  # only non-findings headers
    (src / "d.txt").write_text("FINDINGS: " + "opacity " * 130_000)  # ~1 MB on one line
    (src / "e.txt").write_bytes(bytes(range(256)) * 40)  # binary garbage
    (src / "f.txt").write_bytes("FINDINGS: caf\u00e9 effusion. ".encode() + "na\u00efve".encode("latin-1"))  # mixed
    out = tmp_path / "x.jsonl"
    p = kg("extract", src, "--out", out, "--quiet", "--workers", "2")
    assert p.returncode == 0, p.stderr
    assert "read 6 = written 2 + quarantined 4" in p.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    a = next(r for r in rows if r["id"] == "a")
    assert set(a) >= {"id", "sections", "entities", "concepts"}
    assert a["sections"]["findings"]["start"] < a["sections"]["impression"]["start"]
    pol = {(c["name"], c["section"]): c["polarity"] for c in a["concepts"]}
    assert pol[("Pleural effusion", "findings")] == "negative"
    assert pol[("Atelectasis", "impression")] == "positive"
    ent = a["entities"]["1"]
    assert set(ent) == {"tokens", "label", "start_ix", "end_ix", "relations"}
    q = [json.loads(line) for line in (tmp_path / "x.quarantine.jsonl").read_text().splitlines()]
    assert {r["record"] for r in q} == {"b", "c", "e", "f"}


def test_radgraph_roundtrip_and_labeler_variant(tmp_path):
    x = RulesExtractor()
    text = "FINDINGS: Opacity in the left lower lobe, likely atelectasis. No effusion."
    doc = extraction_doc("r1", x.extract("r1", text), text)
    write_radgraph([doc], tmp_path / "a.json")
    (back,) = read_radgraph(tmp_path / "a.json")
    assert back == doc
    write_radgraph([back], tmp_path / "b.json")
    assert read_radgraph(tmp_path / "b.json") == [doc]
    gold = read_radgraph(FIXTURES / "radgraph_gold.json", labeler="labeler_1")
    assert [len(d.entities) for d in gold] == [5, 3]
    assert len(read_radgraph(FIXTURES / "radgraph_gold.json", labeler="labeler_2")[0].entities) == 1


def test_radgraph_scoring_counts_like_the_paper():
    gold = read_radgraph(FIXTURES / "radgraph_gold.json", labeler="labeler_1")
    perfect = score_radgraph(gold, {d.id: d for d in gold})
    assert perfect["entity"]["f1"] == 1.0 and perfect["relation"]["f1"] == 1.0
    p = kg("eval", "extract", "--radgraph", FIXTURES / "radgraph_gold.json", "--labeler", "labeler_1", "--json")
    res = json.loads(p.stdout)
    assert res["documents"] == 2 and 0 < res["entity"]["f1"] <= 1 and res["entity"]["tp"] >= 5


def test_eval_labels_on_a_tiny_set(tmp_path):
    src = tmp_path / "r"
    src.mkdir()
    (src / "r1.txt").write_text("FINDINGS: Small left pleural effusion. No pneumothorax.")
    (src / "r2.txt").write_text("IMPRESSION: Possible pneumonia. Heart size is normal.")
    labels = {"r1": {"pleural_effusion": "definitely present", "pneumothorax": "definitely absent"},
              "r2": {"pneumonia": "uncertain", "cardiomegaly": "definitely absent", "atelectasis": "definitely present"}}
    (tmp_path / "l.json").write_text(json.dumps(labels))
    p = kg("eval", "extract", src, "--labels", tmp_path / "l.json", "--json")
    res = json.loads(p.stdout)
    assert res["micro"]["positive"] == {"tp": 1, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.5, "f1": 0.6667}
    assert res["micro"]["negative"]["tp"] == 2 and res["micro"]["uncertain"]["tp"] == 1




def test_kg_extract_and_eval_use_the_umls_release(tmp_path):
    """--umls reaches `kg extract` and `kg eval` (they run the same per-study step as `kg build`): the concepts
    come from the release (a three-concept fixture here), not from the bundled lexicon."""
    meta = FIXTURES / "umls" / "META"
    src = tmp_path / "r"
    src.mkdir()
    (src / "a.txt").write_text("FINDINGS: Fluid in pleural cavity. No enlarged heart.")
    p = kg("extract", src, "--out", tmp_path / "x.jsonl", "--umls", meta, "-q")
    assert p.returncode == 0, p.stderr
    (obj,) = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert "+umls:" in obj["extractor"]
    assert {c["cui"]: c["polarity"] for c in obj["merged"]} == {"C0018800": "negative"}
    assert kg("extract", src, "--out", tmp_path / "y.jsonl", "-q").returncode == 0  # the bundled lexicon
    lex = json.loads((tmp_path / "y.jsonl").read_text())
    assert "+lexicon:" in lex["extractor"] and len(lex["merged"]) > 1
    (tmp_path / "l.json").write_text(json.dumps({"a": {"cardiomegaly": "definitely absent"}}))
    p = kg("eval", "extract", src, "--labels", tmp_path / "l.json", "--umls", meta, "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["micro"]["negative"]["tp"] == 1 and "+umls:" in r["extractor"]


def test_every_corpus_command_drops_a_repeated_id_the_same_way(tmp_path):
    """kg extract, kg label and kg eval extract share the step runner: the second record with an id is
    quarantined (named with both sources), the first is kept, and kg eval scores only the first."""
    src = tmp_path / "r.jsonl"
    src.write_text(json.dumps({"id": "r1", "text": "FINDINGS: Small left pleural effusion."}) + "\n"
                   + json.dumps({"id": "r1", "text": "FINDINGS: No pleural effusion."}) + "\n")
    p = kg("extract", src, "--out", tmp_path / "x.jsonl", "--quiet", "--engine", "local")
    assert p.returncode == 0, p.stderr
    assert "read 2 = written 1 + quarantined 1" in p.stdout
    q = [json.loads(x) for x in (tmp_path / "x.quarantine.jsonl").read_text().splitlines()]
    assert [(r["record"], r["stage"]) for r in q] == [("r1", "read")] and "duplicate record id" in q[0]["reason"]
    p = kg("label", src, "--schema", "chexpert", "--out", tmp_path / "l.csv", "--quiet")
    assert p.returncode == 0, p.stderr
    assert len((tmp_path / "l.csv").read_text().splitlines()) == 2  # header and the first r1
    assert "duplicate record id" in (tmp_path / "l.csv.quarantine.jsonl").read_text()
    (tmp_path / "gold.json").write_text(json.dumps({"r1": {"pleural_effusion": "definitely present"}}))
    res = json.loads(kg("eval", "extract", src, "--labels", tmp_path / "gold.json", "--json").stdout)
    assert res["micro"]["positive"]["tp"] == 1 and res["micro"]["negative"]["fp"] == 0  # the second r1 not scored


def test_the_old_engine_option_still_works_and_a_disagreement_is_named(tmp_path):
    src = tmp_path / "r"
    src.mkdir()
    (src / "a.txt").write_text("FINDINGS: No pneumothorax.")
    p = kg("extract", src, "--out", tmp_path / "x.jsonl", "--quiet", "--executor", "local")
    assert p.returncode == 0, p.stderr
    assert "--executor" not in kg("extract", "--help").stdout  # hidden: --engine is the name
    p = kg("extract", src, "--out", tmp_path / "y.jsonl", "--quiet", "--engine", "local", "--executor", "processes")
    assert p.returncode == 2 and "E1152" in p.stderr and "pass --engine only" in p.stderr and "Traceback" not in p.stderr
