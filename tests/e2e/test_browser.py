"""The Neo4j Browser, as a user opens it: headless Debian Chromium (driven by playwright-core, no browser
download) connects to the test server, plays the medkg guide, applies the GraSS style, runs a
parameterised query and saves a screenshot that shows the result."""

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import BROWSER_DIR, keep_screenshot

pytestmark = pytest.mark.neo4j


def test_browser_shows_a_query_result(neo4j_env, sample_build, tmp_path, chromium):
    from kg.neo4j_local import guide_dir, serve_guide
    from tests.conftest import free_port

    settings, home = neo4j_env
    if home is None:
        pytest.skip("needs the project's own server (its Browser port)")
    p = subprocess.run([sys.executable, "-m", "kg", "load", str(sample_build), "--quiet"], capture_output=True, text=True,
                       env=os.environ.copy())
    assert p.returncode == 0, p.stderr
    bolt, http = home.ports()
    gport = free_port()
    guide = serve_guide(gport, block=False)
    shot = tmp_path / "browser.png"
    try:
        env = {
            **os.environ,
            "CHROMIUM": chromium,
            "MEDKG_HTTP": f"http://127.0.0.1:{http}",
            "MEDKG_BOLT": f"127.0.0.1:{bolt}",
            "MEDKG_GUIDE": f"http://localhost:{gport}/medkg.html",
            "MEDKG_GRASS": str(guide_dir() / "medkg.grass"),
            "MEDKG_PARAMS": "{finding: 'Pleural effusion'}",
            "MEDKG_QUERY": "MATCH (i:Image)-[r:POSITIVE]->(c:Concept {name: $finding}) RETURN i, r, c LIMIT 10",
            "MEDKG_EXPECT": "Pleural effusion",
            "MEDKG_SHOT": str(shot),
        }
        r = subprocess.run(["node", "screenshot.js"], cwd=BROWSER_DIR, env=env, capture_output=True, text=True,
                           timeout=240)
    finally:
        guide.shutdown()
        guide.server_close()
    assert r.returncode == 0, r.stdout + r.stderr
    assert shot.is_file() and shot.stat().st_size > 20_000
    keep_screenshot(shot, "neo4j-browser.png")
