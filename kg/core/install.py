"""How to add an extra to this installation of medkg (the fix every missing-extra error gives)."""

from __future__ import annotations


def install_command(extra: str) -> str:
    """The pip command that adds ``extra`` to this installation: ``pip install 'medkg[neo4j]'``, or, for medkg
    installed from a clone (PEP 610's direct_url.json), the clone's path (``-e`` when it was an editable install)."""
    import json
    import shlex
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    try:
        raw = metadata.distribution("medkg").read_text("direct_url.json")
        info = json.loads(raw) if raw else {}
    except (metadata.PackageNotFoundError, ValueError):
        info = {}
    url = urlparse(info.get("url", ""))
    if url.scheme == "file" and "dir_info" in info:
        editable = "-e " if info["dir_info"].get("editable") else ""
        return f"pip install {editable}{shlex.quote(unquote(url.path) + f'[{extra}]')}"
    return f"pip install 'medkg[{extra}]'"
