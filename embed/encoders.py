"""Image encoders behind one Protocol and a registry of names.

``pixels`` (default): a deterministic, non-learned encoder — the image resized to
``size``×``size`` (area averaging), intensities centred and L2-normalised. It is a real
function of the pixels and needs no download, so the sample and any corpus build
offline; it captures global appearance only. Real use wants a learned encoder
(``--encoder open_clip:<model>``, see the README).
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np
from PIL import Image

from kg.errors import UsageError


class Encoder(Protocol):
    name: str
    dim: int

    @property
    def id(self) -> str: ...

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32, rows L2-normalised."""
        ...


class PixelsEncoder:
    name = "pixels"

    def __init__(self, size: int = 32):
        if not 4 <= size <= 256:
            raise UsageError(f"pixels encoder size {size} out of range", fix="use --encoder pixels:<4..256>")
        self.size = size
        self.dim = size * size

    @property
    def id(self) -> str:
        return f"pixels:{self.size}"

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for i, im in enumerate(images):
            small = im.convert("L").resize((self.size, self.size), Image.Resampling.BOX)
            v = np.asarray(small, dtype=np.float32).reshape(-1) / 255.0
            v = v - v.mean()
            norm = float(np.linalg.norm(v))
            out[i] = v / norm if norm > 0 else v
        return out


ENCODERS: dict[str, Callable[[str | None], Encoder]] = {
    "pixels": lambda arg: PixelsEncoder(int(arg) if arg else 32),
}


def get_encoder(spec: str) -> Encoder:
    """``name`` or ``name:argument`` (e.g. ``pixels:32``)."""
    name, _, arg = spec.partition(":")
    if name not in ENCODERS:
        raise UsageError(
            f"unknown image encoder {name!r}",
            fix="use one of: " + ", ".join(sorted(ENCODERS)) + " (open_clip arrives with the images extra)",
        )
    try:
        return ENCODERS[name](arg or None)
    except ValueError:
        raise UsageError(f"bad encoder argument {arg!r} for {name}", fix="e.g. --encoder pixels:32") from None
