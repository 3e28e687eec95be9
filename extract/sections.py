"""Split a radiology report into sections, keeping character offsets.

The rules follow the spirit of MIMIC-CXR's own section splitter:

* headers are ``NAME:`` at the start of a line (or after a sentence end for the
  well-known names); unknown ALL-CAPS headers at a line start also open a section;
* header variants are normalised: ``IMPRESSIONS``, ``CONCLUSION``, ``SUMMARY``,
  ``FINDINGS AND IMPRESSION`` … all count as ``impression``; ``FINDING(S)`` as ``findings``;
* when a report has neither FINDINGS nor IMPRESSION, its last paragraph is used
  (section name ``last_paragraph``); paragraphs under a header known to be something
  else (HISTORY, INDICATION, COMPARISON, …) are passed over.

Every :class:`~extract.records.Section` satisfies ``0 <= start <= end <= len(text)``.
"""

from __future__ import annotations

import re

from extract.records import Section

#: Canonical target sections and the header spellings that map to them.
FINDINGS_HEADERS = frozenset({"findings", "finding", "findings/observations", "observations"})
IMPRESSION_HEADERS = frozenset(
    {
        "impression",
        "impressions",
        "conclusion",
        "conclusions",
        "summary",
        "opinion",
        "interpretation",
        "findings and impression",
        "findings and impressions",
        "findings/impression",
        "findings / impression",
        "impression and recommendation",
        "impression and recommendations",
        "impression/recommendation",
        "impression/recommendations",
        "conclusion and recommendation",
    }
)
#: Headers that are known not to hold findings: their text is never used as a fallback.
OTHER_HEADERS = frozenset(
    {
        "history",
        "clinical history",
        "indication",
        "indications",
        "clinical indication",
        "reason for exam",
        "reason for examination",
        "reason for study",
        "clinical information",
        "comparison",
        "comparisons",
        "technique",
        "examination",
        "exam",
        "type of examination",
        "procedure",
        "study",
        "notification",
        "recommendation",
        "recommendations",
        "addendum",
        "final report",
        "provisional findings impression (pfi)",
        "reference exam",
        "date",
        "time",
    }
)
KNOWN_HEADERS = FINDINGS_HEADERS | IMPRESSION_HEADERS | OTHER_HEADERS

_known_alt = "|".join(sorted((re.escape(h) for h in KNOWN_HEADERS), key=len, reverse=True))
# A known header at a line start or after a sentence end, any case.
_KNOWN_RE = re.compile(
    rf"(?:(?<=\n)|^|(?<=[.!?]\s)|(?<=[.!?]\s\s))[ \t]*(?P<h>{_known_alt})[ \t]*:",
    re.IGNORECASE,
)
# An unknown ALL-CAPS header at a line start ("PA AND LATERAL VIEWS OF THE CHEST:").
_CAPS_RE = re.compile(r"(?m)^[ \t]*(?P<h>[A-Z][A-Z0-9 /&(),'-]{1,60}?)[ \t]*:(?![0-9])")
_PARA_RE = re.compile(r"\n[ \t]*\n|\n[ \t]*_{5,}[ \t]*(?=\n)")  # blank line or a ____ rule


def canonical_section_name(header: str) -> str:
    """Map a header as written to its canonical section name."""
    h = re.sub(r"\s+", " ", header.strip().lower())
    if h in FINDINGS_HEADERS:
        return "findings"
    if h in IMPRESSION_HEADERS:
        return "impression"
    return h


def _headers(text: str) -> list[tuple[int, int, str]]:
    """(header start, body start, header text) sorted by position, no overlaps."""
    found: dict[int, tuple[int, int, str]] = {}
    for rx in (_KNOWN_RE, _CAPS_RE):
        for m in rx.finditer(text):
            start = m.start("h")
            if start in found:
                continue
            found[start] = (start, m.end(), m.group("h"))
    out: list[tuple[int, int, str]] = []
    last_end = -1
    for start in sorted(found):
        hs, be, h = found[start]
        if hs < last_end:
            continue
        out.append((hs, be, h))
        last_end = be
    return out


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sections(text: str) -> tuple[Section, ...]:
    """All sections of ``text`` in order; the fallback ``last_paragraph`` when needed.

    >>> [s.name for s in split_sections("FINDINGS: No effusion.\nIMPRESSION: Normal.")]
    ['findings', 'impression']
    """
    heads = _headers(text)
    breaks = [m.start() for m in _PARA_RE.finditer(text)]
    sections: list[Section] = []
    for i, (_, body_start, header) in enumerate(heads):
        body_end = heads[i + 1][0] if i + 1 < len(heads) else len(text)
        name = canonical_section_name(header)
        if name in OTHER_HEADERS:
            # HISTORY, INDICATION, ... hold one paragraph: unheaded text after a blank line is not theirs
            first_break = next((b for b in breaks if b > body_start and b < body_end), None)
            if first_break is not None and text[body_start:first_break].strip():
                body_end = first_break
        s, e = _strip(text, body_start, body_end)
        sections.append(Section(name, header.strip(), s, e))

    if any(s.name in ("findings", "impression") for s in sections):
        return tuple(sections)

    fallback = _last_paragraph(text, heads, sections)
    if fallback is not None:
        sections.append(fallback)
    return tuple(sections)


_WORD = re.compile(r"[A-Za-z]{2,}")


def _last_paragraph(text: str, heads: list[tuple[int, int, str]], sections: list[Section]) -> Section | None:
    """The last paragraph that reads like findings: not inside a known non-findings section
    (HISTORY, INDICATION, COMPARISON, …), its own leading header skipped, at least three words
    and a sentence mark or lower-case letters (so a title line such as "FINAL REPORT" is not taken).
    When no paragraph qualifies, the last paragraph outside the known non-findings sections is used."""
    others = [(x.start, x.end) for x in sections if x.name in OTHER_HEADERS]
    bounds = [0] + [m.end() for m in _PARA_RE.finditer(text)] + [len(text)]
    candidates: list[tuple[int, int]] = []
    for k in range(len(bounds) - 1):
        ps, pe = _strip(text, bounds[k], bounds[k + 1])
        # a paragraph may open with a header line: keep the body of its last header
        for hs, body_start, header in heads:
            if ps <= hs < pe:
                if canonical_section_name(header) in OTHER_HEADERS:
                    ps = pe  # the paragraph is (or ends in) a known non-findings section
                    break
                ps, pe = _strip(text, body_start, pe)
        if ps >= pe:
            continue
        if any(os_ < pe and ps < oe for os_, oe in others):
            continue
        candidates.append((ps, pe))
    if not candidates:
        return None
    good = [
        (ps, pe) for ps, pe in candidates
        if len(_WORD.findall(text[ps:pe])) >= 3 and (re.search(r"[a-z]", text[ps:pe]) or "." in text[ps:pe])
    ]
    ps, pe = (good or candidates)[-1]
    return Section("last_paragraph", "", ps, pe)


def target_sections(sections: tuple[Section, ...]) -> tuple[Section, ...]:
    """The sections extraction reads: FINDINGS and IMPRESSION, else the fallback paragraph."""
    return tuple(s for s in sections if s.name in ("findings", "impression", "last_paragraph"))


def target_text(text: str, sections: tuple[Section, ...] | None = None) -> str:
    """The text of :func:`target_sections` (split here unless given), joined by a space; the whole report when it
    has none: what a report's finding labels come from."""
    if sections is None:
        sections = split_sections(text)
    parts = [text[s.start:s.end].strip() for s in target_sections(sections)]
    return " ".join(p for p in parts if p) or text.strip()
