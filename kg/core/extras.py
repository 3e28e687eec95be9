"""medkg's optional parts (pip extras), declared once: what each one pulls in, what it takes on disk, and the check
a command makes before it does any work.

``require("neo4j", "kg neo4j start")`` raises :class:`~kg.core.errors.MissingExtraError` (exit 2, one line naming
the ``pip install`` that fixes it) when a module of the extra cannot be found. It looks the modules up without
importing them, so a check costs microseconds even for torch.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from kg.core.errors import MissingExtraError


@dataclass(frozen=True)
class Extra:
    name: str
    modules: tuple[str, ...]  # import names that must be found
    pulls: str  # what `pip install 'medkg[name]'` adds, in words
    size: str  # about what it takes on disk beyond the core install, measured on Linux x86-64


EXTRAS: dict[str, Extra] = {e.name: e for e in (
    Extra("images", ("open_clip", "torch", "faiss"), "open_clip_torch, torch, faiss-cpu: learned image encoders and "
          "the HNSW vector index", "4.8 GB with PyPI's CUDA build of torch"),
    Extra("dicom", ("pydicom",), "pydicom: DICOM images", "15 MB"),
    Extra("faiss", ("faiss",), "faiss-cpu alone: the HNSW vector index (50,000 images and more)", "25 MB"),
    Extra("nlp", ("transformers", "torch"), "transformers, torch: the transformers extractor, kg train-extractor",
          "4.8 GB with PyPI's CUDA build of torch"),
    Extra("gnn", ("torch", "torch_geometric"), "torch, torch-geometric: kg train-gnn, kg predict",
          "4.7 GB with PyPI's CUDA build of torch"),
    Extra("neo4j", ("neo4j",), "the neo4j driver (and its Rust extension): kg load, query, neo4j start, --neo4j",
          "5 MB"),
    Extra("api", ("fastapi", "fastapi_offline", "uvicorn", "python_multipart", "prometheus_client", "httpx", "openai"),
          "fastapi, fastapi-offline (the /docs page's assets), uvicorn, python-multipart, prometheus-client, httpx, "
          "openai: kg serve and its OpenAI-compatible gateway, kg eval rag's OpenAI endpoints", "41 MB"),
    Extra("mcp", ("mcp",), "the MCP SDK: kg mcp", "13 MB"),
    Extra("graphrag", ("neo4j_graphrag", "neo4j"), "neo4j-graphrag: kg.rag.graphrag.MedkgRetriever", "160 MB"),
    Extra("ray", ("ray",), "ray[data]: --engine ray", "0.3 GB"),
    Extra("remote", ("upath", "fsspec"), "universal_pathlib: --images s3://… and other fsspec URLs", "3 MB"),
    Extra("eval", ("sacrebleu", "rouge_score"), "sacrebleu, rouge-score: BLEU-4 and ROUGE-L in kg eval rag", "35 MB"),
)}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that this Python cannot find."""
    out = []
    for module in EXTRAS[extra].modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken or half-removed package counts as missing
            found = False
        if not found:
            out.append(module)
    return out


def require(extra: str, feature: str) -> None:
    """Stop before any work when ``feature`` (a command, an option) needs ``extra`` and it is not installed."""
    gone = missing(extra)
    if gone:
        raise MissingExtraError(feature, extra, gone[0])
