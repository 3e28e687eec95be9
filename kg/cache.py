"""medkg's user cache folder: ``$MEDKG_CACHE``, else ``$XDG_CACHE_HOME/medkg``, else ``~/.cache/medkg``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    if os.environ.get("MEDKG_CACHE"):
        return Path(os.environ["MEDKG_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medkg"
