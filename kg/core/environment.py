"""Every environment variable medkg reads, in one place (pydantic-settings).

``MEDKG_CACHE`` (cache folder), ``MEDKG_NEO4J_HOME`` (medkg's own Neo4j server folder), ``MEDKG_EXTRACT_MODEL``
(the transformers extractor's model folder), ``MEDKG_API_KEY`` (the retrieval service's key), and Neo4j's standard
``NEO4J_URI``, ``NEO4J_USERNAME``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``. Read on each call, so a changed
environment is seen; secrets are never part of a repr.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MedkgEnv(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDKG_", extra="ignore", env_ignore_empty=True)

    cache: Path | None = None
    neo4j_home: Path | None = None
    extract_model: Path | None = None
    api_key: SecretStr | None = Field(default=None, repr=False)  # the retrieval service's key (X-API-Key)


class Neo4jEnv(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEO4J_", extra="ignore", env_ignore_empty=True)

    uri: str | None = None
    username: str = "neo4j"
    password: SecretStr = Field(default=SecretStr(""), repr=False)
    database: str = "neo4j"


def medkg_env() -> MedkgEnv:
    return MedkgEnv()


def neo4j_env() -> Neo4jEnv:
    return Neo4jEnv()


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """One BLAS thread per process, where the user has not set a number: medkg's vector searches are many and
    small, and a BLAS pool per request thread or per worker oversubscribes the cores (measured on 2 cores: kg serve
    27 -> 163 requests/s at concurrency 16; kg eval rag at 20,000 images 120 -> 42 s). Takes effect in processes
    started afterwards, and in this one if numpy has not been imported yet."""
    for var in BLAS_THREADS:
        os.environ.setdefault(var, "1")
