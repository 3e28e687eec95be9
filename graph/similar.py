"""Nearest images from the embedded store (`kg similar`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from embed.index import VectorIndex
from graph.store import read_manifest
from kg.core.errors import NotFound


def similar_images(out: Path, query: str, *, k: int = 10, exact: bool = False, neo4j=None) -> list[dict]:
    """The ``k`` images nearest ``query`` (an image id of the graph or an image file). With ``neo4j`` (a
    ``Neo4jSettings``) the search runs in Neo4j's vector index instead of the build's index."""
    manifest = read_manifest(out)
    index = VectorIndex.load(out / "index")
    if query in index:
        vec, self_id = index.vector(query), query
    elif Path(query).is_file():
        from embed.encoders import get_encoder
        from embed.images import load_image

        spec = manifest.encoder.spec or manifest.encoder.id
        enc = get_encoder(spec)
        vec, self_id = enc.encode([load_image(query)])[0], None
    else:
        raise NotFound(f"{query!r} is neither an image id of the graph nor an image file", code="E211",
                         fix="pass an Image id (see nodes/Image.parquet) or a path to a JPEG/PNG")
    if neo4j is not None:
        from graph.neo4j import Neo4jClient, similar_in_neo4j

        with Neo4jClient(neo4j) as g:
            rows = similar_in_neo4j(g, [float(x) for x in vec], k + (1 if self_id else 0))
        hits = [(r["id"], float(r["score"])) for r in rows if r["id"] != self_id][:k]
    else:
        hits = [h for h in index.search(vec, k + (1 if self_id else 0), exact=exact) if h[0] != self_id][:k]
    images = {r["id"]: r for r in pq.read_table(out / "nodes" / "Image.parquet").to_pylist()}
    positive: dict[str, list[str]] = {}
    names = {r["cui"]: r["name"] for r in pq.read_table(out / "nodes" / "Concept.parquet").to_pylist()}
    p = out / "edges" / "Image_POSITIVE_Concept.parquet"
    if p.is_file():
        for r in pq.read_table(p, columns=["_start", "_end"]).to_pylist():
            positive.setdefault(r["_start"], []).append(names.get(r["_end"], r["_end"]))
    return [
        {"id": i, "score": s, "studyId": images.get(i, {}).get("studyId"), "kept": images.get(i, {}).get("kept"),
         "positive": sorted(positive.get(i, []))}
        for i, s in hits
    ]
