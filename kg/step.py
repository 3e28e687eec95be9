"""The per-study step: one study in, a :class:`Processed` or a :class:`Rejected` out.

:func:`process_study` is pure and picklable: everything it needs is in a :class:`StepContext`, which a worker
builds once from a small, picklable :class:`StepConfig` (:func:`context_for` keeps one per process). ``kg build``,
``kg extract`` and ``kg eval`` all run it, through an engine (``kg.engines``), so a concept index given with
``--umls`` reaches every one of them and a new engine (Ray) needs nothing from the step but this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from extract.base import Extractor, get_extractor
from extract.concepts import ConceptIndex
from extract.loading import load_concept_index
from extract.records import Extraction
from extract.sections import split_sections, target_sections
from kg.core.errors import InvalidInput
from kg.corpus import ImageRef, Rejected, Study


@dataclass(frozen=True)
class StepConfig:
    """What a worker needs to build its context (small and picklable: names and paths)."""

    extractor: str = "rules"
    radgraph: Path | None = None  # RadGraph annotations used instead of an extractor
    umls: Path | None = None  # concept index: UMLS index or META folder, lexicon TSV; None = bundled lexicon
    views: tuple[str, ...] = ()  # ViewPositions kept when known ('' keeps all)
    one_image: bool = False

    @property
    def extractor_spec(self) -> str:
        """``--radgraph FILE`` is the registered ``radgraph-file:FILE`` extractor."""
        return f"radgraph-file:{self.radgraph}" if self.radgraph is not None else self.extractor


@dataclass
class StepContext:
    config: StepConfig
    index: ConceptIndex
    extractor: Extractor

    @classmethod
    def build(cls, config: StepConfig) -> StepContext:
        index = load_concept_index(config.umls)
        return cls(config, index, get_extractor(config.extractor_spec, index))


_CONTEXTS: dict[StepConfig, StepContext] = {}  # one context per configuration and process (a cache, not state)


def context_for(config: StepConfig) -> StepContext:
    ctx = _CONTEXTS.get(config)
    if ctx is None:
        ctx = _CONTEXTS[config] = StepContext.build(config)
    return ctx


@dataclass(frozen=True)
class Processed:
    study: Study
    extraction: Extraction
    images: tuple[ImageRef, ...]  # after view selection; decoded later by the embedding stage
    skipped_views: int


def pick_one(refs: tuple[ImageRef, ...], views: tuple[str, ...]) -> tuple[ImageRef, ...]:
    """One image per study: the first of ``views`` order that is present (frontal PA, then AP, when
    ``views`` is empty), then by id."""
    if len(refs) <= 1:
        return refs
    rank = {v: i for i, v in enumerate(views or ("PA", "AP"))}
    return (min(refs, key=lambda r: (rank.get((r.view_position or "").upper(), len(rank)), r.id)),)


def process_study(study: Study | Rejected, ctx: StepContext) -> Processed | Rejected:
    """Sections, extraction and image selection for one study. Never raises for a bad record: a reader's
    Rejected passes through, a report without FINDINGS/IMPRESSION text or one the extractor refuses becomes
    a Rejected with its reason and fix, and an extractor bug quarantines the record instead of losing it."""
    if isinstance(study, Rejected):
        return study
    sections = split_sections(study.text)
    targets = target_sections(sections)
    if not targets or all(s.start == s.end for s in targets):
        found = ", ".join(s.header or s.name for s in sections) or "none"
        return Rejected(study.id, study.source, "sections", f"no FINDINGS or IMPRESSION text (sections found: {found})",
                        "add a FINDINGS or IMPRESSION section, or text without headers")
    try:
        extraction = ctx.extractor.extract(study.report_id, study.text, sections)
    except InvalidInput as exc:
        return Rejected(study.id, study.source, "extract", exc.what, exc.fix or "")
    except Exception as exc:  # a bug must not lose the record: quarantine it with the reason
        return Rejected(study.id, study.source, "extract", f"extractor error: {type(exc).__name__}: {exc}",
                        "report this record to the medkg developers")
    views = ctx.config.views
    kept = tuple(r for r in study.images if not (views and r.view_position and r.view_position.upper() not in views))
    if ctx.config.one_image:
        kept = pick_one(kept, views)
    return Processed(study, extraction, kept, len(study.images) - len(kept))


def run_step(config: StepConfig, study: Study | Rejected) -> Processed | Rejected:
    """The step with the process's context for ``config``: what an engine sends to its workers."""
    return process_study(study, context_for(config))
