"""Image encoders behind one Protocol and a registry of names.

An encoder splits its work in two so that decoding and preprocessing can run in worker
processes (a torch DataLoader for learned encoders) while the model runs batched in one place:
``prepare(image) -> sample`` and ``encode_batch(samples) -> (n, dim) float32``, rows L2-normalised.

``pixels`` (default): a deterministic, non-learned encoder — the image resized to
``size``×``size`` (area averaging), intensities centred and L2-normalised. It is a real
function of the pixels and needs no download, so the sample and any corpus build
offline; it captures global appearance only. Real use wants a learned encoder
(``--encoder open_clip:<model>``, see the README and :mod:`embed.openclip`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from PIL import Image

from kg.core.errors import InvalidInput
from kg.core.registry import Registry


class Encoder(Protocol):
    name: str
    dim: int
    uses_torch: bool

    @property
    def id(self) -> str: ...

    def prepare(self, image: Image.Image) -> Any:
        """One decoded 8-bit grayscale image -> one model input (picklable)."""
        ...

    def encode_batch(self, samples: Sequence[Any]) -> np.ndarray:
        """(n, dim) float32, rows L2-normalised."""
        ...

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def preparer(self) -> Preparer:
        """What decoding workers need: an object with this encoder's ``prepare``, small to send (an encoder that
        holds a model gives its transform alone; a light one gives itself)."""
        ...


class Preparer(Protocol):
    def prepare(self, image: Image.Image) -> Any: ...


class PixelsEncoder:
    name = "pixels"
    uses_torch = False

    def __init__(self, size: int = 32):
        if not 4 <= size <= 256:
            raise InvalidInput(f"pixels encoder size {size} out of range", code="E134", fix="use --encoder pixels:<4..256>")
        self.size = size
        self.dim = size * size

    @property
    def id(self) -> str:
        return f"pixels:{self.size}"

    def prepare(self, image: Image.Image) -> np.ndarray:
        small = image.convert("L").resize((self.size, self.size), Image.Resampling.BOX)
        v = np.asarray(small, dtype=np.float32).reshape(-1) / 255.0
        v = v - v.mean()
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else v

    def encode_batch(self, samples: Sequence[np.ndarray]) -> np.ndarray:
        if not len(samples):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(samples).astype(np.float32, copy=False)

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encode_batch([self.prepare(im) for im in images])

    def preparer(self) -> PixelsEncoder:
        return self  # small: sent whole


def _open_clip(arg: str | None) -> Encoder:
    from embed.openclip import OpenClipEncoder

    return OpenClipEncoder.from_spec(arg)


ENCODERS: Registry[Encoder] = Registry("image encoder", option="--encoder")
ENCODERS.add("pixels", lambda arg: PixelsEncoder(int(arg) if arg else 32))
ENCODERS.add("open_clip", _open_clip)


def get_encoder(spec: str) -> Encoder:
    """``name`` or ``name:argument`` (``pixels:32``, ``open_clip:ViT-B-16@<weights>``, ``open_clip:hf-hub:org/repo``)."""
    factory, s = ENCODERS.get(spec)
    name, arg = s.name, s.arg
    try:
        return factory(arg)
    except ValueError:
        raise InvalidInput(f"bad encoder argument {arg!r} for {name}", code="E135", fix="e.g. --encoder pixels:32") from None
