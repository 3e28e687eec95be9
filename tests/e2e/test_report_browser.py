"""report.html as a user opens it: headless Debian Chromium (playwright-core, no browser download) loads the file
with no network, the charts render with a size, and a screenshot is saved (MEDKG_SCREENSHOT_DIR keeps it)."""

import json
import os
import subprocess

from tests.e2e.conftest import BROWSER_DIR, keep_screenshot


def test_report_opens_in_a_browser(sample_build, tmp_path, chromium):
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
    keep_screenshot(shot, "build-report.png")
