import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extract.concepts import normalise_phrase
from extract.lexicon import Lexicon
from extract.rules import RulesExtractor

X = RulesExtractor()


def polarity(text: str) -> dict[str, str]:
    return {c.name: c.polarity for c in X.extract("r", "FINDINGS: " + text).concepts}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("No pleural effusion, pneumothorax, or focal consolidation.",
         {"Pleural effusion": "negative", "Pneumothorax": "negative", "Lung consolidation": "negative"}),
        ("No effusion but there is left basilar atelectasis.", {"Pleural effusion": "negative", "Atelectasis": "positive"}),
        ("No change in the small right pleural effusion.", {"Pleural effusion": "positive"}),
        ("Opacity in the left lower lobe, likely atelectasis.", {"Pulmonary opacity": "positive", "Atelectasis": "uncertain"}),
        ("Pneumonia cannot be excluded.", {"Pneumonia": "uncertain"}),
        ("Atelectasis versus pneumonia.", {"Atelectasis": "uncertain", "Pneumonia": "uncertain"}),
        ("The endotracheal tube has been removed.", {"Endotracheal tube": "negative"}),
        ("Heart size is normal.", {"Cardiomegaly": "negative"}),
        ("The heart is mildly enlarged.", {"Cardiomegaly": "positive"}),
        ("The heart is not enlarged.", {"Cardiomegaly": "negative"}),
        ("Cardiac silhouette is top normal.", {"Cardiomegaly": "uncertain"}),
        ("Possible small pneumothorax.", {"Pneumothorax": "uncertain"}),
        ("Interval resolution of the right pleural effusion.", {"Pleural effusion": "negative"}),
        ("Opacity concerning for pneumonia.", {"Pulmonary opacity": "positive", "Pneumonia": "uncertain"}),
        # differentials: both alternatives are uncertain (RadGraph: OBS-U), unless a negation governs them
        ("Basilar opacity, either atelectasis or pneumonia.", {"Atelectasis": "uncertain", "Pneumonia": "uncertain"}),
        ("Left lower lobe collapse and/or consolidation.", {"Lung consolidation": "uncertain"}),
        ("No pleural effusion or pneumothorax.", {"Pleural effusion": "negative", "Pneumothorax": "negative"}),
        ("Small amount of pleural fluid or pleural thickening at the apex.",
         {"Pleural effusion": "uncertain", "Thickening of pleura": "uncertain"}),
        # post-hedges that split a familiar phrase or state a low likelihood
        ("Pneumonia cannot be entirely excluded.", {"Pneumonia": "uncertain"}),
        ("Infection is less likely.", {"Infection": "uncertain"}),
        ("Superimposed pneumonia should be considered.", {"Pneumonia": "uncertain"}),
        ("A trace right pleural effusion may be present.", {"Pleural effusion": "uncertain"}),
        ("Pneumonia is not completely excluded.", {"Pneumonia": "uncertain"}),
        # a hedge before a causal link, "whether", "if any" before the finding
        ("Right basilar opacity possibly due to atelectasis.", {"Atelectasis": "uncertain"}),
        ("It is hard to say whether there is mild pulmonary edema.", {"Pulmonary edema": "uncertain"}),
        ("Minimal if any pleural effusion.", {"Pleural effusion": "uncertain"}),
        ("Aspiration or infection not excluded.", {"Aspiration": "uncertain", "Infection": "uncertain"}),
        ("Pulmonary fibrosis with or without superimposed interstitial edema.",
         {"Pulmonary fibrosis": "positive", "Interstitial pulmonary edema": "uncertain"}),
        # a repositioned tube is still there, and so is a tube whose tip is not seen
        ("Right PICC has been withdrawn by 1 cm.", {"Central venous line": "positive"}),
        ("A nasogastric tube enters the stomach, distal tip not visualized.", {"Nasogastric tube": "positive"}),
        ("Opacity not well localized on the frontal view.", {"Pulmonary opacity": "positive"}),
        # and what must not change
        ("Nasogastric tube is not visualized.", {"Nasogastric tube": "negative"}),
        ("Right basilar opacity due to atelectasis.", {"Atelectasis": "positive"}),
        ("Sternotomy wires and a pacemaker are present.", {"Artificial cardiac pacemaker": "positive"}),
    ],
)
def test_polarity_on_radiology_sentences(text, expected):
    got = polarity(text)
    for name, pol in expected.items():
        assert got.get(name) == pol, (text, got)


def test_no_new_is_weak_and_yields_to_positive():
    got = polarity("No new consolidation. Persistent right lower lobe consolidation.")
    assert got["Lung consolidation"] == "positive"


def test_relations_located_at_and_suggestive_of():
    x = X.extract("r", "FINDINGS: Opacity in the left lower lobe, likely atelectasis.")
    ents = {e.id: e for e in x.entities}
    rels = {(r.type, ents[r.source].text, ents[r.target].text) for r in x.relations}
    assert ("located_at", "Opacity", "left lower lobe") in rels
    assert ("suggestive_of", "Opacity", "atelectasis") in rels


