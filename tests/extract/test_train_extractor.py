"""`kg train-extractor` on a tiny randomly initialised encoder built here, trained on radgraph-dev for a few steps."""

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="the nlp extra (torch, transformers) is not installed")
pytest.importorskip("transformers")

from extract.train_extractor import bio_tags, spans  # noqa: E402


def kg(*args, ok=True):
    p = subprocess.run([sys.executable, "-m", "kg", *map(str, args)], capture_output=True, text=True, timeout=900)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, shared_data):
    """A 2-layer BERT with hidden size 32 and a word-level vocabulary of the dev set: random weights, no download."""
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    from extract.radgraph import read_radgraph

    words = {w.lower() for d in read_radgraph(shared_data / "radgraph-dev" / "radgraph_xl.json") for w in d.text.split(" ")}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    d = tmp_path_factory.mktemp("base")
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(d)
    torch.manual_seed(0)
    BertForTokenClassification(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=64,
                                          max_position_embeddings=512)).save_pretrained(d)
    return d


def test_bio_tags_round_trip_radgraph_spans(shared_data):
    from extract.radgraph import read_radgraph

    doc = read_radgraph(shared_data / "radgraph-dev" / "radgraph_xl.json")[0]
    words, tags = bio_tags(doc)
    assert len(words) == len(tags) and spans(tags) == {(e.start_ix, e.end_ix, e.label) for e in doc.entities}


def test_train_extractor_learns_and_the_transformers_backend_reads_it(tiny_base, shared_data, tmp_path):
    gold = shared_data / "radgraph-dev" / "radgraph_xl.json"
    out = tmp_path / "tagger"
    p = kg("train-extractor", gold, "--base", tiny_base, "--out", out, "--epochs", "4", "--lr", "3e-3",
           "--batch-size", "16", "--device", "cpu")
    rec = json.loads((out / "medkg-train.json").read_text())
    f1 = rec["validEntityF1"]
    assert rec["documents"] == {"train": 270, "valid": 30} and "held-out entity F1" in p.stdout
    assert f1["after"]["f1"] > f1["before"]["f1"] + 0.2, f1  # a few steps take it far from random
    assert rec["history"][-1]["loss"] < rec["history"][0]["loss"]
    x = json.loads(kg("eval", "extract", "--radgraph", gold, "--extractor", f"transformers:{out}", "--json").stdout)
    assert x["extractor"].startswith("transformers") and x["entity"]["f1"] > 0.2
    again = kg("train-extractor", gold, "--base", tiny_base, "--out", out, "--epochs", "1", "--lr", "3e-3",
               "--batch-size", "32", "--device", "cpu")  # its own folder: replaced
    assert again.returncode == 0 and json.loads((out / "medkg-train.json").read_text())["settings"]["epochs"] == 1


def test_train_extractor_never_overwrites_a_users_folder(tiny_base, shared_data, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    p = kg("train-extractor", shared_data / "radgraph-dev" / "radgraph_xl.json", "--base", tiny_base, "--out", mine,
           ok=False)
    assert p.returncode == 2 and "E3101" in p.stderr and (mine / "notes.txt").read_text() == "keep me"
    p = kg("train-extractor", shared_data / "radgraph-dev" / "radgraph_xl.json", "--base", tmp_path / "nothing",
           "--out", tmp_path / "t", ok=False)
    assert p.returncode == 2 and "E1140" in p.stderr and "Traceback" not in p.stderr
