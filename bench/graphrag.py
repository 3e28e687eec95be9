"""medkg's Neo4j backend beside neo4j-graphrag's `VectorCypherRetriever`, on the same server and store.

    python bench/graphrag.py [--images 20000] [--dim 256] [--queries 300] [--k 8]

Generates a store (as bench/serve.py does), loads it into a local Neo4j (assembled by the project, in a
temporary home; or NEO4J_URI), then times, query by query on the same embedding queries:
- medkg: `Retriever.context` over `Neo4jStore` (the vector index in Neo4j, the neighbours' nodes and 1-hop concept
  triplets by batched Cypher, findings aggregated per polarity with citations);
- the peer: neo4j-graphrag's `VectorCypherRetriever` on the same vector index with a retrieval query returning
  each neighbour's 1-hop findings (what a neo4j-graphrag user would write for "vector search + 1-hop findings").
Prints the p50 / p99 of each and the latency ratio. Needs `pip install 'medkg[graphrag]'`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from bench.serve import generate, pct  # noqa: E402

PEER_QUERY = (
    "OPTIONAL MATCH (node)-[r:POSITIVE|NEGATIVE|UNCERTAIN]->(c:Concept) "
    "RETURN node.id AS id, score, collect({type: type(r), cui: c.cui, name: c.name, reportId: r.reportId, "
    "evidence: r.evidence}) AS findings"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=8)
    a = ap.parse_args()
    import neo4j
    from neo4j_graphrag.retrievers import VectorCypherRetriever

    from graph.neo4j import Neo4jClient, Neo4jSettings, clear, load_graph
    from graph.neo4j.store import Neo4jStore
    from graph.retrieve import Retriever
    from kg.neo4j_local import ServerHome, start, stop

    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="medkg-bench-"))
    vecs = generate(tmp / "store", a.images, a.dim)
    own = None
    if os.environ.get("NEO4J_URI"):
        settings = Neo4jSettings.from_env()
    else:
        base = ServerHome.resolve()
        if not base.installed:
            from kg.neo4j_local import install

            install(base, quiet=True)
        own = ServerHome(tmp / "server")
        own.path.mkdir()
        (own.path / "recipe").symlink_to(base.path / "recipe")
        own.plugins.mkdir()
        settings = Neo4jSettings(start(own, bolt=17688, http=17475, heap="2g"), "neo4j", own.password(), "neo4j")
    try:
        with Neo4jClient(settings) as g:
            clear(g)
            t = time.perf_counter()
            load_graph(tmp / "store", g)
            print(f"store: {a.images:,} images, dim {a.dim}; loaded into Neo4j in {time.perf_counter() - t:.0f} s")
        rng = np.random.default_rng(2)
        queries = vecs[rng.integers(0, len(vecs), a.queries)] + 0.05 * rng.standard_normal((a.queries, a.dim))
        queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
        with neo4j.GraphDatabase.driver(settings.uri, auth=(settings.user, settings.password)) as driver:
            store = Neo4jStore.from_driver(driver, tmp / "store", database=settings.database)
            peer = VectorCypherRetriever(driver, index_name="medkg_image_embedding", retrieval_query=PEER_QUERY,
                                         neo4j_database=settings.database)
            for q in queries[:30]:  # warm both
                Retriever(store).context(embedding=q, k=a.k)
                peer.search(query_vector=q.tolist(), top_k=a.k)
            ours, ours1, theirs = [], [], []
            for q in queries:
                t = time.perf_counter()
                ctx = Retriever(store).context(embedding=q, k=a.k, hops=0)
                ours.append(time.perf_counter() - t)
                t = time.perf_counter()
                ctx1 = Retriever(store).context(embedding=q, k=a.k, hops=1)
                ours1.append(time.perf_counter() - t)
                t = time.perf_counter()
                res = peer.search(query_vector=q.tolist(), top_k=a.k)
                theirs.append(time.perf_counter() - t)
            print(f"medkg Neo4jStore Retriever.context (k={a.k}: vector search + the neighbours' findings, "
                  f"{len(ctx.findings)} aggregated per polarity with citations): p50 {pct(ours, 50):.2f} ms, "
                  f"p99 {pct(ours, 99):.2f} ms")
            print(f"  the same with 1-hop concept triplets ({len(ctx1.triplets)}): p50 {pct(ours1, 50):.2f} ms, "
                  f"p99 {pct(ours1, 99):.2f} ms")
            print(f"neo4j-graphrag VectorCypherRetriever (vector search + 1-hop findings, {len(res.items)} items, "
                  f"no aggregation): p50 {pct(theirs, 50):.2f} ms, p99 {pct(theirs, 99):.2f} ms")
            print(f"ratio medkg / neo4j-graphrag (p50, the equivalent query): {pct(ours, 50) / pct(theirs, 50):.2f}x")
    finally:
        if own is not None:
            stop(own)


if __name__ == "__main__":
    main()