def test_entities_use_radgraph_labels_and_inclusive_token_indices():
    text = "FINDINGS: No pneumothorax. Left basilar atelectasis."
    x = X.extract("r", text)
    by_text = {e.text: e for e in x.entities}
    assert by_text["pneumothorax"].label == "OBS-DA"
    assert by_text["atelectasis"].label == "OBS-DP"
    assert by_text["basilar"].label == "ANAT-DP"
    for e in x.entities:
        s, _ = x.tokens[e.start_ix]
        _, t = x.tokens[e.end_ix]
        assert text[s:t] == e.text


def test_every_lexicon_synonym_finds_its_own_concept():
    lex = Lexicon.default()
    owner: dict[tuple, str] = {}
    for c in lex.concepts():  # file order: the first concept listing a string owns it
        for syn in (c.name, *c.synonyms):
            owner.setdefault(normalise_phrase(syn), c.cui)
    shared = [k for k, cui in owner.items() for c in lex.concepts()
              if c.cui != cui and k in {normalise_phrase(s) for s in (c.name, *c.synonyms)}]
    assert shared == [("effusion",)]  # "effusion" on a chest film means pleural effusion
    for key, cui in owner.items():
        hits = lex.find(list(key))
        assert len(hits) == 1 and hits[0].cui == cui, (key, cui, hits)


def test_lexicon_size_and_isa_hierarchy_are_closed():
    lex = Lexicon.default()
    concepts = list(lex.concepts())
    assert len(concepts) >= 300
    cuis = {c.cui for c in concepts}
    assert all(p in cuis for c in concepts for p in c.parents)
    assert {c.group for c in concepts} == {"ANATOMY", "OBSERVATION", "DEVICE"}
    assert sum(1 for c in concepts if c.parents) > 150  # siblings connect through their parents


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_offsets_and_ids_consistent(text):
    x = X.extract("r", text)
    ids = [e.id for e in x.entities]
    assert ids == [str(i) for i in range(1, len(ids) + 1)]
    for e in x.entities:
        assert text[e.start : e.end] == e.text
    for r in x.relations:
        assert r.source in ids and r.target in ids
    for m in x.mentions:
        assert text[m.start : m.end] == m.text


@pytest.mark.parametrize(
    "text, name, expected",
    [
        ("The lungs are free of consolidation.", "Lung consolidation", "negative"),
        ("Negative for pneumothorax.", "Pneumothorax", "negative"),
        ("Without pleural effusion.", "Pleural effusion", "negative"),
        ("No effusion or pneumothorax is seen.", "Pneumothorax", "negative"),
        ("No pneumothorax, but there is a small left effusion.", "Pleural effusion", "positive"),
        ("No significant interval change in the moderate cardiomegaly.", "Cardiomegaly", "positive"),
        ("Not only atelectasis but also consolidation.", "Lung consolidation", "positive"),
        ("Findings may represent pulmonary edema.", "Pulmonary edema", "uncertain"),
        ("Difficult to exclude a small pneumothorax.", "Pneumothorax", "uncertain"),
        ("Borderline cardiomegaly.", "Cardiomegaly", "uncertain"),
        ("The left pleural effusion has resolved.", "Pleural effusion", "negative"),
        ("The right chest tube has been removed.", "Chest drain", "negative"),
        ("The lungs are clear.", "Lung consolidation", "negative"),
        ("Costophrenic angles are sharp.", "Pleural effusion", "negative"),
        ("Nasogastric tube courses below the diaphragm with the tip not identified.", "Nasogastric tube", "positive"),
        ("Pleural effusions, if any, are small.", "Pleural effusion", "uncertain"),
        ("The right effusion has nearly resolved.", "Pleural effusion", "positive"),
        ("The aorta is tortuous and calcified.", "Tortuous aorta", "positive"),
        # a sign, not the finding itself (extraction v2): blunting is a small effusion or pleural thickening
        ("Blunting of the right costophrenic angle.", "Pleural effusion", "uncertain"),
        ("The heart is enlarged.", "Cardiomegaly", "positive"),
        ("The heart appears prominent.", "Cardiomegaly", "uncertain"),
        ("The lungs are grossly clear of airspace disease, pneumothorax or effusion.", "Pneumothorax", "negative"),
        ("There is a nodular density in the right midlung.", "Lung nodule", "uncertain"),
        ("There is a 1 cm nodule in the right midlung.", "Lung nodule", "positive"),
        ("Please correlate clinically for pneumonia.", "Pneumonia", "uncertain"),
        ("Differential diagnosis is broad and includes pulmonary edema and atypical infection.", "Pulmonary edema",
         "uncertain"),
    ],
)
def test_polarity_constructs_from_the_issue(text, name, expected):
    assert polarity(text).get(name) == expected, (text, polarity(text))


def test_literal_variant_reports_only_named_findings():
    from extract.base import get_extractor

    x = get_extractor("rules:literal", Lexicon.default())
    got = {c.name: c.polarity for c in x.extract("r", "FINDINGS: Heart size is normal. No effusion.").concepts}
    assert "Cardiomegaly" not in got and got["Pleural effusion"] == "negative"
