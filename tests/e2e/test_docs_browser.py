"""The service's /docs as a user opens it offline: headless Debian Chromium (playwright-core, no browser download)
renders Swagger UI from assets the service itself serves, shows every route, and nothing leaves the machine."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi")
BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"


def _need(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: this test may not skip)")
    pytest.skip(reason)


def test_docs_render_the_routes_offline(sample_build, tmp_path):
    from tests.kg.serve.test_app import start

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _need("Debian's chromium is not installed (tests/run.sh installs it as root)")
    if shutil.which("node") is None or not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        _need("node and tests/browser/node_modules (npm ci in tests/browser) are needed")
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
    keep = os.environ.get("MEDKG_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(keep) / "service-docs.png")
