"""The service's /docs as a user opens it offline: headless Debian Chromium (playwright-core, no browser download)
renders Swagger UI from assets the service itself serves, shows every route, and nothing leaves the machine."""

import json
import os
import subprocess
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import BROWSER_DIR, keep_screenshot

pytest.importorskip("fastapi")


def test_docs_render_the_routes_offline(sample_build, tmp_path, chromium):
    from tests.kg.serve.test_app import start

    proc, url = start(sample_build)
    shot = tmp_path / "docs.png"
    try:
        env = {**os.environ, "CHROMIUM": chromium, "MEDKG_DOCS": url + "/docs", "MEDKG_SHOT": str(shot)}
        r = subprocess.run(["node", "docs.js"], cwd=BROWSER_DIR, env=env, capture_output=True, text=True, timeout=120)
    finally:
        proc.terminate()
        proc.wait(10)
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["title"] == "medkg retrieval service - Swagger UI"
    assert {"POST/v1/context", "POST/v1/context/upload", "GET/v1/concepts/{cui}", "GET/v1/images/{image_id}",
            "GET/healthz", "GET/metrics"} <= {x.replace(" ", "") for x in info["routes"]}, info["routes"]
    here = urlsplit(url).netloc
    assert info["requests"] and all(urlsplit(u).netloc == here for u in info["requests"]), info["requests"]
    assert info["failed"] == []
    assert shot.is_file() and shot.stat().st_size > 20_000
    keep_screenshot(shot, "service-docs.png")
