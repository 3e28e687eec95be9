"""kg eval rag's metrics on cases whose answers are known by construction."""

import math

import numpy as np
import pytest

from kg.core.errors import InvalidInput
from kg.rag_eval.cases import Case
from kg.rag_eval.scoring import clinical_efficacy, mcnemar, paired_bootstrap, vqa_items, yes_no
from kg.rag_eval.settings import parse_settings


def labels(**present):
    out = {"No Finding": None, "Cardiomegaly": None, "Edema": None, "Pleural Effusion": None, "Pneumothorax": None}
    for k, v in present.items():
        out[k.replace("_", " ")] = v
    return out


def test_clinical_efficacy_counts_the_positive_class_by_hand():
    pairs = [
        (labels(Cardiomegaly=1.0, Edema=1.0), labels(Cardiomegaly=1.0)),  # tp 1, fn 1
        (labels(Pleural_Effusion=1.0), labels(Pleural_Effusion=1.0, Pneumothorax=1.0)),  # tp 1, fp 1
        (labels(Edema=-1.0), labels(Edema=1.0)),  # uncertain reference: not positive -> fp 1
        (labels(Pneumothorax=0.0), labels(Pneumothorax=0.0)),  # absent on both: nothing
    ]
    ce = clinical_efficacy(pairs)
    assert ce["micro"] == {"precision": 0.5, "recall": round(2 / 3, 4), "f1": round(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3), 4)}
    # macro over the labels the references have: Cardiomegaly 1.0, Edema 0.0 (one miss, one false alarm), Pleural
    # Effusion 1.0; Pneumothorax, never present in a reference, is not averaged in
    assert ce["macro"]["f1"] == round((1.0 + 0.0 + 1.0) / 3, 4)
    assert ce["per_label"]["Pneumothorax"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert clinical_efficacy([(labels(Edema=1.0), labels(Edema=1.0))])["micro"]["f1"] == 1.0  # a report against itself


def test_vqa_items_are_balanced_and_follow_from_the_reports():
    cases = [Case(f"i{n}", f"s{n}", "p", "", f"r{n}", "", labels(Edema=v)) for n, v in
             enumerate([1.0, 1.0, 1.0, 0.0, -1.0, None])]
    items = vqa_items(cases, seed=1)
    assert sorted(i.answer for i in items) == ["no", "yes"]  # one absent case: one yes kept of three
    assert {i.label for i in items} == {"Edema"} and all("pulmonary edema" in i.question for i in items)
    no = next(i for i in items if i.answer == "no")
    assert no.image_id == "i3"  # the stated-absent report; uncertain and unmentioned ones are never asked
    assert vqa_items(cases, seed=1) == items  # seeded


def test_answers_are_read_as_yes_or_no():
    assert yes_no("Yes, there is a small effusion.") == "yes" and yes_no("No.") == "no"
    assert yes_no("There is no effusion; yes, the heart is enlarged") == "no"  # the first one said
    assert yes_no("Cannot tell") is None


def test_mcnemar_exact_matches_the_binomial_by_hand():
    a = [True] * 8 + [False] * 2 + [True] * 5
    b = [False] * 8 + [True] * 2 + [True] * 5  # discordant: 8 only-a, 2 only-b
    m = mcnemar(a, b)
    p = 2 * sum(math.comb(10, i) for i in range(3)) / 2 ** 10
    assert m == {"only_first_right": 8, "only_second_right": 2, "p": round(p, 6)}
    assert mcnemar([True, False], [True, False])["p"] == 1.0


def test_the_bootstrap_interval_brackets_a_known_difference_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 1600):
        a, b = rng.random(n) < 0.5, rng.random(n) < 0.7
        d, lo, hi = paired_bootstrap(n, lambda idx, a=a, b=b: float(b[idx].mean() - a[idx].mean()), seed=0)
        assert lo <= d <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2  # about 1/sqrt(16) as wide


