"""The certainty scale, finding labels in the CheXpert and ChestX-ray14 layouts, and `kg label` / `kg eval labels`."""

import csv
import json
import subprocess
import sys

import pytest

from extract.certainty import certainty_of
from extract.labels import LabelPolicy, label_row, label_states, load_label_map, score_label_csvs
from extract.rules import RulesExtractor
from kg.core.errors import InvalidInput


@pytest.fixture(scope="module")
def rules():
    return RulesExtractor()


def states(rules, text, schema="chexpert"):
    x = rules.extract("r", "FINDINGS: " + text)
    return label_states(x.concepts, load_label_map(schema)), x


@pytest.mark.parametrize("text,label,state", [
    ("Right pleural effusion.", "Pleural Effusion", "definite"),
    ("No pleural effusion.", "Pleural Effusion", "absent"),
    ("Left basilar opacity, likely atelectasis.", "Atelectasis", "probable"),
    ("Airspace disease consistent with pneumonia.", "Pneumonia", "probable"),
    ("Findings compatible with pulmonary edema.", "Edema", "probable"),
    ("Possible small left pneumothorax.", "Pneumothorax", "possible"),
    ("Pneumonia cannot be excluded.", "Pneumonia", "possible"),
    ("Atelectasis versus consolidation at the left base.", "Atelectasis", "differential"),
    ("Left basilar opacity, atelectasis or pneumonia.", "Pneumonia", "differential"),
    ("Basilar opacity which may represent atelectasis or pneumonia.", "Pneumonia", "possible"),  # inside a hedge
    ("Mild blunting of the left costophrenic angle.", "Pleural Effusion", "possible"),
    ("Patchy opacity concerning for pneumonia.", "Pneumonia", "possible"),
    ("Basilar opacity may be compatible with atelectasis.", "Atelectasis", "possible"),  # the modal's grade
    ("The heart is normal in size.", "Cardiomegaly", "absent"),
])
def test_each_mention_gets_a_certainty_and_the_rule_that_set_it(rules, text, label, state):
    got, x = states(rules, text)
    assert got.get(label) == state, (text, got)
    hedged = [m for m in x.mentions if m.polarity == "uncertain"]
    assert all(m.rule.startswith(("unc", "borderline", "sign:")) for m in hedged)
    assert all(c.certainty for c in x.concepts)


def test_certainty_maps_to_radgraph_labels_and_back():
    assert certainty_of("uncertain", "unc:likely") == "probable"
    assert certainty_of("uncertain", "unc:may") == "possible"
    assert certainty_of("uncertain", "") == "possible"  # a backend that records no trigger
    assert (certainty_of("positive"), certainty_of("negative")) == ("definite", "absent")


def test_policies_turn_states_into_labeler_values(rules):
    x = rules.extract("r", "FINDINGS: Likely left lower lobe atelectasis. Possible small effusion. No pneumothorax. "
                           "Endotracheal tube in place.")
    m = load_label_map("chexpert")
    keep = label_row(x.concepts, "chexpert", m, LabelPolicy())
    assert keep["Atelectasis"] == 1.0 and keep["Pleural Effusion"] == -1.0 and keep["Pneumothorax"] == 0.0
    assert keep["Support Devices"] == 1.0 and keep["Edema"] is None and keep["No Finding"] is None
    ones = label_row(x.concepts, "chexpert", m, LabelPolicy(uncertain="ones"))
    zeros = label_row(x.concepts, "chexpert", m, LabelPolicy(uncertain="zeros", probable="uncertain"))
    assert ones["Pleural Effusion"] == 1.0 and zeros["Pleural Effusion"] == 0.0 and zeros["Atelectasis"] == 0.0
    normal = rules.extract("r", "FINDINGS: Lungs are clear. No effusion. Right PICC line in place.")
    row = label_row(normal.concepts, "chexpert", m, LabelPolicy())
    assert row["No Finding"] == 1.0 and row["Support Devices"] == 1.0  # devices do not count against it
    cx = label_row(x.concepts, "chestxray14", load_label_map("chestxray14"), LabelPolicy(uncertain="zeros"))
    assert cx["Atelectasis"] == 1 and cx["Effusion"] == 0 and cx["normal"] == 0
    with pytest.raises(InvalidInput, match="uncertainty policy"):
        LabelPolicy(uncertain="maybe").check()


