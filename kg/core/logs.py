"""medkg's log files, in ``<cache>/logs/`` (``kg.core.cache``): what a command keeps out of the terminal (a
library's notices) but a user may want to read."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kg.core.cache import cache_root


def log_dir() -> Path:
    return cache_root() / "logs"


class LogFile(logging.FileHandler):
    """A file handler on ``<cache>/logs/NAME`` that creates the folder and the file only when a record comes."""

    def __init__(self, name: str):
        super().__init__(log_dir() / name, encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def _open(self) -> Any:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()
