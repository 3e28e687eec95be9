"""Generated build folders with a known structure, for benchmarks and tests that need more images than the sample
has: a store is written through the same writers a build uses (graph tables, the findings table, the vector index,
the manifest), without a corpus behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embed.index import VectorIndex
from extract.certainty import certainty_of
from extract.records import Polarity
from graph.model import Evidence, Graph, NodeTable
from graph.retrieve.ood import measure_rows
from graph.store import Manifest, write_graph, write_manifest
from graph.store.files import image_findings, write_findings


def write_store(out: Path, g: Graph, image_ids: list[str], vectors: np.ndarray, *, checksum: str,
                index_kind: str | None = None) -> Path:
    """Write ``g`` and the images' ``vectors`` (unit rows) as a build folder: what retrieval and `kg serve` read."""
    g.sort()
    write_graph(g, out)
    write_findings(image_findings(g), out)
    index = VectorIndex(image_ids, vectors, kind=index_kind)  # None: a build's own choice for this size
    index.save(out / "index")
    size = int(round(vectors.shape[1] ** 0.5))
    encoder = f"pixels/{size}"
    similarity = measure_rows(index.ids, index.vectors, g.nodes["Image"].rows if "Image" in g.nodes else [],
                              g.nodes["Study"].rows if "Study" in g.nodes else [], encoder=encoder)
    write_manifest(Manifest.model_validate({
        "medkg": "generated", "input": {"checksum": checksum}, "graph": g.counts(),
        "encoder": {"id": encoder, "spec": f"pixels:{size}", "dim": int(vectors.shape[1])},
        "vectorIndex": index.describe(), "settings": {"keep_text": True}, "files": None,
        "similarity": similarity}), out)
    return out


def finding_row(image: str, study: str, cui: str, polarity: str, name: str) -> dict:
    """An Image -> Concept edge as a build writes it (report, section, one evidence span, extractor)."""
    pol = Polarity.of_edge(polarity)
    return {"_start": image, "_end": cui, "reportId": study, "section": "findings", "extractor": "generated",
            "evidence": [Evidence(study, "findings", 10, 30, pol, certainty_of(pol), "generated", name).as_row()]}


def agreement_store(out: Path, *, groups: int = 150, per_group: int = 16, concepts: int = 12, findings: int = 5,
                    agree: float = 0.94, dim: int = 64, spread: float = 1.2, seed: int = 0) -> Path:
    """A store whose neighbours share findings with a known probability, to check calibration (`kg calibrate`).

    ``groups`` groups of ``per_group`` images (one image per study, two studies per patient, every study in the
    ``validate`` split); an image's vector is its group's centre plus Gaussian noise of norm about ``spread``, so
    the nearest images are mostly of the same group and, as k grows, more of them come from other groups. Each
    group has ``findings`` of the ``concepts`` concepts with a polarity (present or absent), and each image's
    report states every one of them: with the group's polarity with probability ``agree``, the other otherwise."""
    rng = np.random.default_rng(seed)
    n = groups * per_group
    images, studies = [f"g{i:06d}" for i in range(n)], [f"s{i:06d}" for i in range(n)]
    patients = [f"p{i // 2:06d}" for i in range(n)]  # consecutive images, same group: two studies per patient
    cuis = [f"C9{i:06d}" for i in range(concepts)]
    g = Graph()
    g.nodes["Patient"] = NodeTable("Patient", [{"id": p} for p in dict.fromkeys(patients)])
    g.nodes["Study"] = NodeTable("Study", [{"id": s, "patientId": p, "split": "validate"} for s, p in zip(studies, patients)])
    g.nodes["Image"] = NodeTable("Image", [{"id": i, "studyId": s, "viewPosition": "PA", "kept": True}
                                           for i, s in zip(images, studies)])
    g.nodes["Concept"] = NodeTable("Concept", [{"cui": c, "name": f"finding {n}", "group": "OBSERVATION",
                                                "semanticTypes": ["T047:Disease or Syndrome"]} for n, c in enumerate(cuis)])
    g.add_edges("HAS_STUDY", "Patient", "Study", [{"_start": p, "_end": s} for s, p in zip(studies, patients)])
    g.add_edges("HAS_IMAGE", "Study", "Image", [{"_start": s, "_end": i} for s, i in zip(studies, images)])
    rows: dict[str, list[dict]] = {Polarity.POSITIVE.edge_type: [], Polarity.NEGATIVE.edge_type: []}
    centres = rng.standard_normal((groups, dim))
    vectors = np.empty((n, dim), dtype=np.float32)
    for grp in range(groups):
        stated = rng.choice(concepts, size=findings, replace=False)
        present = rng.random(findings) < 0.5
        for j in range(grp * per_group, (grp + 1) * per_group):
            vectors[j] = centres[grp] / np.sqrt(dim) + spread * rng.standard_normal(dim) / np.sqrt(dim)
            for c, pos in zip(stated, present):
                pos = pos if rng.random() < agree else not pos
                typ = (Polarity.POSITIVE if pos else Polarity.NEGATIVE).edge_type
                rows[typ].append(finding_row(images[j], studies[j], cuis[c], typ, f"finding {c}"))
    for typ, r in rows.items():
        g.add_edges(typ, "Image", "Concept", r)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return write_store(out, g, images, vectors, checksum=f"agreement-{seed}-{groups}-{per_group}-{agree}-{spread}",
                       index_kind="flat-ip")


