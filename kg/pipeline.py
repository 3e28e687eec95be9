"""The build pipeline: corpus -> sections -> extraction -> images -> graph -> NaF -> store.

Each stage is one call on typed records; bad records go to quarantine (or stop the build
under ``strict``) and the manifest reconciles ``read = built + quarantined``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from embed.batch import embed_images
from embed.encoders import get_encoder
from embed.index import VectorIndex
from extract.base import get_extractor
from extract.lexicon import load_concept_index
from extract.merge import MERGE_RULE
from extract.records import Extraction
from extract.sections import split_sections, target_sections
from graph.linking import ConceptRelation, ImageInput, StudyInput, link
from graph.naf import apply_naf
from graph.store import FORMAT_VERSION, write_graph, write_manifest
from kg import __version__
from kg.corpus import ImageRef, Rejected, Study, detect_format, read_corpus
from kg.errors import InputError, UsageError
from kg.progress import progress
from kg.settings import BuildSettings


@dataclass(frozen=True)
class ImageResult:
    id: str
    path: str
    view_position: str | None
    ok: bool


@dataclass(frozen=True)
class Processed:
    study: Study
    extraction: Extraction | None
    images: tuple[ImageRef, ...]  # after view selection; decoded later by the embedding stage
    skipped_views: int
    rejected: Rejected | None = None


@dataclass
class BuildResult:
    out: Path
    manifest: dict
    quarantined: list[dict] = field(default_factory=list)


# -- per-study work (runs in worker processes with --workers > 1) ----------------------------
_STATE: dict = {}


def make_extractor(spec: str, radgraph: Path | None, index):
    if radgraph is not None:
        from extract.radgraph_file import RadGraphFileExtractor

        return RadGraphFileExtractor(radgraph, index)
    return get_extractor(spec, index)


def _init_worker(extractor: str, views: tuple[str, ...], radgraph: Path | None = None,
                 one_image: bool = False, umls: Path | None = None) -> None:
    index = load_concept_index(umls)
    _STATE["extractor"] = make_extractor(extractor, radgraph, index)
    _STATE["views"] = views
    _STATE["one_image"] = one_image


def _pick_one(refs: tuple[ImageRef, ...], views: tuple[str, ...]) -> tuple[ImageRef, ...]:
    """One image per study: the first of ``views`` order that is present (frontal PA, then AP, when
    ``views`` is empty), then by id."""
    if len(refs) <= 1:
        return refs
    rank = {v: i for i, v in enumerate(views or ("PA", "AP"))}
    return (min(refs, key=lambda r: (rank.get((r.view_position or "").upper(), len(rank)), r.id)),)


def _process(study: Study) -> Processed:
    sections = split_sections(study.text)
    targets = target_sections(sections)
    if not targets or all(s.start == s.end for s in targets):
        found = ", ".join(s.header or s.name for s in sections) or "none"
        return Processed(study, None, (), 0, Rejected(
            study.id, study.source, "sections",
            f"no FINDINGS or IMPRESSION text (sections found: {found})",
            "add a FINDINGS or IMPRESSION section, or text without headers",
        ))
    try:
        extraction = _STATE["extractor"].extract(study.report_id, study.text, sections)
    except InputError as exc:
        return Processed(study, None, (), 0, Rejected(study.id, study.source, "extract", exc.what, exc.fix or ""))
    views = _STATE["views"]
    kept = tuple(r for r in study.images if not (views and r.view_position and r.view_position.upper() not in views))
    if _STATE.get("one_image"):
        kept = _pick_one(kept, views)
    return Processed(study, extraction, kept, len(study.images) - len(kept))


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


def build(settings: BuildSettings) -> BuildResult:
    fmt = settings.format if settings.format != "auto" else detect_format(settings.source)
    records = read_corpus(settings.source, fmt=fmt, images=settings.images, limit=settings.limit)
    index = load_concept_index(settings.umls)
    extractor = make_extractor(settings.extractor, settings.radgraph, index)
    encoder = get_encoder(settings.encoder)
    out = settings.out
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise UsageError(f"output folder {out} is not empty and holds no medkg graph",
                         fix="choose a new --out folder (medkg only overwrites its own builds)")

    quarantine: list[dict] = []
    read = built = 0
    images_skipped = 0
    inputs: list[StudyInput] = []
    vec_ids: list[str] = []
    vecs: list[np.ndarray] = []
    h = hashlib.sha256()

    def reject(r: Rejected) -> None:
        if settings.strict:
            raise InputError(f"{r.reason} (record {r.record_id})", where=r.source, fix=r.fix or "fix the record")
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

    with progress(settings.quiet) as track:
        advance = track("Reading and extracting reports", unit="reports")
        args = (settings.extractor, settings.views, settings.radgraph, settings.one_image_per_study, settings.umls)
        if settings.workers > 1:
            pool = get_context("spawn").Pool(settings.workers, initializer=_init_worker, initargs=args)
            results = pool.imap(_process, studies(), chunksize=16)
        else:
            pool = None
            _init_worker(*args)
            results = map(_process, studies())
        done: list[Processed] = []
        try:
            for p in results:
                advance()
                if p.rejected is not None:
                    reject(p.rejected)
                    continue
                images_skipped += p.skipped_views
                done.append(p)
        finally:
            if pool is not None:
                pool.terminate()

        refs = [r for p in done for r in p.images]
        images_seen = len(refs)
        advance_i = track("Embedding images", total=len(refs), unit="images")
        embedded = embed_images([(r.id, r.path) for r in refs], encoder, workers=settings.workers,
                                batch_size=settings.batch_size, advance=advance_i)
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
            imgs = sorted((ImageResult(r.id, r.path, r.view_position, status[(r.id, r.path)]) for r in p.images),
                          key=lambda r: r.id)
            inputs.append(_study_input(p, imgs, extractor.id))
            built += 1

        advance_g = track("Linking graph", total=1)
        g, link_stats = link(inputs, index, keep_text=settings.keep_text, parents=settings.umls_parents)
        naf_report = apply_naf(g, settings.naf)
        advance_g()

    quarantined_records = sum(1 for q in quarantine if q["stage"] != "image")
    if read != built + quarantined_records:  # an internal invariant, never expected
        raise AssertionError(f"read {read} != built {built} + quarantined {quarantined_records}")

    order = sorted(range(len(vec_ids)), key=vec_ids.__getitem__)
    dim = getattr(encoder, "dim", 0)
    matrix = np.stack([vecs[i] for i in order]) if vecs else np.zeros((0, dim), dtype=np.float32)
    vindex = VectorIndex([vec_ids[i] for i in order], matrix)
    if settings.similar_k > 0:
        g.add_edges("SIMILAR_TO", "Image", "Image", similar_edges(vindex, settings.similar_k))
        g.sort()

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    write_graph(g, out)
    vindex.save(out / "index")
    with (out / "quarantine.jsonl").open("w", encoding="utf-8") as fh:
        for q in quarantine:
            fh.write(json.dumps(q, sort_keys=True) + "\n")

    manifest = {
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
        "naf": naf_report,
        "graph": g.counts(),
        "studiesWithoutImages": link_stats.studies_without_images,
        "versions": _versions(),
    }
    write_manifest(manifest, out)
    return BuildResult(out, manifest, quarantine)


def similar_edges(vindex: VectorIndex, k: int, batch: int = 1024) -> list[dict]:
    """(Image)-[:SIMILAR_TO {score}]->(Image) to each image's k nearest other images (exact search)."""
    rows = []
    for b in range(0, len(vindex), batch):
        ids = vindex.ids[b : b + batch]
        for src, hits in zip(ids, vindex.search_many(vindex.vectors[b : b + batch], k + 1, exact=True)):
            for dst, score in [h for h in hits if h[0] != src][:k]:
                rows.append({"_start": src, "_end": dst, "score": round(score, 6)})
    return rows


def _versions() -> dict:
    import networkx
    import pyarrow

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "networkx": networkx.__version__,
    }