def test_context_settings_parse_and_bad_ones_are_named():
    got = parse_settings("fixed:7,none,ratio:1.5,auto")
    assert [s.name for s in got] == ["none", "fixed:7", "ratio:1.5", "auto"]
    assert got[1].options.k == 7 and got[2].options.gamma == 1.5 and got[3].options.k == "auto"
    both = parse_settings("fixed:7,fixed:7/findings-per-polarity")
    assert [(s.name, s.format) for s in both] == [("fixed:7", None), ("fixed:7/findings-per-polarity",
                                                                     "findings-per-polarity")]
    for bad in ("fixed:0", "ratio:0.5", "top:3", "fixed:3,fixed:3", "", "none/json", "fixed:7/xml"):
        with pytest.raises(InvalidInput) as e:
            parse_settings(bad)
        assert e.value.code in ("E1170", "E1171")


def test_radgraph_f1_of_a_gold_report_against_itself_and_another(shared_data):
    from extract.radgraph import read_radgraph
    from extract.radgraph_f1 import entity_set, radgraph_f1

    docs = read_radgraph(shared_data / "radgraph-dev" / "radgraph_xl.json")
    assert all(radgraph_f1(d, d) == {"simple": 1.0, "partial": 1.0, "complete": 1.0} for d in docs[:50])
    a, b = docs[0], docs[1]
    sa, sb = entity_set(a, "simple"), entity_set(b, "simple")
    assert radgraph_f1(a, b)["simple"] == round(2 * len(sa & sb) / (len(sa) + len(sb)), 4) < 0.2


def test_radgraph_f1_on_a_case_counted_by_hand():
    from extract.radgraph import RGDoc, RGEntity
    from extract.radgraph_f1 import radgraph_f1

    ref = RGDoc("r", "pleural effusion", (RGEntity("1", "effusion", "OBS-DP", 1, 1, (("located_at", "2"),)),
                                          RGEntity("2", "pleural", "ANAT-DP", 0, 0, ())))
    hyp = RGDoc("h", "pleural effusion edema", (RGEntity("1", "Effusion", "OBS-DP", 1, 1, ()),
                                                RGEntity("2", "pleural", "ANAT-DP", 0, 0, ()),
                                                RGEntity("3", "edema", "OBS-DA", 2, 2, ())))
    # simple: 2 of 2 reference entities, 2 of 3 generated: 2*2/(2+3); partial and complete: the effusion's relation
    # is missing, so only 'pleural' matches: 2*1/(2+3)
    assert radgraph_f1(ref, hyp) == {"simple": 0.8, "partial": 0.4, "complete": 0.4}
    moved = RGDoc("m", "", (RGEntity("1", "effusion", "OBS-DP", 1, 1, (("located_at", "2"),)),
                            RGEntity("2", "pleural", "ANAT-DA", 0, 0, ())))  # the relation's target has another label
    assert radgraph_f1(ref, moved) == {"simple": 0.5, "partial": 0.5, "complete": 0.0}
    empty = RGDoc("e", "", ())
    assert radgraph_f1(empty, empty)["complete"] == 1.0 and radgraph_f1(ref, empty)["simple"] == 0.0


def test_bleu_and_rouge_come_from_their_libraries():
    pytest.importorskip("sacrebleu")
    from kg.rag_eval.scoring import text_metrics

    same = text_metrics(["Small left pleural effusion. No pneumothorax."] * 2,
                        ["Small left pleural effusion. No pneumothorax."] * 2)
    assert same == {"bleu4": 1.0, "rougeL": 1.0}
    other = text_metrics(["Small left pleural effusion."], ["Heart size is normal."])
    assert other["rougeL"] == 0.0  # no word in common (ROUGE's tokenizer drops the full stop)
    assert other["bleu4"] < 0.2  # only the full stop in common: sacrebleu's default smoothing keeps it above 0