REPORT_FINDINGS = {  # label of kg label's CheXpert map: (its first CUI, the words a report uses)
    "Cardiomegaly": ("C0018800", "cardiomegaly"), "Edema": ("C0034063", "pulmonary edema"),
    "Consolidation": ("C0521530", "consolidation"), "Pneumonia": ("C0032285", "pneumonia"),
    "Atelectasis": ("C0004144", "atelectasis"), "Pneumothorax": ("C0032326", "pneumothorax"),
    "Pleural Effusion": ("C0032227", "pleural effusion"),
}


def report_store(out: Path, *, images: int = 20_000, groups: int = 400, agree: float = 0.9, dim: int = 64,
                 spread: float = 1.2, split: str = "test", seed: int = 0) -> Path:
    """A store of ``images`` images, one study and report each, for `kg eval rag` at scale: like
    :func:`agreement_store`, each of ``groups`` groups states three of the CheXpert findings in
    :data:`REPORT_FINDINGS` with a polarity, and each image's report states each of them in words ("Pleural
    effusion." / "No pneumothorax.") with the group's polarity with probability ``agree``; the graph's edges carry
    the same findings, so the neighbours' findings predict a report as well as ``agree`` allows."""
    rng = np.random.default_rng(seed)
    labels = sorted(REPORT_FINDINGS)
    ids = [f"{i:07d}" for i in range(images)]
    group = rng.integers(0, groups, images)
    g = Graph()
    g.nodes["Patient"] = NodeTable("Patient", [{"id": f"p{i}"} for i in ids])
    g.nodes["Study"] = NodeTable("Study", [{"id": f"s{i}", "patientId": f"p{i}", "split": split} for i in ids])
    g.nodes["Image"] = NodeTable("Image", [{"id": f"g{i}", "studyId": f"s{i}", "viewPosition": "PA", "kept": True}
                                           for i in ids])
    g.nodes["Concept"] = NodeTable("Concept", [{"cui": REPORT_FINDINGS[x][0], "name": x, "group": "OBSERVATION",
                                                "semanticTypes": ["T047:Disease or Syndrome"]} for x in labels])
    g.add_edges("HAS_STUDY", "Patient", "Study", [{"_start": f"p{i}", "_end": f"s{i}"} for i in ids])
    g.add_edges("HAS_IMAGE", "Study", "Image", [{"_start": f"s{i}", "_end": f"g{i}"} for i in ids])
    stated = [rng.choice(len(labels), size=3, replace=False) for _ in range(groups)]
    present = rng.random((groups, 3)) < 0.5
    rows: dict[str, list[dict]] = {Polarity.POSITIVE.edge_type: [], Polarity.NEGATIVE.edge_type: []}
    reports = []
    for n, i in enumerate(ids):
        sentences = []
        for c, pos in zip(stated[group[n]], present[group[n]]):
            pos = bool(pos) if rng.random() < agree else not pos
            cui, words = REPORT_FINDINGS[labels[c]]
            sentences.append(f"{words.capitalize()}." if pos else f"No {words}.")
            typ = (Polarity.POSITIVE if pos else Polarity.NEGATIVE).edge_type
            rows[typ].append(finding_row(f"g{i}", f"s{i}", cui, typ, words))
        reports.append({"id": f"s{i}", "studyId": f"s{i}", "findings": " ".join(sentences), "impression": None})
    g.nodes["Report"] = NodeTable("Report", reports)
    for typ, r in rows.items():
        g.add_edges(typ, "Image", "Concept", r)
    centres = rng.standard_normal((groups, dim))
    vectors = (centres[group] + spread * rng.standard_normal((images, dim))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return write_store(out, g, [f"g{i}" for i in ids], vectors, checksum=f"reports-{seed}-{images}-{groups}-{agree}")
