"""``--device auto|cpu|cuda`` for everything that runs torch (GNN training, the extractor's fine-tuning)."""

from __future__ import annotations

from typing import Any

from kg.core.errors import InvalidInput, Unavailable


def pick_device(name: str) -> Any:
    """The ``torch.device`` for ``name``: ``auto`` is CUDA when torch sees a GPU; ``cuda`` without one is an error,
    never a silent fallback."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise Unavailable("--device cuda, but torch sees no CUDA device", code="E4101",
                              fix="use --device cpu (or auto), or install a CUDA build of torch on a GPU machine")
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise InvalidInput(f"unknown device {name!r}", code="E1109", fix="use auto, cpu or cuda")
