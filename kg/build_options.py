"""Build settings (pydantic): what the CLI and the Python API accept, recorded in the manifest."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from graph.naf import METHODS as NAF_METHODS


class BuildSettings(BaseModel):
    source: Path
    out: Path
    format: str = "auto"
    images: str | None = None  # a folder, or a URL fsspec reads (s3://bucket/mimic-cxr-jpg)
    limit: int | None = Field(default=None, ge=1)
    workers: int | None = Field(default=None, ge=1)  # None: 1, or every CPU for a local Ray instance
    strict: bool = False
    quiet: bool = False
    extractor: str = "rules"
    radgraph: Path | None = None  # RadGraph JSON used instead of running an extractor
    umls: Path | None = None  # a UMLS index folder (kg umls index) instead of the bundled lexicon
    umls_parents: int = Field(default=0, ge=0)  # add isa ancestors up to this many levels
    encoder: str = "pixels"
    naf: str = "medmkg"
    views: tuple[str, ...] = ("PA", "AP")  # images whose ViewPosition is known and not listed are skipped
    keep_text: bool = True
    one_image_per_study: bool = False
    batch_size: int = Field(default=64, ge=1)
    similar_k: int = Field(default=0, ge=0)  # SIMILAR_TO edges to each image's k nearest images
    engine: str | None = None  # local, processes or ray[:ADDRESS] (default: processes when workers > 1)
    ray_address: str | None = None  # join this Ray cluster (implies the ray engine)
    encode_actors: int | None = Field(default=None, ge=1)  # the ray engine's encoder pool (default: per GPU, or CPUs/2)
    gpus_per_actor: float | None = Field(default=None, ge=0)  # default: 1 when the cluster has GPUs, else 0
    force: bool = False  # build into a non-empty folder that holds no medkg build (never replacing its files)

    @field_validator("naf")
    @classmethod
    def _naf(cls, v: str) -> str:
        if v not in NAF_METHODS:
            raise ValueError(f"{v!r} is not a NaF method; use one of: {', '.join(NAF_METHODS.names())}")
        return v

    @field_validator("views", mode="before")
    @classmethod
    def _views(cls, v):
        if isinstance(v, str):
            v = [x for x in v.split(",") if x.strip()]
        return tuple(x.strip().upper() for x in v)

    def recorded(self) -> dict:
        """The settings as the manifest records them (paths as given, no machine state)."""
        d = self.model_dump(mode="json", exclude={"quiet", "workers", "out", "force", "engine",
                                                           "ray_address", "encode_actors", "gpus_per_actor"})
        return d
