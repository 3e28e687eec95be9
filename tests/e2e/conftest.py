"""What the browser tests share: Debian's Chromium driven by playwright-core from tests/browser (no browser
download). A missing piece skips with its reason on a developer's machine and fails under CI=true."""

import os
import shutil
from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"


def need(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: this test may not skip)")
    pytest.skip(reason)


@pytest.fixture()
def chromium() -> str:
    """The Chromium binary; node and tests/browser/node_modules are there too."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        need("Debian's chromium is not installed (tests/run.sh installs it as root)")
    if shutil.which("node") is None or not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        need("node and tests/browser/node_modules (npm ci in tests/browser) are needed")
    return path


def keep_screenshot(shot: Path, name: str) -> None:
    """Copy a test's screenshot to $MEDKG_SCREENSHOT_DIR when it is set (for the README and reviews)."""
    keep = os.environ.get("MEDKG_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(keep) / name)
