"""The build pipeline: corpus -> sections -> extraction -> images -> graph -> NaF -> store.

Each stage is one call on typed records; bad records go to quarantine (or stop the build
under ``strict``) and the manifest reconciles ``read = built + quarantined``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embed.encoders import Encoder, get_encoder
from embed.index import VectorIndex
from extract.base import Extractor
from extract.concepts import ConceptIndex
from extract.merge import MERGE_RULE
from extract.records import Extraction
from graph.assemble import ConceptRelation, ImageInput, LinkStats, StudyInput, assemble
from graph.model import Graph, SimilarRow
from graph.naf import apply_naf
from graph.retrieve.ood import measure_rows
from graph.store import FORMAT_VERSION, Manifest, write_graph, write_manifest
from graph.store.files import image_findings, write_findings
from graph.store.manifest import (
    ConceptIndexInfo,
    EncoderInfo,
    ExtractorInfo,
    GraphCounts,
    Images,
    NafReport,
    Records,
    SimilarityReference,
)
from graph.store.outdir import BuildOutput
from kg import __version__
from kg.build_options import BuildSettings
from kg.core.errors import InvalidInput, KGError
from kg.core.locations import location
from kg.core.progress import progress
from kg.core.quarantine import Quarantine, Rejected
from kg.corpus import ImageRef, Study, detect_format, read_corpus
from kg.engines import Engine, engine_for
from kg.runner import RunCounts, StepRun
from kg.step import Processed, StepConfig, context_for


@dataclass
class BuildResult:
    out: Path
    manifest: Manifest
    quarantined: list[dict] = field(default_factory=list)


def _section_text(study: Study, extraction: Extraction, name: str) -> str | None:
    for s in extraction.sections:
        if s.name == name:
            return study.text[s.start : s.end]
    return None


def _study_input(p: Processed, images: list[ImageInput], extractor_id: str) -> StudyInput:
    x = p.extraction
    by_id = {e.id: e for e in x.entities}
    rels = []
    for r in x.relations:
        a, b = by_id[r.source], by_id[r.target]
        if a.cui and b.cui and a.label != "OBS-DA":
            rels.append(ConceptRelation(r.type, a.cui, b.cui))
    impression = _section_text(p.study, x, "impression") or _section_text(p.study, x, "last_paragraph")
    return StudyInput(
        study_id=p.study.id,
        patient_id=p.study.patient_id,
        report_id=p.study.report_id,
        split=p.study.split,
        findings=_section_text(p.study, x, "findings"),
        impression=impression,
        images=tuple(images),
        concepts=x.concepts,
        relations=tuple(sorted(set(rels), key=lambda r: (r.type, r.source, r.target))),
        extractor=extractor_id,
    )


def _checksum_update(h, study: Study) -> None:
    h.update(json.dumps([study.id, study.patient_id, study.text, [(i.id, i.path) for i in study.images]]).encode())


class _Stages:
    """Wall time per build stage, for the manifest and the build report."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + now - self._t, 3)
        self._t = now


class _ImageIds:
    """Image ids seen so far: a second image with an id is quarantined, never merged."""

    def __init__(self):
        self.seen: dict[str, str] = {}

    def check(self, r: ImageRef, study_id: str) -> Rejected | None:
        first = self.seen.get(r.id)
        if first is not None:
            return Rejected(r.id, r.path, "image", f"duplicate image id {r.id!r} (study {study_id}): already used "
                            f"by {first}", "give every image file its own name; image ids are file names without suffix")
        self.seen[r.id] = f"{r.path} (study {study_id})"
        return None


@dataclass
class _Build:
    """What the stages of one build hand each other (``build`` runs them in order)."""

    settings: BuildSettings
    fmt: str
    config: StepConfig
    index: ConceptIndex
    extractor: Extractor
    encoder: Encoder
    quarantine: Quarantine
    stages: _Stages = field(default_factory=_Stages)
    checksum: Any = field(default_factory=hashlib.sha256)
    studies: list[Processed] = field(default_factory=list)  # through the step, in input order
    counts: RunCounts = field(default_factory=RunCounts)
    images_skipped: int = 0  # left out by their ViewPosition (or by one-image-per-study)
    images_seen: int = 0  # kept, with an id of their own, sent to the encoder
    inputs: list[StudyInput] = field(default_factory=list)
    vec_ids: list[str] = field(default_factory=list)
    vecs: list[np.ndarray] = field(default_factory=list)


