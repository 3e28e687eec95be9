"""`kg import medmkg`: a published MedMKG graph as a medkg build folder (tables, quarantine, manifest) that the
GNN trains on, `kg stats` reads and `kg load` puts into Neo4j. Written like a build: staged, then swapped in, so
a failed import leaves the previous contents of the folder as they were."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from graph.formats.medmkg import read_medmkg
from graph.store import FORMAT_VERSION, Manifest, write_graph, write_manifest
from graph.store.manifest import GraphCounts, Records
from graph.store.outdir import BuildOutput
from kg import __version__
from kg.core.errors import NotFound
from kg.core.quarantine import Quarantine


@dataclass
class ImportResult:
    out: Path
    manifest: Manifest
    quarantined: list[dict]


def _checksum(*paths: Path | None) -> str:
    h = hashlib.sha256()
    for p in paths:
        if p is not None:
            with p.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return "sha256:" + h.hexdigest()


def import_medmkg(source: Path, out: Path, *, images: Path | None = None, force: bool = False) -> ImportResult:
    for p in (source, images):
        if p is not None and not p.is_file():
            raise NotFound(f"no file {p}", code="E2101", where=str(p), fix="pass the path of MedMKG.csv (and image_mapping.csv)")
    output = BuildOutput(out, force=force)
    output.check()
    g, rejected, read = read_medmkg(source, images)
    quarantine = Quarantine(records=rejected)
    with output as staging:
        write_graph(g, staging)
        quarantine.write(staging / "quarantine.jsonl")
        manifest = Manifest(
            medkg=__version__, format=FORMAT_VERSION,
            settings={"importedFrom": "medmkg", "source": str(source), "images": str(images) if images else None},
            input={"checksum": _checksum(source, images)},
            records=Records(read=read, built=read - len(quarantine), quarantined=len(quarantine)),
            graph=GraphCounts.model_validate(g.counts()),
        )
        manifest.files = sorted([*output.files(), "manifest.json"])
        write_manifest(manifest, staging)
        output.commit()
    return ImportResult(out, manifest, quarantine.as_dicts())
