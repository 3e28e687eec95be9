"""The embedding stage: decode, prepare and encode many images, quarantining the bad ones.

Learned (torch) encoders read through a ``torch.utils.data.DataLoader`` whose workers decode
and preprocess; the model runs batched in this process. Other encoders use a process pool
when ``workers > 1``. Results keep the input order, so builds stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np

from embed.encoders import Encoder
from embed.images import ImageError, load_image


@dataclass(frozen=True)
class Embedded:
    id: str
    vector: np.ndarray | None
    problem: str = ""


def load_and_prepare(preparer, path: str) -> tuple[Any, str]:
    """Read, decode and preprocess one image with ``preparer.prepare`` -> (sample, "") or (None, the reason)."""
    try:
        return preparer.prepare(load_image(path)), ""
    except ImageError as exc:
        return None, exc.what
    except Exception as exc:  # a decoder bug must not stop the build: quarantine the image
        return None, f"image cannot be decoded: {type(exc).__name__}: {exc}"


def _load_and_prepare(args) -> tuple[int, Any, str]:
    i, path, preparer = args
    return (i, *load_and_prepare(preparer, path))


class _Dataset:
    def __init__(self, paths: Sequence[str], preparer):
        self.paths, self.preparer = paths, preparer

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return _load_and_prepare((i, self.paths[i], self.preparer))


def _collate(batch):
    return batch


def embed_images(
    items: Sequence[tuple[str, str]],
    encoder: Encoder,
    *,
    workers: int = 1,
    batch_size: int = 64,
    advance: Callable[[int], None] | None = None,
) -> list[Embedded]:
    """``items`` = [(image id, path)] -> one :class:`Embedded` per item, same order."""
    out: list[Embedded | None] = [None] * len(items)
    advance = advance or (lambda n: None)
    paths = [p for _, p in items]
    preparer = encoder.preparer()  # what worker processes receive: the preprocessing, not the model

    def flush(batch):
        good = [(i, s) for i, s, problem in batch if not problem]
        for i, _, problem in batch:
            if problem:
                out[i] = Embedded(items[i][0], None, problem)
        if good:
            vecs = encoder.encode_batch([s for _, s in good])
            for (i, _), v in zip(good, vecs):
                out[i] = Embedded(items[i][0], v)
        advance(len(batch))

    if encoder.uses_torch:
        from torch.utils.data import DataLoader

        dataset: Any = _Dataset(paths, preparer)  # map-style (__len__, __getitem__), without importing torch at module level
        loader: DataLoader[Any] = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                             num_workers=workers if workers > 1 else 0, collate_fn=_collate)
        for batch in loader:
            flush(batch)
    else:
        jobs = ((i, p, preparer) for i, p in enumerate(paths))
        if workers > 1:
            with get_context("spawn").Pool(workers) as pool:
                results = pool.imap(_load_and_prepare, jobs, chunksize=16)
                batch = []
                for r in results:
                    batch.append(r)
                    if len(batch) == batch_size:
                        flush(batch)
                        batch = []
                flush(batch)
        else:
            batch = []
            for job in jobs:
                batch.append(_load_and_prepare(job))
                if len(batch) == batch_size:
                    flush(batch)
                    batch = []
            flush(batch)
    return [e for e in out if e is not None]