def build(settings: BuildSettings, warn: Callable[[str], None] = lambda message: None,
          info: Callable[[str], None] = lambda message: None) -> BuildResult:
    """Build the graph into ``settings.out``. The previous build there stays readable until the new one is
    complete; files medkg did not write are never touched (graph.store.outdir). ``warn`` receives one-line warnings
    about settings that had surprising effects (a ``--views`` that kept no image); ``info`` one-line notes (where a
    Ray build runs)."""
    output = BuildOutput(settings.out, force=settings.force)
    output.check()  # before any work: a file, an unwritable or a foreign folder fails now, not after the build
    b = _start(settings)
    engine = engine_for(settings.engine, settings.workers, ray_address=settings.ray_address,
                        encode_actors=settings.encode_actors, gpus_per_actor=settings.gpus_per_actor)
    with output as staging, progress(settings.quiet) as track, _closing(engine):
        _read_and_extract(b, engine, track, info)
        _embed_images(b, engine, track, warn)
        g, link_stats = assemble(b.inputs, b.index, keep_text=settings.keep_text, parents=settings.umls_parents)
        b.stages.done("graph")
        findings = image_findings(g)  # before NaF: retrieval keeps every image's findings
        g, naf_report = apply_naf(g, settings.naf)
        b.stages.done("naf")
        vindex, similarity = _vector_index(b, g)
        write_graph(g, staging)
        vindex.save(staging / "index")
        write_findings(findings, staging)
        b.quarantine.write(staging / "quarantine.jsonl")
        b.stages.done("write")
        manifest = _manifest(b, g, vindex, similarity, naf_report, link_stats)
        from kg.report import write_report

        write_report(staging, manifest=manifest, graph=g, quarantine=b.quarantine.as_dicts(), title=str(settings.out))
        b.stages.done("report")
        manifest.timings = dict(b.stages.seconds)
        manifest.files = sorted([*output.files(), "manifest.json"])
        write_manifest(manifest, staging)
        output.commit()
    return BuildResult(settings.out, manifest, b.quarantine.as_dicts())


def _start(settings: BuildSettings) -> _Build:
    """The build's parts, each checked before any record is read (a bad setting fails here)."""
    fmt = settings.format if settings.format != "auto" else detect_format(settings.source)
    config = StepConfig(extractor=settings.extractor, radgraph=settings.radgraph, umls=settings.umls,
                        views=settings.views, one_image=settings.one_image_per_study)
    ctx = context_for(config)  # the concept index and extractor, built once
    return _Build(settings, fmt, config, ctx.index, ctx.extractor, get_encoder(settings.encoder),
                  Quarantine(strict=settings.strict))


def _read_and_extract(b: _Build, engine: Engine, track: Callable[..., Any], info: Callable[[str], None]) -> None:
    """Stage 1: every record through the step runner; the studies that came through are kept in order."""
    s = b.settings
    images = location(s.images) if s.images else None  # a folder, or a URL (fsspec)
    advance = track("Reading and extracting reports", unit="reports")
    run = StepRun(read_corpus(s.source, fmt=b.fmt, images=images, limit=s.limit), b.config, engine=engine,
                  quarantine=b.quarantine, advance=advance, on_study=lambda st: _checksum_update(b.checksum, st),
                  info=info)
    for p in run:  # the engine stays open: the image stage runs on it
        b.images_skipped += p.skipped_views
        b.studies.append(p)
    advance.done()
    b.counts = run.counts
    if run.counts.read == 0:
        raise InvalidInput(f"no record found in {s.source} as format {b.fmt!r}", code="E111",
                           fix=_format_fix(s.source, b.fmt))
    b.stages.done("read and extract")


def _embed_images(b: _Build, engine: Engine, track: Callable[..., Any], warn: Callable[[str], None]) -> None:
    """Stage 2: image ids checked (a second image with an id is quarantined), images decoded and embedded; each
    study becomes the assembler's input, with each image marked embedded or not."""
    refs: list[ImageRef] = []
    accepted: set[tuple[str, str]] = set()  # (study, image)
    image_ids = _ImageIds()
    for p in b.studies:
        for r in p.images:
            dup = image_ids.check(r, p.study.id)
            if dup is not None:
                b.quarantine.add(dup)
            else:
                refs.append(r)
                accepted.add((p.study.id, r.id))
    b.images_seen = len(refs)
    views = b.settings.views
    if b.images_skipped and not refs and views:
        seen: dict[str, int] = {}
        for p in b.studies:
            for r in p.study.images:
                v = (r.view_position or "unknown").upper()
                seen[v] = seen.get(v, 0) + 1
        listed = ", ".join(f"{v} {n}" for v, n in sorted(seen.items()))
        warn(f"--views {','.join(views)} kept no image: {b.images_skipped} image(s) left out by their "
             f"ViewPosition ({listed}); pass --views '' to keep all")
    advance = track("Embedding images", total=len(refs), unit="images")
    embedded = engine.embed(b.encoder, b.settings.encoder, [(r.id, r.path) for r in refs],
                            batch_size=b.settings.batch_size, advance=advance)
    engine.close()  # its workers (a Ray instance) are done: their memory back before the graph is assembled
    ok: dict[tuple[str, str], bool] = {}
    for r, e in zip(refs, embedded):
        ok[(r.id, r.path)] = e.vector is not None
        if e.vector is None:
            b.quarantine.add(Rejected(r.id, r.path, "image", e.problem,
                                      "re-export the image as JPEG/PNG or fix --images; the study keeps its text edges"))
        else:
            b.vec_ids.append(r.id)
            b.vecs.append(e.vector)
    for p in b.studies:
        imgs = sorted((ImageInput(r.id, r.path, r.view_position, ok[(r.id, r.path)]) for r in p.images
                       if (p.study.id, r.id) in accepted), key=lambda r: r.id)
        b.inputs.append(_study_input(p, imgs, b.extractor.id))
    b.stages.done("images")
    quarantined = b.quarantine.count()
    if b.counts.read != len(b.inputs) + quarantined:  # an internal invariant, never expected
        raise KGError(f"internal: read {b.counts.read} != built {len(b.inputs)} + quarantined {quarantined}",
                      code="E501", fix="report this to the medkg developers")