def kg(*args, ok=True):
    p = subprocess.run([sys.executable, "-m", "kg", *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def test_kg_label_writes_the_labelers_layouts_and_kg_eval_labels_scores_them(tmp_path):
    src = tmp_path / "reports.jsonl"
    reports = {"r1": "FINDINGS: Large right pleural effusion. IMPRESSION: Effusion, likely atelectasis.",
               "r2": "FINDINGS: The lungs are clear. No effusion or pneumothorax.",
               "r3": "IMPRESSION: Possible left lower lobe pneumonia."}
    src.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in reports.items()))
    kg("label", src, "--schema", "chexpert", "--out", tmp_path / "chexpert.csv", "-q")
    rows = list(csv.reader((tmp_path / "chexpert.csv").open()))
    assert rows[0] == ["Reports", "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion",
                       "Lung Opacity", "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
                       "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"]
    assert rows[1][0].startswith("Large right pleural effusion") and rows[1][11] == "1.0"
    assert rows[3][8] == "-1.0" and rows[2][1] == "1.0" and rows[2][10] == "0.0" and rows[2][5] == ""
    kg("label", src, "--schema", "chestxray14", "--out", tmp_path / "pred.csv", "-q")
    pred = list(csv.DictReader((tmp_path / "pred.csv").open()))
    assert [r["filename"] for r in pred] == ["r1", "r2", "r3"] and pred[0]["Effusion"] == "1" and pred[1]["normal"] == "1"
    gold = tmp_path / "gold.csv"
    cols = list(pred[0])
    with gold.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for rid, eff, pna in (("r1", 1, 0), ("r2", 0, 0), ("r3", 0, 1)):
            w.writerow([rid] + [eff if c == "Effusion" else pna if c == "Pneumonia" else 0 for c in cols[1:]])
    ev = score_label_csvs(tmp_path / "pred.csv", gold)
    assert ev.as_dict()["perLabel"]["Effusion"]["f1"] == 1.0 and ev.labels["Pneumonia"].fn == 1  # possible -> 0
    out = json.loads(kg("eval", "labels", tmp_path / "pred.csv", gold, "--json").stdout)
    assert out["reports"] == 3 and 0 < out["micro"]["f1"] <= 1
    (tmp_path / "other.csv").write_text("filename,Effusion\nx9,1\n")
    bad = kg("eval", "labels", tmp_path / "pred.csv", tmp_path / "other.csv", ok=False)
    assert bad.returncode == 2 and "E1135" in bad.stderr and "Traceback" not in bad.stderr
    bad = kg("label", src, "--schema", "mimic", "--out", tmp_path / "x.csv", ok=False)
    assert bad.returncode == 2 and "E1126" in bad.stderr and not (tmp_path / "x.csv").exists()


def test_radgraph_xl_output_files_are_read(tmp_path):
    """The radgraph package writes a list with one {"0": doc} per text, labels like 'Observation::uncertain' and
    measurement spans; documents are numbered by position."""
    from extract.radgraph import read_radgraph

    doc = lambda text, ents: {"0": {"text": text, "entities": ents}}  # noqa: E731
    raw = [doc("Small left effusion .", {"1": {"tokens": "Small", "label": "Observation::definitely present",
                                             "start_ix": 0, "end_ix": 0, "relations": [["modify", "3"]]},
                                       "2": {"tokens": "left", "label": "Anatomy::definitely present",
                                             "start_ix": 1, "end_ix": 1, "relations": []},
                                       "3": {"tokens": "effusion", "label": "Observation::uncertain",
                                             "start_ix": 2, "end_ix": 2, "relations": [["located_at", "2"]]}}),
           doc("3 cm nodule .", {"1": {"tokens": "3 cm", "label": "Observation::measurement::definitely present",
                                       "start_ix": 0, "end_ix": 1, "relations": []}})]
    (tmp_path / "xl.json").write_text(json.dumps(raw))
    docs = read_radgraph(tmp_path / "xl.json")
    assert [d.id for d in docs] == ["0", "1"]
    assert [e.label for e in docs[0].entities] == ["OBS-DP", "ANAT-DP", "OBS-U"] and docs[1].entities[0].label == "OBS-DP"
    (tmp_path / "bad.json").write_text(json.dumps([{"0": {"text": "x", "entities": {"1": {
        "tokens": "x", "label": "Device::present", "start_ix": 0, "end_ix": 0, "relations": []}}}}]))
    with pytest.raises(InvalidInput, match="label"):
        read_radgraph(tmp_path / "bad.json")


