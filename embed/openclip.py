"""The ``open_clip`` encoder: any open_clip model, its own preprocessing, batched, CUDA + autocast.

Specs (``--encoder open_clip:<spec>``):

* ``local-dir:/path`` or ``/path`` — a folder with ``open_clip_config.json`` and weights
  (``open_clip_model.safetensors``), the layout open_clip saves and the Hugging Face hub serves;
* ``hf-hub:org/repo`` — e.g. ``hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``,
  read from the local Hugging Face cache only (download it yourself first);
* ``<model>@<weights>`` — a built-in architecture (``ViT-B-16``) with a pretrained tag that is
  already cached, or a checkpoint file.

Nothing is downloaded: the Hugging Face hub is put offline while loading, and a tag whose
weights are not in the cache is an error that names what to download. Without weights
(``<model>@random``) the model is randomly initialised, from a fixed seed — for tests and benchmarks only, and the
encoder id says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kg.core.errors import InvalidInput, MissingExtraError, NotFound

FIX = ("--encoder open_clip:local-dir:<folder> (open_clip_config.json + weights), open_clip:hf-hub:<org/repo> "
       "already in the Hugging Face cache, or open_clip:<model>@<checkpoint file>")


@contextmanager
def _offline():
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cached_hub_dir(repo_id: str) -> str:
    """The local snapshot folder of a Hugging Face repo, without touching the network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        raise MissingExtraError("the open_clip encoder", "images", "huggingface_hub") from None
    hit = try_to_load_from_cache(repo_id, "open_clip_config.json")
    if not isinstance(hit, str):
        raise NotFound(
            f"hf-hub:{repo_id} is not in the local Hugging Face cache", code="E209",
            fix=f"download it first (huggingface-cli download {repo_id}), or pass its folder: open_clip:local-dir:<folder>",
        )
    return str(Path(hit).parent)


class OpenClipEncoder:
    name = "open_clip"
    uses_torch = True

    def __init__(self, model_name: str, pretrained: str | None, *, device: str | None = None,
                 label: str | None = None):
        try:
            import open_clip
            import torch
        except ImportError:
            raise MissingExtraError("the open_clip encoder", "images", "open_clip_torch") from None
        self._torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            # random weights (<model>@random) come from a fixed seed, so every process that loads the encoder (a
            # Ray actor, a server worker) holds the same model; the caller's random state is left as it was
            with _offline(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name, pretrained=pretrained, device=self.device
                )
        except Exception as exc:  # open_clip raises RuntimeError/FileNotFoundError/ValueError/HF errors
            raise InvalidInput(
                f"open_clip model {label or model_name!r} could not be loaded offline: {str(exc).splitlines()[0]}", code="E138",
                fix=f"download the weights first (e.g. huggingface-cli download <repo>), then use {FIX}",
            ) from None
        self.model = model.eval()
        self.preprocess = preprocess
        self._preparer = ClipPreparer(preprocess)
        size = getattr(model.visual, "image_size", 224)
        size = size if isinstance(size, (tuple, list)) else (size, size)
        with torch.inference_mode():
            dummy = torch.zeros(1, 3, *size, device=self.device)
            self.dim = int(model.encode_image(dummy).shape[-1])
        self.label = label or model_name

    @classmethod
    def from_spec(cls, spec: str | None) -> OpenClipEncoder:
        if not spec:
            raise InvalidInput("the open_clip encoder needs a model", code="E136", fix=f"use {FIX}")
        if spec.startswith("hf-hub:"):
            return cls(f"local-dir:{_cached_hub_dir(spec[len('hf-hub:'):])}", None, label=spec)
        if spec.startswith("local-dir:"):
            return cls(spec, None, label=spec)
        if "@" not in spec and Path(spec).is_dir():
            return cls(f"local-dir:{spec}", None, label=f"local-dir:{Path(spec).name}")
        model, _, weights = spec.partition("@")
        if not weights:
            raise InvalidInput(f"open_clip model {model!r} needs weights", code="E137", fix=f"use {FIX}")
        if weights == "random":
            return cls(model, None, label=f"{model}@random")
        if not Path(weights).is_file():
            import open_clip

            cfg = open_clip.get_pretrained_cfg(model, weights)
            if not cfg:
                raise InvalidInput(f"{weights!r} is neither a checkpoint file nor a pretrained tag of {model}", code="E139",
                                 fix="see open_clip.list_pretrained() for tags, or give a checkpoint path")
            if not cfg.get("hf_hub"):
                raise InvalidInput(f"the weights of {model}@{weights} are fetched by URL, which medkg never does", code="E140",
                                 fix=f"download {cfg.get('url')} yourself and pass its path: open_clip:{model}@<file>")
        return cls(model, weights, label=f"{model}@{Path(weights).name if Path(weights).is_file() else weights}")

    @property
    def id(self) -> str:
        return f"open_clip:{self.label}"

    def prepare(self, image: Image.Image) -> Any:
        return self._preparer.prepare(image)

    def preparer(self) -> ClipPreparer:
        """The preprocessing without the model, for decoding workers."""
        return self._preparer

    def encode_batch(self, samples: Sequence[Any]) -> np.ndarray:
        torch = self._torch
        if not len(samples):
            return np.zeros((0, self.dim), dtype=np.float32)
        x = torch.stack(list(samples)).to(self.device)
        with torch.inference_mode(), torch.autocast(device_type="cuda", enabled=self.device.startswith("cuda")):
            v = self.model.encode_image(x).float()
        v = torch.nn.functional.normalize(v, dim=-1)
        return v.cpu().numpy().astype(np.float32, copy=False)

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encode_batch([self.prepare(im) for im in images])


class ClipPreparer:
    """An open_clip model's image transform, sent to the processes that decode images (the model stays put)."""

    def __init__(self, preprocess):
        self.preprocess = preprocess

    def prepare(self, image: Image.Image) -> Any:
        return self.preprocess(image.convert("RGB"))
