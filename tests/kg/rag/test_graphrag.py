"""kg/rag/graphrag.py on a real Neo4j: medkg's context through neo4j-graphrag's Retriever interface."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.neo4j
pytest.importorskip("neo4j_graphrag")


def test_medkg_retriever_returns_cited_items(neo4j_env, sample_build):
    import neo4j
    from neo4j_graphrag.types import RetrieverResult

    from kg.rag.graphrag import MedkgRetriever

    settings, _ = neo4j_env
    p = subprocess.run([sys.executable, "-m", "kg", "load", str(sample_build), "--quiet"], capture_output=True,
                       text=True, env=os.environ.copy())
    assert p.returncode == 0, p.stderr
    img = (sample_build / "index" / "ids.txt").read_text().split()[0]
    with neo4j.GraphDatabase.driver(settings.uri, auth=(settings.user, settings.password)) as driver:
        r = MedkgRetriever(driver, sample_build, neo4j_database=settings.database)
        res = r.search(image_id=img, top_k=3)
        assert isinstance(res, RetrieverResult) and res.metadata["__retriever"] == "MedkgRetriever"
        findings = [i for i in res.items if i.metadata["kind"] == "finding"]
        assert findings and all(" of 3 similar cases" in i.content for i in findings)
        assert findings[0].metadata["citations"][0]["reportId"]
        assert res.metadata["k"]["k"] == 3 and res.metadata["query"]["imageId"] == img
        text = r.search(query_text="Small left pleural effusion. No pneumothorax.")
        assert {i.metadata.get("cui") for i in text.items if i.metadata["kind"] == "finding"} == {"C0032227", "C0032326"}
        driver.verify_connectivity()  # the retriever never closed the caller's driver
