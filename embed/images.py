"""Decode radiographs into 8-bit grayscale PIL images.

JPEG and PNG (8-bit, 16-bit and 32-bit grayscale, palette, RGB(A), CMYK) through Pillow.
High-bit-depth images are windowed to their own min..max before scaling to 0..255, so a
12-bit image stored in 16 bits keeps its contrast. DICOM needs ``pydicom`` (extra ``dicom``).
Every failure raises :class:`ImageError` with a reason fit for quarantine.jsonl.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from kg.core.errors import InvalidInput


class ImageError(InvalidInput):
    pass


def load_image(path: str | Path) -> Image.Image:
    """The image at ``path`` (a file, or a URL fsspec reads: ``s3://``, ``gs://``, ``file://``) as a fully decoded
    8-bit grayscale ("L") PIL image."""
    if "://" in str(path):
        return _load_url(str(path))
    p = Path(path)
    if not p.exists():
        raise ImageError("image file is missing", where=str(p), fix="check the image root (--images)")
    if p.is_file() and p.stat().st_size == 0:
        raise ImageError("image file is empty (0 bytes)", where=str(p), fix="re-download the image")
    if p.suffix.lower() == ".dcm":
        return _load_dicom(p, str(p))
    return _decode(p, str(p))


def _load_url(url: str) -> Image.Image:
    from kg.core.locations import location

    try:
        data = location(url).read_bytes()
    except FileNotFoundError:
        raise ImageError("image file is missing", where=url, fix="check the image root (--images)") from None
    except OSError as exc:
        raise ImageError(f"image cannot be read: {exc}", where=url, fix="check the storage's credentials and the URL") from None
    return decode_image(data, url)


def decode_image(data: bytes, name: str = "upload") -> Image.Image:
    """Image bytes (JPEG, PNG, DICOM, ...) as an 8-bit grayscale PIL image; ``name`` says where they came from."""
    import io

    if not data:
        raise ImageError("the image is empty (0 bytes)", where=name, fix="send the image file's bytes")
    if data[128:132] == b"DICM":
        return _load_dicom(io.BytesIO(data), name)
    return _decode(io.BytesIO(data), name)


def _decode(src, where: str) -> Image.Image:
    try:
        with Image.open(src) as im:
            im.load()
            return to_gray8(im)
    except UnidentifiedImageError:
        raise ImageError("not a readable image (unknown format)", where=where, fix="use JPEG, PNG or DICOM") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"image cannot be decoded: {exc}", where=where, fix="re-download or re-export the image") from None


def to_gray8(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode == "L":
        return im.copy()
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        return Image.fromarray(_window(arr), mode="L")
    if mode in ("LA", "PA"):
        return im.convert("L")
    if mode == "P":
        return im.convert("RGB").convert("L")
    if mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV"):
        return im.convert("RGB").convert("L")
    if mode == "1":
        return im.convert("L")
    raise ImageError(f"unsupported image mode {mode}", fix="convert the image to 8- or 16-bit grayscale")


def _window(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.clip(np.rint((arr - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def _load_dicom(src, where: str) -> Image.Image:
    try:
        import pydicom
    except ImportError:
        from kg.core.install import install_command

        raise ImageError("DICOM images need pydicom", where=where, fix=install_command("dicom")) from None
    try:
        ds = pydicom.dcmread(src)
        arr = ds.pixel_array.astype(np.float64)
    except Exception as exc:  # pydicom raises many types
        raise ImageError(f"DICOM cannot be decoded: {exc}", where=where, fix="check the file") from None
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        arr = arr.max() - arr
    return Image.fromarray(_window(arr), mode="L")
