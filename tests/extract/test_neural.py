"""The transformers backend, loaded the way users load theirs, on a tiny random model built here."""

import pytest

torch = pytest.importorskip("torch", reason="the nlp extra (torch, transformers) is not installed")
transformers = pytest.importorskip("transformers")

from extract.neural import BIO_LABELS, TransformersExtractor  # noqa: E402
from kg.core.errors import InvalidInput, Unavailable  # noqa: E402

WORDS = ("no pleural effusion pneumothorax left basilar atelectasis opacity in the lower lobe likely "
         "pneumonia heart is mildly enlarged et tube , . findings impression : small right").split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    d = tmp_path_factory.mktemp("tiny-tagger")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS))]
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128,
                     id2label=dict(enumerate(BIO_LABELS)), label2id={x: i for i, x in enumerate(BIO_LABELS)})
    model = BertForTokenClassification(cfg)
    # teach it a little so the output is not all one tag: a few steps on rule-labelled sentences
    from extract.rules import RulesExtractor

    rx = RulesExtractor()
    sents = ["FINDINGS: No pleural effusion.", "FINDINGS: Left basilar atelectasis.", "FINDINGS: Likely pneumonia.",
             "FINDINGS: Small right pleural effusion."]
    batch_words, batch_tags = [], []
    for s in sents:
        x = rx.extract("t", s)
        words = [s[a:b] for a, b in x.tokens][2:]  # drop "FINDINGS", ":"
        tags = ["O"] * len(words)
        for e in x.entities:
            for k in range(e.start_ix - 2, e.end_ix - 1):
                tags[k] = ("B-" if k == e.start_ix - 2 else "I-") + e.label
        batch_words.append(words)
        batch_tags.append(tags)
    enc = tok(batch_words, is_split_into_words=True, padding=True, return_tensors="pt")
    labels = torch.full(enc["input_ids"].shape, -100)
    for i in range(len(batch_words)):
        for pos, w in enumerate(enc.word_ids(i)):
            if w is not None:
                labels[i, pos] = BIO_LABELS.index(batch_tags[i][w])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(200):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


def test_loads_from_folder_and_tags_entities(tiny_model):
    x = TransformersExtractor(model=str(tiny_model), device="cpu")
    text = "FINDINGS: No pleural effusion. Left basilar atelectasis."
    out = x.extract("r", text)
    assert out.extractor.startswith("transformers/")
    for e in out.entities:
        assert text[e.start : e.end] == e.text and e.label in ("ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA")
    labels = {e.text.lower(): e.label for e in out.entities}
    assert labels.get("pleural effusion") == "OBS-DA"
    assert labels.get("atelectasis") == "OBS-DP"
    pol = {c.name: c.polarity for c in out.concepts}
    assert pol.get("Pleural effusion") == "negative" and pol.get("Atelectasis") == "positive"


def test_batched_equals_single_and_is_deterministic(tiny_model):
    x = TransformersExtractor(model=str(tiny_model), device="cpu", batch_size=2)
    texts = [f"FINDINGS: {s}" for s in ("No pleural effusion.", "Likely pneumonia.", "Small right pleural effusion.")]
    many = x.extract_many([(str(i), t, None) for i, t in enumerate(texts)])
    one = [x.extract(str(i), t) for i, t in enumerate(texts)]
    assert [m.entities for m in many] == [o.entities for o in one]


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDKG_EXTRACT_MODEL", raising=False)
    with pytest.raises(InvalidInput, match="needs a model"):
        TransformersExtractor()
    with pytest.raises(InvalidInput, match="cannot load"):
        TransformersExtractor(model=str(tmp_path / "nope"))


def test_radgraph_backend_without_package_says_what_to_install():
    from extract.base import get_extractor
    from extract.lexicon import Lexicon

    try:
        import radgraph  # noqa: F401
        pytest.skip("radgraph is installed here")
    except ImportError:
        pass
    with pytest.raises(Unavailable, match="pip install radgraph"):
        get_extractor("radgraph", Lexicon.default())


def test_kg_extract_with_the_transformers_backend_on_ray_matches_the_local_engine(tiny_model, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    import subprocess
    import sys

    from kg.sample import write_sample

    corpus = write_sample(tmp_path / "corpus")
    outs = {}
    for engine in ("local", "ray"):
        outs[engine] = tmp_path / f"{engine}.jsonl"
        subprocess.run([sys.executable, "-m", "kg", "extract", str(corpus), "--out", str(outs[engine]), "--quiet",
                        "--engine", engine, "--workers", "2", "--extractor", f"transformers:{tiny_model}"],
                       check=True, capture_output=True)
    local = outs["local"].read_text()
    assert local.count("\n") == 42 and local == outs["ray"].read_text()