def test_radgraph_output_splits_phrases_as_radgraph_annotates_them(rules):
    """Lexicon phrases stay whole for concepts; the RadGraph view splits them into RadGraph's entities."""
    from extract.radgraph import to_radgraph

    text = "FINDINGS: Small left pleural effusion. No acute cardiopulmonary process. Unchanged mild cardiomegaly. " \
           "PA and lateral chest radiographs."
    x = rules.extract("r", text)
    ents = to_radgraph(x, text)
    by_word = {e["tokens"].lower(): e for e in ents.values()}
    assert by_word["pleural"]["label"] == "ANAT-DP" and by_word["effusion"]["label"] == "OBS-DP"
    assert ["located_at", next(k for k, e in ents.items() if e["tokens"] == "pleural")] in by_word["effusion"]["relations"]
    assert by_word["acute"]["label"] == "OBS-DA" and by_word["process"]["label"] == "OBS-DA"  # takes its label
    assert by_word["cardiopulmonary"]["label"] == "ANAT-DP"
    assert by_word["unchanged"]["label"] == "OBS-DP" and by_word["unchanged"]["relations"][0][0] == "modify"
    assert "chest" not in by_word  # the exam, not the patient
    assert any(c.cui == "C0032227" for c in x.concepts)  # the concept is still the whole phrase's
    assert {m.text.lower() for m in x.mentions if m.cui == "C0032227"} == {"pleural effusion"}


def test_certainty_and_modifiers_reach_the_graphs_concept_edges(rules, sample_build):
    """Modifier words stay with the concept they modify (edge properties), never concepts of their own."""
    x = rules.extract("r", "FINDINGS: Small left pleural effusion. No acute fracture. Likely mild edema.")
    got = {c.name: (c.certainty, c.modifiers) for c in x.concepts}
    assert got["Pleural effusion"] == ("definite", ("small",)) and got["Fracture"] == ("absent", ("acute",))
    assert got["Pulmonary edema"] == ("probable", ("mild",))
    from graph.store import FileStore

    store = FileStore(sample_build)
    rows = [r for i in store.index.ids for r in store.findings_of(i)]
    assert rows and all(r.get("certainty") in ("definite", "probable", "possible", "absent") for r in rows)
    assert any(r.get("modifiers") for r in rows)
    assert any((r.get("certaintyRule") or "").startswith("neg:") for r in rows if r["type"] == "NEGATIVE")
    names = {n["name"].lower() for n in store.graph.nodes["Concept"].rows}
    assert not names & {"small", "mild", "acute", "moderate"}


def test_radgraph_token_indices_match_radgraphs_own_tokens(shared_data):
    """`kg extract`'s RadGraph indices are comparable with RadGraph's: its whitespace tokens, "___" included (a
    de-identified name or date is one token), are medkg's tokens wherever RadGraph kept punctuation apart."""
    from extract.text import tokenize

    checked = 0
    for line in (shared_data / "radgraph-dev" / "reports.jsonl").read_text().splitlines():
        text = json.loads(line)["text"]
        words = text.split()
        if any(len(w) > 1 and not any(ch.isalnum() for ch in w) and set(w) != {"_"} for w in words):
            continue  # ".:", "..": punctuation RadGraph's tokenizer kept glued
        assert [text[a:b] for a, b in tokenize(text)] == words
        checked += 1
    assert checked > 280