def _vector_index(b: _Build, g: Graph) -> tuple[VectorIndex, dict[str, Any]]:
    """Stage 3: the vector index in image-id order, SIMILAR_TO edges when asked for, and the build's own
    best-match similarities, which the retrieval guard compares queries with."""
    order = sorted(range(len(b.vec_ids)), key=b.vec_ids.__getitem__)
    matrix = np.stack([b.vecs[i] for i in order]) if b.vecs else np.zeros((0, b.encoder.dim), dtype=np.float32)
    vindex = VectorIndex([b.vec_ids[i] for i in order], matrix)
    if b.settings.similar_k > 0:
        g.add_edges("SIMILAR_TO", "Image", "Image", similar_edges(vindex, b.settings.similar_k))
        g.sort()
    similarity = measure_rows(vindex.ids, vindex.vectors, _rows(g, "Image"), _rows(g, "Study"), encoder=b.encoder.id)
    b.stages.done("vector index")
    return vindex, similarity


def _manifest(b: _Build, g: Graph, vindex: VectorIndex, similarity: dict[str, Any], naf_report: NafReport,
              link_stats: LinkStats) -> Manifest:
    s = b.settings
    return Manifest(
        medkg=__version__,
        format=FORMAT_VERSION,
        settings=s.recorded() | {"format": b.fmt},
        input={"checksum": "sha256:" + b.checksum.hexdigest()},
        records=Records(read=b.counts.read, built=len(b.inputs), quarantined=b.quarantine.count()),
        images=Images(seen=b.images_seen, embedded=len(b.vec_ids), quarantined=b.images_seen - len(b.vec_ids),
                      skipped_by_view=b.images_skipped),  # includes those left out by one-image-per-study
        extractor=ExtractorInfo(id=b.extractor.id, merge_rule=MERGE_RULE, polarity_conflicts=link_stats.conflicts),
        concept_index=ConceptIndexInfo(name=b.index.name, version=b.index.version),
        encoder=EncoderInfo(id=b.encoder.id, spec=s.encoder, dim=int(b.encoder.dim)),
        vector_index=vindex.describe() | {"path": "index/"},
        similarity=SimilarityReference.model_validate(similarity),
        naf=naf_report,
        graph=GraphCounts.model_validate(g.counts()),
        studies_without_images=link_stats.studies_without_images,
        timings=b.stages.seconds,
        versions=_versions(),
    )


@contextmanager
def _closing(engine: Engine) -> Iterator[Engine]:
    """The engine's workers (a Ray instance, a process pool) stop when the build ends, whichever way it ends."""
    try:
        yield engine
    finally:
        engine.close()


def _format_fix(source: Path, fmt: str) -> str:
    try:
        detected = detect_format(source)
    except KGError:
        return f"check that {source} is a corpus medkg reads (--format mimic, iu-xml, jsonl, csv or text)"
    if detected != fmt:
        return f"--format auto detects {detected!r} for this source: pass --format {detected} (or leave --format out)"
    return f"add reports to {source}, or check --limit and the layout for {fmt!r} in the README"


def similar_edges(vindex: VectorIndex, k: int, batch: int = 1024) -> list[SimilarRow]:
    """(Image)-[:SIMILAR_TO {score}]->(Image) to each image's k nearest other images (exact search)."""
    rows: list[SimilarRow] = []
    for b in range(0, len(vindex), batch):
        ids = vindex.ids[b : b + batch]
        for src, hits in zip(ids, vindex.search_many(vindex.vectors[b : b + batch], k + 1, exact=True)):
            for dst, score in [h for h in hits if h[0] != src][:k]:
                rows.append({"_start": src, "_end": dst, "score": round(score, 6)})
    return rows


def _rows(g, label: str) -> list[dict]:
    return g.nodes[label].rows if label in g.nodes else []


def _versions() -> dict:
    import networkx
    import pyarrow

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "networkx": networkx.__version__,
    }
