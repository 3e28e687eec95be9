"""The build pipeline: corpus -> sections -> extraction -> images -> graph -> NaF -> store.

Each stage is one call on typed records; bad records go to quarantine (or stop the build
under ``strict``) and the manifest reconciles ``read = built + quarantined``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embed.encoders import get_encoder
from embed.index import VectorIndex
from extract.merge import MERGE_RULE
from extract.records import Extraction
from graph.assemble import ConceptRelation, ImageInput, StudyInput, assemble
from graph.naf import apply_naf
from graph.retrieve.ood import measure_rows
from graph.store import FORMAT_VERSION, Manifest, write_graph, write_manifest
from graph.store.files import image_findings, write_findings
from graph.store.outdir import BuildOutput
from kg import __version__
from kg.core.errors import InvalidInput, KGError
from kg.core.locations import location
from kg.core.progress import progress
from kg.corpus import ImageRef, Rejected, Study, detect_format, read_corpus, unique_records
from kg.executors import executor_for
from kg.settings import BuildSettings
from kg.step import Processed, StepConfig, context_for


@dataclass(frozen=True)
class ImageResult:
    id: str
    path: str
    view_position: str | None
    ok: bool


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


def _study_input(p: Processed, images: list[ImageResult], extractor_id: str) -> StudyInput:
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
        images=tuple(ImageInput(r.id, r.path, r.view_position, r.ok) for r in images),
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


def build(settings: BuildSettings, warn=lambda message: None, info=lambda message: None) -> BuildResult:
    """Build the graph into ``settings.out``. The previous build there stays readable until the new one is
    complete; files medkg did not write are never touched (graph.store.outdir). ``warn`` receives one-line warnings
    about settings that had surprising effects (a ``--views`` that kept no image); ``info`` one-line notes (where a
    Ray build runs)."""
    output = BuildOutput(settings.out, force=settings.force)
    output.check()  # before any work: a file, an unwritable or a foreign folder fails now, not after the build
    fmt = settings.format if settings.format != "auto" else detect_format(settings.source)
    images = location(settings.images) if settings.images else None  # a folder, or a URL (fsspec)
    records = unique_records(read_corpus(settings.source, fmt=fmt, images=images, limit=settings.limit))
    config = StepConfig(extractor=settings.extractor, radgraph=settings.radgraph, umls=settings.umls,
                        views=settings.views, one_image=settings.one_image_per_study)
    ctx = context_for(config)  # the concept index and extractor, built once (a bad setting fails here)
    index, extractor = ctx.index, ctx.extractor
    encoder = get_encoder(settings.encoder)
    executor = executor_for(settings.executor, settings.workers, ray_address=settings.ray_address,
                            encode_actors=settings.encode_actors, gpus_per_actor=settings.gpus_per_actor)

    quarantine: list[dict] = []
    read = built = 0
    images_skipped = 0
    inputs: list[StudyInput] = []
    vec_ids: list[str] = []
    vecs: list[np.ndarray] = []
    h = hashlib.sha256()
    image_ids = _ImageIds()
    stages = _Stages()

    def reject(r: Rejected) -> None:
        if settings.strict:
            raise InvalidInput(f"{r.reason} (record {r.record_id})", code="E110", where=r.source, fix=r.fix or "fix the record")
        quarantine.append(r.as_dict())

    def studies():
        nonlocal read
        for rec in records:
            read += 1
            if isinstance(rec, Rejected):
                reject(rec)
                continue
            _checksum_update(h, rec)
            yield rec

    with output as staging, progress(settings.quiet) as track, _closing(executor):
        results = executor.map(config, studies())  # a cluster is joined (or started) here
        if executor.where:
            info(f"running {executor.where}")
        advance = track("Reading and extracting reports", unit="reports")
        done: list[Processed] = []
        views_seen: dict[str, int] = {}
        for p in results:
            advance()
            if isinstance(p, Rejected):
                reject(p)
                continue
            images_skipped += p.skipped_views
            for r in p.study.images:
                v = (r.view_position or "unknown").upper()
                views_seen[v] = views_seen.get(v, 0) + 1
            done.append(p)
        advance.done()
        if read == 0:
            raise InvalidInput(f"no record found in {settings.source} as format {fmt!r}", code="E111",
                             fix=_format_fix(settings.source, fmt))
        stages.done("read and extract")

        refs: list[ImageRef] = []
        accepted: set[tuple[str, str]] = set()  # (study, image)
        for p in done:
            for r in p.images:
                dup = image_ids.check(r, p.study.id)
                if dup is not None:
                    reject(dup)
                else:
                    refs.append(r)
                    accepted.add((p.study.id, r.id))
        images_seen = len(refs)
        if images_skipped and not refs and settings.views:
            seen = ", ".join(f"{v} {n}" for v, n in sorted(views_seen.items()))
            warn(f"--views {','.join(settings.views)} kept no image: {images_skipped} image(s) left out by their "
                 f"ViewPosition ({seen}); pass --views '' to keep all")
        advance_i = track("Embedding images", total=len(refs), unit="images")
        embedded = executor.embed(encoder, settings.encoder, [(r.id, r.path) for r in refs],
                                  batch_size=settings.batch_size, advance=advance_i)
        executor.close()  # its workers (a Ray instance) are done: their memory back before the graph is assembled
        status: dict[tuple[str, str], bool] = {}
        for r, e in zip(refs, embedded):
            status[(r.id, r.path)] = e.vector is not None
            if e.vector is None:
                reject(Rejected(r.id, r.path, "image", e.problem,
                                "re-export the image as JPEG/PNG or fix --images; the study keeps its text edges"))
            else:
                vec_ids.append(r.id)
                vecs.append(e.vector)
        for p in done:
            imgs = sorted((ImageResult(r.id, r.path, r.view_position, status[(r.id, r.path)]) for r in p.images
                           if (p.study.id, r.id) in accepted), key=lambda r: r.id)
            inputs.append(_study_input(p, imgs, extractor.id))
            built += 1
        stages.done("images")

        advance_g = track("Linking graph", total=1)
        g, link_stats = assemble(inputs, index, keep_text=settings.keep_text, parents=settings.umls_parents)
        stages.done("graph")
        findings = image_findings(g)  # before NaF: retrieval keeps every image's findings
        g, naf_report = apply_naf(g, settings.naf)
        advance_g()
        stages.done("naf")

        quarantined_records = sum(1 for q in quarantine if q["stage"] != "image")
        if read != built + quarantined_records:  # an internal invariant, never expected
            raise KGError(f"internal: read {read} != built {built} + quarantined {quarantined_records}", code="E501",
                          fix="report this to the medkg developers")

        order = sorted(range(len(vec_ids)), key=vec_ids.__getitem__)
        dim = encoder.dim
        matrix = np.stack([vecs[i] for i in order]) if vecs else np.zeros((0, dim), dtype=np.float32)
        vindex = VectorIndex([vec_ids[i] for i in order], matrix)
        if settings.similar_k > 0:
            g.add_edges("SIMILAR_TO", "Image", "Image", similar_edges(vindex, settings.similar_k))
            g.sort()
        # the build's own best-match similarities, which the retrieval guard compares queries with
        similarity = measure_rows(vindex.ids, vindex.vectors, _rows(g, "Image"), _rows(g, "Study"), encoder=encoder.id)
        stages.done("vector index")

        write_graph(g, staging)
        vindex.save(staging / "index")
        write_findings(findings, staging)
        with (staging / "quarantine.jsonl").open("w", encoding="utf-8") as fh:
            for q in quarantine:
                fh.write(json.dumps(q, sort_keys=True) + "\n")
        stages.done("write")

        manifest = Manifest.model_validate({
            "medkg": __version__,
            "format": FORMAT_VERSION,
            "settings": settings.recorded() | {"format": fmt},
            "input": {"checksum": "sha256:" + h.hexdigest()},
            "records": {
                "read": read,
                "built": built,
                "quarantined": quarantined_records,
            },
            "images": {
                "seen": images_seen,
                "embedded": len(vec_ids),
                "quarantined": images_seen - len(vec_ids),
                "skippedByView": images_skipped,  # includes those left out by one-image-per-study
            },
            "extractor": {"id": extractor.id, "mergeRule": MERGE_RULE, "polarityConflicts": link_stats.conflicts},
            "conceptIndex": {"name": index.name, "version": index.version},
            "encoder": {"id": encoder.id, "spec": settings.encoder, "dim": int(dim)},
            "vectorIndex": vindex.describe() | {"path": "index/"},
            "similarity": similarity,
            "naf": naf_report,
            "graph": g.counts(),
            "studiesWithoutImages": link_stats.studies_without_images,
            "timings": stages.seconds,
            "versions": _versions(),
        })
        from kg.report import write_report

        write_report(staging, manifest=manifest, graph=g, quarantine=quarantine, title=str(settings.out))
        stages.done("report")
        manifest.timings = dict(stages.seconds)
        manifest.files = sorted([*output.files(), "manifest.json"])
        write_manifest(manifest, staging)
        output.commit()
    return BuildResult(settings.out, manifest, quarantine)


@contextmanager
def _closing(executor):
    """The executor's workers (a Ray instance, a process pool) stop when the build ends, whichever way it ends."""
    try:
        yield executor
    finally:
        executor.close()


def _format_fix(source: Path, fmt: str) -> str:
    try:
        detected = detect_format(source)
    except KGError:
        return f"check that {source} is a corpus medkg reads (--format mimic, iu-xml, jsonl, csv or text)"
    if detected != fmt:
        return f"--format auto detects {detected!r} for this source: pass --format {detected} (or leave --format out)"
    return f"add reports to {source}, or check --limit and the layout for {fmt!r} in the README"


def similar_edges(vindex: VectorIndex, k: int, batch: int = 1024) -> list[dict]:
    """(Image)-[:SIMILAR_TO {score}]->(Image) to each image's k nearest other images (exact search)."""
    rows = []
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
