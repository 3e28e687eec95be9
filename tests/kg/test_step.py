"""kg/step.py: the one per-study step that build, extract and eval share."""

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kg.corpus import ImageRef, Rejected, Study
from kg.extracting import record_object
from kg.step import Processed, StepConfig, context_for, process_study

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_process_study_never_raises(text):
    r = process_study(Study(id="h", patient_id="h", report_id="h", text=text), context_for(StepConfig()))
    assert isinstance(r, (Processed, Rejected))
    if isinstance(r, Processed):
        for c in record_object(r)["concepts"]:
            assert text[c["start"] : c["end"]] == c["text"]


def test_reader_rejections_pass_through_and_empty_sections_are_rejected():
    ctx = context_for(StepConfig())
    bad = Rejected("x", "f.jsonl:3", "read", "invalid JSON", "fix it")
    assert process_study(bad, ctx) is bad
    r = process_study(Study(id="s", patient_id="p", report_id="s", text="INDICATION: cough\n\nCOMPARISON: none"), ctx)
    assert isinstance(r, Rejected) and r.stage == "sections" and "no FINDINGS or IMPRESSION" in r.reason


def test_views_and_one_image():
    images = (ImageRef("a", "a.jpg", "LATERAL"), ImageRef("b", "b.jpg", "AP"), ImageRef("c", "c.jpg", "PA"),
              ImageRef("d", "d.jpg", None))
    s = Study(id="s", patient_id="p", report_id="s", text="FINDINGS: No effusion.", images=images)
    r = process_study(s, context_for(StepConfig(views=("PA", "AP"))))
    assert [i.id for i in r.images] == ["b", "c", "d"] and r.skipped_views == 1
    r = process_study(s, context_for(StepConfig(views=("PA", "AP"), one_image=True)))
    assert [i.id for i in r.images] == ["c"] and r.skipped_views == 3


def test_the_umls_index_reaches_the_step():
    meta = FIXTURES / "umls" / "META"
    ctx = context_for(StepConfig(umls=meta))
    assert ctx.index.name.startswith("umls")
    r = process_study(Study(id="s", patient_id="p", report_id="s", text="FINDINGS: Small pleural effusions."), ctx)
    assert "C0032227" in {c.cui for c in r.extraction.concepts}


def test_contexts_are_built_once_per_config():
    assert context_for(StepConfig()) is context_for(StepConfig())
