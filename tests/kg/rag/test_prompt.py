"""kg/rag/prompt.py: the context rendered in the research systems' formats, within a token budget."""

import json

import pytest

from graph.retrieve import Retriever
from graph.store import FileStore
from kg.core.errors import InvalidInput
from kg.rag.prompt import render


@pytest.fixture(scope="module")
def ctx(sample_build):
    s = FileStore(sample_build)
    return Retriever(s).context(image_id=s.index.ids[5], k=5, hops=1)


def test_findings_format_says_absent_as_absent(ctx):
    text = render(ctx, question="Is there a pneumothorax?")
    lines = text.splitlines()
    low, high = min(n.score for n in ctx.neighbours), max(n.score for n in ctx.neighbours)
    assert lines[0].startswith(f"Findings of 5 similar images of the knowledge graph (cosine {low:.2f}-{high:.2f} to "
                               "this image; the best at the ") and lines[-1] == "Is there a pneumothorax?"
    absent = [f for f in ctx.findings if f.polarity == "negative"][0]
    assert f"- {absent.concept.name}: absent in {absent.cases} of {absent.of} similar cases (agreement " \
           f"{absent.agreement:.2f}, cosine " in text
    assert "confidence" not in text  # the neighbours' agreement is not a confidence about this image


def test_an_abstention_says_so_in_every_format(ctx):
    quiet = ctx.model_copy(update={"neighbours": (), "findings": (), "triplets": (),
                                   "abstained": "no similar image in the graph (best cosine 0.12, the graph's 1st "
                                                "percentile is 0.95)"})
    for fmt in ("findings", "kg-llava", "medmkg"):
        text = render(quiet, format=fmt, question="Is there an effusion?")
        assert text.startswith("The knowledge graph has no context for this query: no similar image in the graph "
                               "(best cosine 0.12")
        assert text.endswith("Is there an effusion?") and "present" not in text and "absent" not in text
    assert json.loads(render(quiet, format="json")) == [{"abstained": quiet.abstained}]


def test_kg_llava_and_medmkg_formats(ctx):
    t = ctx.triplets[0]
    llava = render(ctx, format="kg-llava", question="What is abnormal?")
    assert llava.startswith("The image-specific triplets from the knowledge graph are: ")
    assert llava.endswith(" to this image; the best at the " + llava.split("; the best at the ")[1].split(" percentile")[0]
                          + " percentile of the graph's own best matches). And for the given image, What is abnormal?")
    assert f"{t.head.name.lower()} {t.relation.lower()} {t.tail.name.lower()}" in llava
    med = render(ctx, format="medmkg")
    assert med.splitlines()[0] == f"Triplet 1: (head, relation, tail) = ({t.head.name}, {t.relation}, {t.tail.name})"
    items = json.loads(render(ctx, format="json"))
    assert {i["finding"] for i in items if "finding" in i} == {f.concept.name for f in ctx.findings}
    with pytest.raises(InvalidInput, match="unknown prompt format"):
        render(ctx, format="xml")


def test_the_budget_drops_the_lowest_ranked_items(ctx):
    full = render(ctx)
    short = render(ctx, max_tokens=40)
    assert len(short.split()) <= 40 < len(full.split())
    assert full.startswith(short)  # a prefix: the best-ranked items stay
    calls = []

    class Tok:  # a tokenizer with encode(): counts characters here
        def encode(self, s, add_special_tokens=False):
            calls.append(add_special_tokens)
            return list(s)

    by_chars = render(ctx, max_tokens=200, tokenizer=Tok())
    assert len(by_chars) <= 200 and calls and not any(calls)
    assert len(render(ctx, max_tokens=200, tokenizer=len)) <= 200


def test_every_prompt_format_is_registered_under_its_declared_name(ctx):
    from kg.rag.prompt import FORMATS, PROMPT_FORMATS

    assert sorted(FORMATS) == PROMPT_FORMATS.names()  # the request models' enum and the registry agree
    for name in FORMATS:
        assert render(ctx, format=name, question="Q?")
    with pytest.raises(InvalidInput, match="E182|unknown prompt format"):
        render(ctx, format="nope")


def test_a_line_per_concept_the_questions_first_and_triplets_capped(ctx):
    from kg.rag.prompt import PROMPT_TRIPLETS

    assert len({f.concept.cui for f in ctx.findings}) < len(ctx.findings)  # some concept has several polarities
    lines = render(ctx).splitlines()[1:]
    concepts = [x for x in lines if " similar cases " in x]
    names = [x[2:].split(":", 1)[0] for x in concepts]
    assert len(names) == len(set(names)) == len({f.concept.cui for f in ctx.findings})  # one line each
    mixed = next(f.concept.name for f in ctx.findings if sum(g.concept.cui == f.concept.cui for g in ctx.findings) > 1)
    line = next(x for x in concepts if x[2:].startswith(mixed + ":"))
    assert line.count(" in ") >= 2 and "; " in line  # its polarities on one line, each with its count
    later = names[-1]
    asked = render(ctx, question=f"Is there {later.lower()}?").splitlines()[1]
    assert asked.startswith(f"- {later}:")  # the concept the question names comes first
    triplets = [x for x in lines if x.startswith("- ") and " similar cases " not in x]
    assert len(triplets) == min(PROMPT_TRIPLETS, len(ctx.triplets))
    old = render(ctx, format="findings-per-polarity").splitlines()[1:]
    assert len([x for x in old if " similar cases " in x]) == len(ctx.findings)  # the first layout, kept by name
