"""The build's manifest (``DIR/manifest.json``) as a typed model, read and written in one place.

JSON keys are camelCase (``skippedByView``, ``conceptsCovered``), attributes snake_case. Unknown keys from a
newer medkg are kept (``extra="allow"``), so reading and writing a manifest never loses what it held.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from kg.core.errors import InvalidInput, NotFound

# 2: an edge's evidence is a list of structs (graph.model.Evidence), no longer "section:start-end:polarity:text"
FORMAT_VERSION = 2
NAME = "manifest.json"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Records(_Model):
    read: int = 0
    built: int = 0
    quarantined: int = 0


class Images(_Model):
    seen: int = 0
    embedded: int = 0
    quarantined: int = 0
    skipped_by_view: int = 0  # includes those left out by --one-image-per-study


class ExtractorInfo(_Model):
    id: str = ""
    merge_rule: str = ""
    polarity_conflicts: int = 0


class ConceptIndexInfo(_Model):
    name: str = ""
    version: str = ""


class EncoderInfo(_Model):
    id: str = ""
    spec: str = ""
    dim: int = 0


class NafSide(_Model):
    images: int = 0
    edges: dict[str, int] = Field(default_factory=dict)
    concepts_covered: int = 0


class NafReport(_Model):
    method: str = "none"
    before: NafSide = Field(default_factory=NafSide)
    after: NafSide = Field(default_factory=NafSide)


class GraphCounts(_Model):
    nodes: dict[str, int] = Field(default_factory=dict)
    relationships: dict[str, int] = Field(default_factory=dict)


class NodeProperty(_Model):
    """A node property written after the build (``Store.write_node_property``), e.g. ``Concept.gnnEmbedding``."""

    label: str
    name: str
    kind: str  # "vector" (list of float32), "number", "text", "boolean"
    dim: int = 0  # vector length
    count: int = 0  # nodes that got a value
    writer: str = ""  # who wrote it, e.g. "gnn/0.1"


class SimilarityReference(_Model):
    """How close the build's own images are to their nearest image of another patient (``patient``) or study
    (``study``): 101 quantiles of the cosine (0th..100th percentile), for the out-of-distribution guard
    (``graph.retrieve.ood``). ``None`` where no image has a match outside its own group."""

    encoder: str = ""
    images: int = 0  # indexed images
    sample: int = 0  # images whose best match was measured
    method: str = ""
    patient: list[float] | None = None
    study: list[float] | None = None


class Manifest(_Model):
    medkg: str = ""
    format: int = FORMAT_VERSION
    settings: dict[str, Any] = Field(default_factory=dict)
    input: dict[str, Any] = Field(default_factory=dict)  # {"checksum": "sha256:…"}
    records: Records = Field(default_factory=Records)
    images: Images = Field(default_factory=Images)
    extractor: ExtractorInfo = Field(default_factory=ExtractorInfo)
    concept_index: ConceptIndexInfo = Field(default_factory=ConceptIndexInfo)
    encoder: EncoderInfo = Field(default_factory=EncoderInfo)
    vector_index: dict[str, Any] = Field(default_factory=dict)  # kind, count, dim, parameters (embed.index)
    naf: NafReport = Field(default_factory=NafReport)
    graph: GraphCounts = Field(default_factory=GraphCounts)
    studies_without_images: int = 0
    timings: dict[str, float] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    files: list[str] | None = None  # every file the build wrote (None: a build from before medkg listed them)
    properties: list[NodeProperty] = Field(default_factory=list)
    similarity: SimilarityReference | None = None  # the graph's own best-match similarities (None: a build before it)
    calibration: dict[str, Any] | None = None  # `kg calibrate`: the chosen k and its guarantee (graph.retrieve.calibrate)
    gnn: dict[str, dict[str, Any]] = Field(default_factory=dict)  # `kg train-gnn`, by model: settings, data hash, split, metrics

    @property
    def checksum(self) -> str:
        return str(self.input.get("checksum", ""))

    def to_json(self) -> str:
        d = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return json.dumps(d, indent=2, sort_keys=True) + "\n"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.to_json())
        return out


def load_manifest(out: Path, *, any_format: bool = False) -> Manifest:
    """The manifest of the build in ``out``, parsed and checked: the one manifest parser. A folder without one is
    E213, a file that is not medkg's manifest E166, a build in another store format E1151 (unless
    ``any_format``: the output folder asks only whether the build there is medkg's). Readers call
    ``graph.store.read_manifest``, which first finishes a build that was killed while it was being swapped in."""
    p = out / NAME
    if not p.is_file():
        raise NotFound(f"{out} is not a medkg graph (no manifest.json)", code="E213",
                       fix="run `kg build ... --out DIR` first")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
        if not (isinstance(raw, dict) and "medkg" in raw and "format" in raw):
            raise ValueError("it names no medkg version and store format")
        m = Manifest.model_validate(raw)
    except (ValueError, ValidationError) as exc:
        why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise InvalidInput(f"{p} is not a valid medkg manifest: {why}", code="E166",
                           fix="rebuild the graph with `kg build`") from None
    if m.format != FORMAT_VERSION and not any_format:
        raise InvalidInput(f"{out} is a build of medkg {m.medkg or '?'} in store format {m.format}, and this medkg "
                           f"({_version()}) reads format {FORMAT_VERSION}", code="E1151",
                           fix="run the same `kg build` again into this folder (its settings are in the build's "
                               "manifest.json); `kg import` the same way for an imported MedMKG graph")
    return m


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("medkg")
    except PackageNotFoundError:
        return "this checkout"


def save_manifest(manifest: Manifest | dict[str, Any], out: Path, *, atomic: bool = True) -> None:
    m = manifest if isinstance(manifest, Manifest) else Manifest.model_validate(manifest)
    p = out / NAME
    if not atomic:
        p.write_text(m.to_json(), encoding="utf-8")
        return
    tmp = out / f".{NAME}.tmp"
    tmp.write_text(m.to_json(), encoding="utf-8")
    os.replace(tmp, p)
