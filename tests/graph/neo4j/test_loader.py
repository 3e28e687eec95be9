"""A real Neo4j server: loading, idempotence, resume after a crash, errors, parameters, queries."""

import json
import os
import subprocess
import sys
import time

import pytest

from kg.core.errors import InvalidInput

pytestmark = pytest.mark.neo4j

KG = [sys.executable, "-m", "kg"]


def kg(*args, env=None):
    return subprocess.run([*KG, *map(str, args)], capture_output=True, text=True, env=env or os.environ.copy())


def test_load_counts_match_the_store_and_twice_is_identical(neo4j_env, sample_build):
    from graph.neo4j import Neo4jClient, graph_checksum

    settings, _ = neo4j_env
    p = kg("load", sample_build, "--quiet")
    assert p.returncode == 0, p.stderr
    m = json.loads((sample_build / "manifest.json").read_text())
    with Neo4jClient(settings) as g:
        counts, first = graph_checksum(g)
        for label, n in m["graph"]["nodes"].items():
            assert counts[label] == n, label
        for typ, n in m["graph"]["relationships"].items():
            assert counts.get(typ, 0) == n, typ
        emb = g.run("MATCH (i:Image) WHERE i.embedding IS NOT NULL RETURN count(i) AS n, size(head(collect(i.embedding))) AS d")
        assert emb[0]["n"] == m["vectorIndex"]["count"] and emb[0]["d"] == m["vectorIndex"]["dim"]
        idx = g.run("SHOW VECTOR INDEXES YIELD name, labelsOrTypes, properties RETURN *")
        assert idx and idx[0]["properties"] == ["embedding"]
        constraints = g.run("SHOW CONSTRAINTS YIELD labelsOrTypes RETURN collect(labelsOrTypes[0]) AS l")[0]["l"]
        assert {"Patient", "Study", "Report", "Image", "Concept"} <= set(constraints)
    assert kg("load", sample_build, "--quiet").returncode == 0
    with Neo4jClient(settings) as g:
        assert graph_checksum(g)[1] == first
        # an edge's evidence structs arrive as parallel lists (Neo4j stores no maps), entry for entry
        rows = g.run("MATCH (:Image)-[r:POSITIVE]->(:Concept) RETURN r.reportId AS report, r.evidenceReportId AS ids, "
                     "r.evidenceStart AS starts, r.evidenceEnd AS ends, r.evidenceText AS texts, "
                     "r.evidencePolarity AS pols, r.evidenceCertainty AS certs LIMIT 20")
    assert rows
    for r in rows:
        n = len(r["starts"])
        assert n and all(len(r[k]) == n for k in ("ids", "ends", "texts", "pols", "certs"))
        assert set(r["ids"]) == {r["report"]} and all(a < b for a, b in zip(r["starts"], r["ends"]))
        assert set(r["certs"]) <= {"definite", "probable", "possible", "absent"}


