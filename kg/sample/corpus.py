"""The bundled sample corpus: 42 chest X-ray reports (17 patients) in MIMIC-CXR layout,
written for medkg, with MIMIC-style metadata and split CSVs.

Its images are not stored: :func:`render_image` draws each one (a schematic radiograph
with the findings listed in ``render.csv``: effusions, opacities, pneumothorax, devices)
deterministically, so the sample stays small and every build sees identical pixels.
``kg sample DIR`` writes the whole corpus, images included, to DIR.
"""

from __future__ import annotations

import csv
import os
import shutil
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from kg import __version__
from kg.core.cache import cache_root

SIZE = 320


def _package_dir() -> Path:
    return Path(str(resources.files("kg.sample")))


def _cache_root() -> Path:
    return cache_root() / f"sample-{__version__}"


def write_sample(dest: Path) -> Path:
    """Copy reports and CSVs to ``dest`` and render the images; returns ``dest``."""
    src = _package_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if p.is_dir() or p.suffix == ".py" or "__pycache__" in rel.parts:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, target)
    with (src / "render.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            folder = dest / "files" / row["study_dir"]
            folder.mkdir(parents=True, exist_ok=True)
            img = render_image(row["dicom_id"], row["view"], row["features"].split(";") if row["features"] else [])
            img.save(folder / f"{row['dicom_id']}.jpg", quality=90)
    (dest / ".complete").write_text("ok\n")
    return dest


def sample_corpus() -> Path:
    """The sample corpus on disk (rendered once into the user cache, ``$MEDKG_CACHE`` to move it)."""
    root = _cache_root()
    if not (root / ".complete").is_file():
        tmp = root.with_name(root.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        write_sample(tmp)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return root


def _ellipse(yy, xx, cy, cx, ry, rx):
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _blob(yy, xx, cy, cx, r):
    return np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))


def _line(img, pts, value, width=2):
    """Draw a polyline through ``pts`` ((y, x) in 0..1 units)."""
    for (y0, x0), (y1, x1) in zip(pts, pts[1:]):
        n = int(max(abs(y1 - y0), abs(x1 - x0)) * SIZE * 2) + 1
        for t in np.linspace(0, 1, n):
            y, x = int((y0 + (y1 - y0) * t) * SIZE), int((x0 + (x1 - x0) * t) * SIZE)
            img[max(0, y - width // 2) : y + width // 2 + 1, max(0, x - width // 2) : x + width // 2 + 1] = value


def render_image(dicom_id: str, view: str, features: list[str]) -> Image.Image:
    """A schematic chest radiograph (8-bit grayscale). Patient right is image left."""
    rng = np.random.default_rng(zlib.crc32(dicom_id.encode()))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    img = np.full((SIZE, SIZE), 0.06)
    if view.upper() in ("LATERAL", "LL", "RL"):
        img[_ellipse(yy, xx, 0.55, 0.5, 0.42, 0.3)] = 0.5
        img[_ellipse(yy, xx, 0.5, 0.48, 0.3, 0.2)] = 0.2
        img += 0.35 * _blob(yy, xx, 0.62, 0.42, 0.09)
        img[:, int(0.74 * SIZE) : int(0.8 * SIZE)] += 0.25
    else:
        f = set(features)
        img[_ellipse(yy, xx, 0.55, 0.5, 0.45, 0.42)] = 0.5
        lungs = {"r": _ellipse(yy, xx, 0.47, 0.31, 0.3, 0.14), "l": _ellipse(yy, xx, 0.47, 0.69, 0.3, 0.14)}
        for m in lungs.values():
            img[m] = 0.16
        img[:, int(0.47 * SIZE) : int(0.53 * SIZE)] += 0.3  # spine and mediastinum
        heart = 0.12 if "cardiomegaly" not in f else 0.17
        img += 0.4 * (_ellipse(yy, xx, 0.63, 0.56, 0.12, heart * 1.3))
        for side, cx in (("r", 0.31), ("l", 0.69)):
            if f"effusion_{side}" in f:
                img += 0.35 * (lungs[side] & (yy > 0.62)) * np.clip((yy - 0.62) / 0.12, 0, 1)
            if f"opacity_{side}l" in f:
                img += 0.3 * _blob(yy, xx, 0.64, cx, 0.06) * lungs[side]
            if f"opacity_{side}u" in f:
                img += 0.3 * _blob(yy, xx, 0.3, cx, 0.06) * lungs[side]
            if f"nodule_{side}" in f:
                img += 0.45 * _blob(yy, xx, 0.3, cx + 0.03, 0.015)
            if f"mass_{side}" in f:
                img += 0.5 * _blob(yy, xx, 0.45, cx + (0.08 if side == "r" else -0.08), 0.04)
            if f"ptx_{side}" in f:
                img[lungs[side] & (yy < 0.35)] = 0.03
            if f"fracture_{side}" in f:
                _line(img, [(0.5, cx - 0.1), (0.52, cx + 0.1)], 0.05, 1)
            if f"chesttube_{side}" in f:
                _line(img, [(0.75, 0.05 if side == "r" else 0.95), (0.55, cx), (0.3, cx)], 0.95)
        if "edema" in f:
            img += 0.18 * (_blob(yy, xx, 0.48, 0.36, 0.1) + _blob(yy, xx, 0.48, 0.64, 0.1))
        if "hernia" in f:
            img += 0.25 * _blob(yy, xx, 0.7, 0.5, 0.05)
        if "ett" in f:
            _line(img, [(0.0, 0.5), (0.3, 0.5)], 0.95)
        if "ngt" in f:
            _line(img, [(0.0, 0.49), (0.62, 0.49), (0.86, 0.62)], 0.9)
        if "cvc" in f:
            _line(img, [(0.12, 0.25), (0.2, 0.42), (0.36, 0.46)], 0.9)
        if "picc" in f:
            _line(img, [(0.2, 0.02), (0.16, 0.25), (0.22, 0.42), (0.38, 0.46)], 0.9)
        if "pacemaker" in f:
            img[int(0.16 * SIZE) : int(0.22 * SIZE), int(0.72 * SIZE) : int(0.82 * SIZE)] = 0.98
            _line(img, [(0.2, 0.74), (0.35, 0.55), (0.6, 0.5)], 0.9)
            _line(img, [(0.2, 0.74), (0.4, 0.58), (0.7, 0.6)], 0.9)
        if "sternotomy" in f:
            for y in (0.3, 0.38, 0.46, 0.54, 0.62):
                img[int(y * SIZE) : int(y * SIZE) + 4, int(0.48 * SIZE) : int(0.52 * SIZE)] = 0.98
    img += rng.normal(0, 0.02, img.shape)
    return Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8), mode="L")


