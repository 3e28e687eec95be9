"""report.html as a user opens it: headless Debian Chromium (playwright-core, no browser download) loads the file
with no network, the charts render with a size, and a screenshot is saved (MEDKG_SCREENSHOT_DIR keeps it)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"


def _need(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: this test may not skip)")
    pytest.skip(reason)


def test_report_opens_in_a_browser(sample_build, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _need("Debian's chromium is not installed (tests/run.sh installs it as root)")
    if shutil.which("node") is None or not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        _need("node and tests/browser/node_modules (npm ci in tests/browser) are needed")
    shot = tmp_path / "report.png"
    env = {**os.environ, "CHROMIUM": chromium, "MEDKG_REPORT": str(sample_build / "report.html"), "MEDKG_SHOT": str(shot)}
    r = subprocess.run(["node", "report.js"], cwd=BROWSER_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["title"].startswith("medkg build report")
    assert {"Graph", "Polarity per concept (top 20)", "Quarantine", "Time per stage", "Settings"} <= set(info["headings"])
    assert len(info["charts"]) >= 3 and min(info["charts"]) > 200  # every chart drawn at a readable size
    assert info["bars"] > 50
    assert info["requests"] == []  # self-contained: nothing fetched
    assert shot.is_file() and shot.stat().st_size > 50_000
    keep = os.environ.get("MEDKG_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(keep) / "build-report.png")