def test_killed_server_mid_load_resumes_to_an_identical_graph(neo4j_env, sample_build):
    from graph.neo4j import CHECKPOINT_LABEL, Neo4jClient, graph_checksum
    from kg.neo4j_local import kill, start

    settings, home = neo4j_env
    if home is None:
        pytest.skip("NEO4J_URI points at a server these tests did not start; they cannot kill it")
    assert kg("load", sample_build, "--quiet").returncode == 0
    with Neo4jClient(settings) as g:
        clean = graph_checksum(g)
        g.run("MATCH (n) DETACH DELETE n")
    proc = subprocess.Popen([*KG, "load", str(sample_build), "--quiet", "--batch-size", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and done < 10:
        time.sleep(0.05)
        try:
            with Neo4jClient(settings) as g:
                rows = g.run(f"MATCH (c:{CHECKPOINT_LABEL}) RETURN size(c.done) AS n")
            done = rows[0]["n"] if rows else 0
        except Exception:
            pass
    kill(home)  # the server dies as in a crash, mid-load
    proc.wait(timeout=120)
    assert proc.returncode != 0  # the interrupted load says it failed
    bolt, http = home.ports()
    start(home, bolt=bolt, http=http)
    with Neo4jClient(settings) as g:
        partial = g.run(f"MATCH (c:{CHECKPOINT_LABEL}) RETURN size(c.done) AS n, c.complete AS complete")[0]
    assert partial["n"] >= 10 and not partial["complete"]
    p = kg("load", sample_build, "--batch-size", "5")
    assert p.returncode == 0, p.stderr
    assert "already done" in p.stdout and " 0 already done" not in p.stdout
    with Neo4jClient(settings) as g:
        assert graph_checksum(g) == clean


def test_connection_errors_are_clear_and_secret(neo4j_env, sample_build):
    settings, _ = neo4j_env
    env = {**os.environ, "NEO4J_PASSWORD": "Wr0ng-S3cret-pw"}
    p = kg("load", sample_build, env=env)
    assert p.returncode == 2 and "rejected the credentials" in p.stderr
    assert "Wr0ng-S3cret-pw" not in p.stderr + p.stdout and "Traceback" not in p.stderr
    p = kg("load", sample_build, "--neo4j", "bolt://127.0.0.1:9")
    assert p.returncode == 2 and "cannot reach Neo4j" in p.stderr and "Traceback" not in p.stderr
    p = kg("load", sample_build, "--database", "nosuchdb")
    assert p.returncode == 2 and "no database 'nosuchdb'" in p.stderr
    assert settings.password not in p.stderr + p.stdout


def test_hostile_names_round_trip_as_parameters(neo4j_env, tmp_path):
    hostile = ["it's", 'say "hi"', "back`tick`", "{brace}", "MATCH (n) DETACH DELETE n", "$param", "\\u0041"]
    corpus = tmp_path / "c.jsonl"
    with corpus.open("w") as fh:
        for i, h in enumerate(hostile):
            fh.write(json.dumps({"id": f"{h}#{i}", "patient_id": h, "text": f"FINDINGS: {h} small pleural effusion."}) + "\n")
    out = tmp_path / "g"
    assert kg("build", corpus, "--out", out, "--quiet").returncode == 0
    assert kg("load", out, "--quiet").returncode == 0
    p = kg("query", "MATCH (p:Patient) RETURN p.id AS id ORDER BY id", "--json")
    assert sorted(r["id"] for r in json.loads(p.stdout)) == sorted(hostile)
    p = kg("query", "MATCH (r:Report {id: $id}) RETURN r.findings AS f", "--param", f"id={json.dumps(hostile[4] + '#4')}", "--json")
    assert json.loads(p.stdout) == [{"f": f"{hostile[4]} small pleural effusion."}]
    p = kg("query", "MATCH (n) RETURN count(n) AS n", "--json")
    assert json.loads(p.stdout)[0]["n"] > len(hostile)  # nothing was deleted by a name


def test_query_is_read_only_unless_write(neo4j_env):
    p = kg("query", "CREATE (x:Scratch {v: 1}) RETURN x.v AS v")
    assert p.returncode == 2 and "--write" in p.stderr
    p = kg("query", "CREATE (x:Scratch {v: $v}) RETURN x.v AS v", "--param", "v=7", "--write", "--json")
    assert p.returncode == 0 and json.loads(p.stdout) == [{"v": 7}]
    p = kg("query", "MATCH (x:Scratch) RETURN x.v AS v", "--json")
    assert json.loads(p.stdout) == [{"v": 7}]
    p = kg("query", "MATCH (x:Scratch) DETACH DELETE x")
    assert p.returncode == 2


def test_a_missing_parameter_is_one_line_and_the_notification_goes_to_the_log(neo4j_env):
    from kg.core.logs import log_dir

    p = kg("query", "MATCH (c:Concept {name: $finding}) RETURN c.name AS name")
    lines = [x for x in p.stderr.splitlines() if x.strip() and "local Neo4j" not in x]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith("error: [E147]") and lines[0].endswith("--param finding=VALUE"), lines[0]
    assert "GqlStatusObject" not in p.stderr + p.stdout
    assert "parameter missing" in (log_dir() / "neo4j.log").read_text()  # Neo4j's notification, kept in the log


def test_similar_through_the_neo4j_vector_index(neo4j_env, sample_build):
    assert kg("load", sample_build, "--quiet").returncode == 0
    img = (sample_build / "index" / "ids.txt").read_text().split()[3]
    local = json.loads(kg("similar", sample_build, img, "-k", "3", "--json").stdout)
    remote = json.loads(kg("similar", sample_build, img, "-k", "3", "--json", "--neo4j").stdout)
    assert [h["id"] for h in remote] == [h["id"] for h in local]
    assert [h["score"] for h in remote] == pytest.approx([h["score"] for h in local], abs=2e-3)  # both cosines (float32 in Neo4j)


def test_neo4j_admin_import_matches_the_bolt_load(neo4j_env, sample_build, tmp_path):
    """Export CSVs, run the printed neo4j-admin command with the assembled server's own tool, start that
    database and compare it with the Bolt load."""
    import shlex

    from graph.neo4j import Neo4jClient, Neo4jSettings, graph_checksum
    from kg.neo4j_local import ServerHome, admin, start, stop, write_conf
    from tests.conftest import free_port

    settings, home = neo4j_env
    if home is None:
        pytest.skip("needs the project's own server installation (its neo4j-admin)")
    assert kg("load", sample_build, "--quiet").returncode == 0
    with Neo4jClient(settings) as g:
        bolt_counts, _ = graph_checksum(g)
    p = kg("export", sample_build, "--format", "neo4j-admin", "--out", tmp_path / "csv")
    assert p.returncode == 0, p.stderr
    line = next(ln.strip() for ln in p.stdout.splitlines() if ln.strip().startswith("neo4j-admin "))
    argv = shlex.split(line)
    h2 = ServerHome(tmp_path / "imported")
    (h2.path).mkdir()
    (h2.path / "recipe").symlink_to(home.path / "recipe")
    h2.plugins.mkdir()
    bolt, http = free_port(), free_port()
    write_conf(h2, bolt, http)
    t0 = time.monotonic()
    r = admin(h2, argv[1:])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    try:
        uri = start(h2, bolt=bolt, http=http)
        with Neo4jClient(Neo4jSettings(uri, "neo4j", h2.password(), "neo4j")) as g2:
            counts, _ = graph_checksum(g2)
            emb = g2.run("MATCH (i:Image) WHERE i.embedding IS NOT NULL RETURN count(i) AS n")[0]["n"]
        bolt_counts.pop("MedkgLoad", None)
        assert counts == bolt_counts and emb > 0
        assert time.monotonic() - t0 < 300
    finally:
        stop(h2)


def test_readme_queries_run_and_answer(neo4j_env, sample_build):
    """Every `kg query` line of the README's Neo4j section runs as written on the loaded sample."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Neo4j", 1)[1].split("\n## ", 1)[0]
    lines = [ln for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S) for ln in block.splitlines()
             if ln.startswith("kg query ")]
    assert len(lines) == 5
    assert kg("load", sample_build, "--quiet").returncode == 0
    for ln in lines:
        p = kg(*shlex.split(ln)[1:], "--json")
        assert p.returncode == 0, (ln, p.stderr)
        assert json.loads(p.stdout), ln  # each question has an answer on the sample


def test_fresh_types_are_created_in_parallel_and_existing_ones_merged(neo4j_env, sample_build, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from graph.neo4j import Neo4jClient, graph_checksum, load_graph

    settings, _ = neo4j_env
    with Neo4jClient(settings) as g:
        first = load_graph(sample_build, g, batch_size=7, workers=3)
        assert "rel:POSITIVE" in first.created and "node:Image" in first.created
        # labels created from nothing get their constraints and indexes after their nodes: all there, online
        names = {r["name"]: r["state"] for r in g.run("SHOW INDEXES YIELD name, state RETURN name, state")}
        assert {"medkg_image_key", "medkg_concept_key", "medkg_image_studyid", "medkg_concept_name"} <= set(names)
        assert set(names.values()) == {"ONLINE"}
        constraints = {r["name"] for r in g.run("SHOW CONSTRAINTS YIELD name RETURN name")}
        assert {"medkg_image_key", "medkg_concept_key", "medkg_patient_key"} <= constraints
        clean = graph_checksum(g)
        # another build of the same corpus (a new checkpoint): everything exists, so it MERGEs
        other = tmp_path / "other"
        shutil.copytree(sample_build, other)
        m = json.loads((other / "manifest.json").read_text())
        m["input"]["checksum"] = "another-build"
        (other / "manifest.json").write_text(json.dumps(m))
        second = load_graph(other, g, batch_size=7, workers=3)
        assert second.created == []
        counts, checksum = graph_checksum(g)
        assert counts == clean[0] and checksum == clean[1]
        # a table with a repeated pair is merged even into an empty type (one relationship, not two)
        edges = sorted((other / "edges").glob("Image_POSITIVE_Concept.parquet"))[0]
        t = pq.read_table(edges)
        pq.write_table(pa.concat_tables([t.slice(0, 1), t]), edges)
        g.run("MATCH ()-[r:POSITIVE]->() DELETE r")
        m["input"]["checksum"] = "a-third-build"
        (other / "manifest.json").write_text(json.dumps(m))
        third = load_graph(other, g, batch_size=7, workers=3)
        assert "rel:POSITIVE" in third.created
        assert g.run("MATCH ()-[r:POSITIVE]->() RETURN count(r) AS n")[0]["n"] == t.num_rows


def test_node_vector_columns_get_a_vector_index(neo4j_env, sample_build, tmp_path):
    """A float-vector node property (as the GNN writes Concept.gnnEmbedding back) is loaded and indexed,
    and answers a vector query; vectors of mixed lengths are refused before anything is written."""
    import shutil

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from graph.neo4j import Neo4jClient, load_graph

    build = tmp_path / "gnn"
    shutil.copytree(sample_build, build)
    path = build / "nodes" / "Concept.parquet"
    t = pq.read_table(path)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(t.num_rows, 16)).astype(np.float32)
    pq.write_table(t.append_column("gnnEmbedding", pa.array(vecs.tolist(), type=pa.list_(pa.float32()))), path)
    settings, _ = neo4j_env
    with Neo4jClient(settings) as g:
        load_graph(build, g, workers=2)
        idx = {r["name"]: r for r in g.run("SHOW VECTOR INDEXES YIELD name, labelsOrTypes, properties, options, state "
                                            "RETURN name, labelsOrTypes, properties, options, state")}
        gnn = idx["medkg_concept_gnnembedding"]
        assert gnn["labelsOrTypes"] == ["Concept"] and gnn["properties"] == ["gnnEmbedding"] and gnn["state"] == "ONLINE"
        assert gnn["options"]["indexConfig"]["vector.dimensions"] == 16
        cui = t.column("cui")[5].as_py()
        hit = g.run("CALL db.index.vector.queryNodes('medkg_concept_gnnembedding', 1, $v) YIELD node RETURN node.cui AS cui",
                    v=vecs[5].tolist())
        assert hit == [{"cui": cui}]
        before = g.run("MATCH (n) RETURN count(n) AS n")[0]["n"]
        ragged = vecs.tolist()
        ragged[0] = ragged[0][:8]
        pq.write_table(t.append_column("gnnEmbedding", pa.array(ragged, type=pa.list_(pa.float32()))), path)
        with pytest.raises(InvalidInput, match="gnnEmbedding.*2 lengths"):
            load_graph(build, g)
        assert g.run("MATCH (n) RETURN count(n) AS n")[0]["n"] == before


def test_relationship_batches_group_by_start_and_match_ends_by_id_or_key():
    import pyarrow as pa

    from graph.neo4j import edge_cypher, edge_rows

    t = pa.table({"_start": [1, 1, 2], "_end": [7, 8, 7], "reportId": ["a", "b", "c"]})
    assert edge_rows(t, ["reportId"], grouped=True) == [[1, [[7, "a"], [8, "b"]]], [2, [[7, "c"]]]]
    assert edge_rows(t, ["reportId"], grouped=False) == [[1, 7, "a"], [1, 8, "b"], [2, 7, "c"]]
    both = edge_cypher("Image", "POSITIVE", "Concept", ["reportId"], True, (True, False))
    assert "WHERE id(a) = row[0]" in both and "MATCH (b:`Concept` {`cui`: x[0]})" in both and "CREATE (a)-[r:`POSITIVE`" in both
    merge = edge_cypher("Image", "POSITIVE", "Concept", [], False, (False, True))
    assert "MATCH (a:`Image` {`id`: row[0]})" in merge and "WHERE id(b) = row[1]" in merge and "MERGE (a)-[r:`POSITIVE`]->(b)" in merge


def test_commands_use_the_local_server_when_no_uri_is_set(neo4j_env, sample_build):
    """`kg neo4j start`, then `kg load` / `kg query` / `kg similar --neo4j` with no NEO4J_* set: they find medkg's
    own server (its URI and stored password) and say so in one line."""
    settings, home = neo4j_env
    if home is None:
        pytest.skip("NEO4J_URI points at a server these tests did not start")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    env["MEDKG_NEO4J_HOME"] = str(home.path)
    p = kg("load", sample_build, "--quiet", env=env)
    assert p.returncode == 0, p.stderr
    (line,) = [x for x in p.stderr.splitlines() if "local Neo4j" in x]
    assert home.uri() in line and settings.password not in p.stderr + p.stdout
    p = kg("query", "MATCH (s:Study) RETURN count(s) AS n", "--json", env=env)
    assert p.returncode == 0 and json.loads(p.stdout) == [{"n": 42}], p.stderr
    image = (sample_build / "index" / "ids.txt").read_text().split()[0]
    p = kg("similar", sample_build, image, "-k", "2", "--neo4j", "--json", env=env)
    assert p.returncode == 0 and len(json.loads(p.stdout)) == 2, p.stderr
    # with nothing running there, the error says how to get a server
    env["MEDKG_NEO4J_HOME"] = str(home.path.parent / "no-server-here")
    p = kg("load", sample_build, "--quiet", env=env)
    assert p.returncode == 2 and "kg neo4j start" in p.stderr and "Traceback" not in p.stderr
    assert "MEDKG_NEO4J_HOME=DIR" in p.stderr  # a server started with --home elsewhere: how to find it
