from extract.merge import merge_mentions
from extract.records import ConceptMention


def m(pol, section, start, weak=False):
    return ConceptMention("C0032227", "Pleural effusion", pol, start, start + 8, "effusion", section, weak)


def test_definite_beats_hedged_and_impression_beats_findings():
    (c,) = merge_mentions([m("uncertain", "impression", 50), m("negative", "findings", 10)])
    assert c.polarity == "negative" and c.conflict
    (c,) = merge_mentions([m("positive", "findings", 10), m("negative", "impression", 50)])
    assert c.polarity == "negative"
    (c,) = merge_mentions([m("negative", "findings", 10), m("positive", "findings", 30)])
    assert c.polarity == "positive"


def test_weak_negative_yields():
    (c,) = merge_mentions([m("negative", "impression", 10, weak=True), m("uncertain", "findings", 30)])
    assert c.polarity == "uncertain"