def generate_corpus(dest: Path, studies: int, *, images: bool = False, metadata: bool = False,
                    progress=lambda: None) -> Path:
    """A MIMIC-layout corpus of ``studies`` studies made from the sample, for benchmarks and tests: the sample's
    reports in turn under new patient (three studies each) and study ids, and with ``images`` each study's
    sample images linked (or copied) under new file names. With ``metadata`` also MIMIC's metadata CSV (each
    image's ViewPosition is its sample image's, so ``--views`` leaves the laterals out as in the sample) and split
    CSV (by patient: one in ten validate, one in ten test). ``progress()`` is called once per study. Returns
    ``dest``."""
    src = sample_corpus()
    reports = sorted(src.rglob("s*.txt"))
    texts = [p.read_text(encoding="utf-8") for p in reports]
    pictures = [sorted(p.with_suffix("").glob("*.jpg")) for p in reports]
    with (src / "mimic-cxr-2.0.0-metadata.csv").open(newline="") as fh:
        views = {r["dicom_id"]: r["ViewPosition"] for r in csv.DictReader(fh)}
    meta, split = [], []
    for i in range(studies):
        pid, sid = 11000000 + i // 3, 51000000 + i
        part = {8: "validate", 9: "test"}.get((i // 3) % 10, "train")
        d = dest / "files" / f"p{str(pid)[:2]}" / f"p{pid}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"s{sid}.txt").write_text(texts[i % len(texts)], encoding="utf-8")
        if images and pictures[i % len(texts)]:
            (d / f"s{sid}").mkdir(exist_ok=True)
            for k, pic in enumerate(pictures[i % len(texts)]):
                dicom = f"g{sid}-{k}"
                target = d / f"s{sid}" / f"{dicom}.jpg"
                try:
                    os.link(pic, target)
                except OSError:  # another file system: copy
                    shutil.copyfile(pic, target)
                meta.append((dicom, pid, sid, views.get(pic.stem, ""), SIZE, SIZE))
                split.append((dicom, sid, pid, part))
        progress()
    if metadata:
        with (dest / "mimic-cxr-2.0.0-metadata.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns"])
            w.writerows(meta)
        with (dest / "mimic-cxr-2.0.0-split.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["dicom_id", "study_id", "subject_id", "split"])
            w.writerows(split)
    return dest
