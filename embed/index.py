"""The vector index over image embeddings (inner product on L2-normalised rows = cosine).

Chosen by size when built: an exact flat index below ``HNSW_FROM`` vectors, an approximate
HNSW graph (faiss ``IndexHNSWFlat``, inner product) from there on, its parameters recorded in
the manifest. Without faiss installed (``pip install 'medkg[faiss]'``) search is exact with numpy.

Saved as ``vectors.npy`` (float32, n×d; always, for exact re-ranking and for loading into
Neo4j), ``ids.txt`` (one id per line, same order), ``index.json`` (kind and parameters) and
``faiss.index`` for HNSW. The HNSW graph is built with several threads and may differ
byte-wise between builds; the vectors and ids do not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kg.core.errors import InvalidInput, NotFound, Unavailable

# Below HNSW_FROM an exact search reads every vector (100k x 256 float32 = 100 MB, ~4 ms a query on one core,
# memory-bound); from there a faiss HNSW graph. efSearch 64 measured on 100k embedding-like vectors, dim 256
# (bench/serve.py's store): recall@9 0.996 against exact search at 0.25 ms a query (efSearch 256: 1.000, 0.84 ms).
HNSW_FROM = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 64


def _faiss():
    try:
        import faiss

        return faiss
    except ImportError:
        return None


class VectorIndex:
    def __init__(self, ids: list[str], vectors: np.ndarray, *, kind: str | None = None, faiss_index=None,
                 params: dict | None = None):
        if vectors.ndim != 2 or len(ids) != vectors.shape[0]:
            raise InvalidInput(f"{len(ids)} ids but vectors of shape {vectors.shape}", code="E171",
                               fix="give one row of the 2-d vector matrix per id")
        self.ids = list(ids)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._pos = {i: n for n, i in enumerate(self.ids)}
        self.params = params or {}
        self._faiss_index = faiss_index
        if kind is None:
            kind = "hnsw" if len(ids) >= HNSW_FROM and _faiss() is not None else "flat-ip"
        elif kind not in ("hnsw", "flat-ip"):
            raise InvalidInput(f"unknown index kind {kind!r}", code="E172", fix="use hnsw or flat-ip (see index/index.json)")
        self.kind = kind
        if kind == "hnsw" and faiss_index is None:
            self._build_hnsw()

    def _build_hnsw(self) -> None:
        faiss = _faiss()
        if faiss is None:
            from kg.core.install import install_command

            raise Unavailable("an HNSW index needs faiss", code="E418", fix=install_command("faiss"))
        idx = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        idx.add(self.vectors)
        idx.hnsw.efSearch = HNSW_EF_SEARCH
        self._faiss_index = idx
        self.params = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH,
                       "metric": "inner_product", "library": f"faiss {faiss.__version__}"}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id: str) -> bool:
        return id in self._pos

    def vector(self, id: str) -> np.ndarray:
        if id not in self._pos:
            raise NotFound(f"no image with id {id!r} in the index", code="E207", fix="see `kg stats` or nodes/Image.parquet for ids")
        return self.vectors[self._pos[id]]

    def search(self, query: np.ndarray, k: int = 10, *, exact: bool = False) -> list[tuple[str, float]]:
        return self.search_many(np.asarray(query, dtype=np.float32).reshape(1, -1), k, exact=exact)[0]

    def search_many(self, queries: np.ndarray, k: int = 10, *, exact: bool = False) -> list[list[tuple[str, float]]]:
        """Top-k (id, score) per query row, best first; ties by id."""
        n = len(self.ids)
        if n == 0:
            return [[] for _ in range(len(queries))]
        k = min(k, n)
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if self.kind == "hnsw" and not exact:
            scores, idx = self._faiss_index.search(q, k)
            return [[(self.ids[i], float(s)) for s, i in zip(srow, irow) if i >= 0] for srow, irow in zip(scores, idx)]
        out = []
        for row in q:
            scores = self.vectors @ row
            top = np.argpartition(-scores, k - 1)[:k]
            order = sorted(top, key=lambda i: (-scores[i], self.ids[i]))
            out.append([(self.ids[i], float(scores[i])) for i in order])
        return out

    def describe(self) -> dict:
        return {"kind": self.kind, "dim": self.dim, "count": len(self), "params": self.params}

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "vectors.npy", self.vectors, allow_pickle=False)
        (folder / "ids.txt").write_text("".join(f"{i}\n" for i in self.ids), encoding="utf-8")
        (folder / "index.json").write_text(json.dumps(self.describe(), indent=2, sort_keys=True) + "\n")
        if self.kind == "hnsw":
            _faiss().write_index(self._faiss_index, str(folder / "faiss.index"))

    @classmethod
    def load(cls, folder: Path) -> VectorIndex:
        vec = folder / "vectors.npy"
        if not vec.is_file():
            raise NotFound(f"no vector index in {folder}", code="E208", fix="build the graph first (kg build)")
        ids = (folder / "ids.txt").read_text(encoding="utf-8").splitlines()
        meta = json.loads((folder / "index.json").read_text()) if (folder / "index.json").is_file() else {}
        kind = meta.get("kind", "flat-ip")
        fi = None
        if kind == "hnsw":
            faiss = _faiss()
            if faiss is None:
                kind = "flat-ip"  # exact search still answers, slower
            else:
                fi = faiss.read_index(str(folder / "faiss.index"))
                fi.hnsw.efSearch = meta.get("params", {}).get("efSearch", HNSW_EF_SEARCH)
        return cls(ids, np.load(vec, allow_pickle=False), kind=kind, faiss_index=fi, params=meta.get("params"))
