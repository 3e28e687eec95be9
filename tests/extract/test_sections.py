from hypothesis import given, settings
from hypothesis import strategies as st

from extract.sections import split_sections, target_sections

MIMIC = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___ with cough.

 COMPARISON:  None.

 FINDINGS:

 No focal consolidation.  No pleural effusion.

 IMPRESSION:

 No acute process.
"""


def test_findings_and_impression_with_offsets():
    secs = {s.name: s for s in split_sections(MIMIC)}
    assert secs["findings"].text_of(MIMIC) == "No focal consolidation.  No pleural effusion."
    assert secs["impression"].text_of(MIMIC) == "No acute process."
    assert secs["indication"].text_of(MIMIC) == "___ with cough."


def test_header_variants_map_to_impression():
    for header in ("FINDINGS AND IMPRESSION:", "CONCLUSION:", "IMPRESSIONS:", "Summary:"):
        text = f"HISTORY: cough.\n{header} Small left effusion."
        names = [s.name for s in split_sections(text)]
        assert "impression" in names, header


def test_last_paragraph_fallback_skips_known_non_findings():
    text = "WET READ: ___ 9 PM\n  Moderate cardiomegaly.\n ____________\n  FINAL REPORT\n INDICATION: eval\n"
    secs = target_sections(split_sections(text))
    assert [s.name for s in secs] == ["last_paragraph"]
    assert "cardiomegaly" in secs[0].text_of(text)


def test_no_findings_no_fallback_when_only_history():
    assert target_sections(split_sections("INDICATION: fever\n\nCOMPARISON: none")) == ()


def test_times_are_not_headers():
    text = "FINDINGS: Called at 4:45 p.m. No effusion."
    (f,) = split_sections(text)
    assert f.text_of(text).startswith("Called at 4:45")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("FINDGSMPRESOCLUabc :.\n_-0123456789 ")), max_size=300) | st.text(max_size=200))
def test_parser_never_raises_and_offsets_slice(text):
    for s in split_sections(text):
        assert 0 <= s.start <= s.end <= len(text)
        assert s.text_of(text) == text[s.start : s.end]
        assert s.text_of(text) == s.text_of(text).strip()
