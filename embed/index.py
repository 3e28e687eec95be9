"""A vector index over image embeddings: exact inner-product search on L2-normalised rows.

Saved as ``vectors.npy`` (float32, n×d) and ``ids.txt`` (one id per line, same order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kg.errors import UsageError


class VectorIndex:
    kind = "flat-ip"

    def __init__(self, ids: list[str], vectors: np.ndarray):
        if vectors.ndim != 2 or len(ids) != vectors.shape[0]:
            raise ValueError("ids and vectors disagree in length")
        self.ids = list(ids)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._pos = {i: n for n, i in enumerate(self.ids)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def vector(self, id: str) -> np.ndarray:
        if id not in self._pos:
            raise UsageError(f"no image with id {id!r} in the index", fix="see `kg stats` for image ids")
        return self.vectors[self._pos[id]]

    def search(self, query: np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        if len(self.ids) == 0:
            return []
        scores = self.vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        order = sorted(top, key=lambda i: (-scores[i], self.ids[i]))
        return [(self.ids[i], float(scores[i])) for i in order]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "vectors.npy", self.vectors, allow_pickle=False)
        (folder / "ids.txt").write_text("".join(f"{i}\n" for i in self.ids), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "VectorIndex":
        vec = folder / "vectors.npy"
        if not vec.is_file():
            raise UsageError(f"no vector index in {folder}", fix="build the graph with images first (kg build)")
        ids = (folder / "ids.txt").read_text(encoding="utf-8").splitlines()
        return cls(ids, np.load(vec, allow_pickle=False))
