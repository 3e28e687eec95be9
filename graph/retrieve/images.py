"""Nearest images: for an image of the graph (by id) or a new image file (encoded with the build's encoder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from extract.records import Polarity
from graph.retrieve.records import ImageHit
from graph.store import FileStore, Store
from kg.core.errors import InvalidInput, NotFound


def query_vector(files: FileStore, query: str | bytes) -> tuple[np.ndarray, str | None]:
    """(vector, the image's own id when ``query`` is an image of the graph). ``query``: an image id, an image
    file's path, or an image's bytes; files and bytes are encoded with the build's own encoder."""
    if isinstance(query, (bytes, bytearray)):
        from embed.images import decode_image

        return files.encoder.encode([_big_enough(decode_image(bytes(query)), "the image")])[0], None
    if query in files.index:
        return files.index.vector(query), query
    if Path(query).is_file():
        from embed.images import load_image

        return files.encoder.encode([_big_enough(load_image(query), query)])[0], None
    raise NotFound(f"{query!r} is neither an image id of the graph nor an image file", code="E211",
                   fix="pass an Image id (see nodes/Image.parquet) or a path to a JPEG/PNG")


MIN_SIDE = 16  # pixels: smaller images carry no radiograph to compare


def _big_enough(im: Image.Image, where: str) -> Image.Image:
    if min(im.size) < MIN_SIDE:
        raise InvalidInput(f"the image is {im.size[0]}×{im.size[1]} pixels, too small to compare", code="E193",
                           where=where, fix=f"send a radiograph of at least {MIN_SIDE}×{MIN_SIDE} pixels")
    return im


def positive_findings(store: Store, image_id: str) -> tuple[str, ...]:
    names = []
    for e in store.edges_of("Image", image_id):
        if e.direction == "out" and e.type == Polarity.POSITIVE.edge_type:
            c = store.node("Concept", e.other_key)
            names.append((c or {}).get("name") or e.other_key)
    return tuple(sorted(names))


def nearest_images(store: Store, vector: np.ndarray, k: int = 10, *, exclude: str | None = None,
                   exact: bool = False) -> list[ImageHit]:
    """The ``k`` images nearest ``vector`` (leaving out ``exclude``, the query image itself)."""
    hits = [h for h in store.nearest_images(vector, k + (1 if exclude else 0), exact=exact) if h[0] != exclude][:k]
    out = []
    for i, score in hits:
        node = store.node("Image", i) or {}
        out.append(ImageHit(id=i, score=score, study_id=node.get("studyId"), kept=node.get("kept"),
                            positive=positive_findings(store, i)))
    return out


def similar_images(store: Store, query: str | bytes, k: int = 10, *, exact: bool = False) -> list[ImageHit]:
    """`kg similar`: ``query`` is an image id, an image file or its bytes (encoded with ``store.files``' encoder)."""
    vec, self_id = query_vector(store.files, query)
    return nearest_images(store, vec, k, exclude=self_id, exact=exact)
