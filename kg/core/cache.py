"""medkg's user cache folder: ``$MEDKG_CACHE``, else ``$XDG_CACHE_HOME/medkg``, else ``~/.cache/medkg``."""

from __future__ import annotations

import os
from pathlib import Path

from kg.core.environment import medkg_env


def cache_root() -> Path:
    env = medkg_env()
    if env.cache:
        return env.cache
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medkg"
