"""The small tab-separated tables medkg ships under ``extract/data`` and users may replace with their own."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from kg.core.errors import InvalidInput


def tsv_rows(bundled: str, path: Path | None, *, columns: int, layout: str,
             what: str) -> Iterator[tuple[str, list[str]]]:
    """``(where, stripped columns)`` of each row of ``path``, or of the bundled ``extract/data/<bundled>``; blank
    lines and ``#`` comments skipped. An unreadable file or a row without ``columns`` columns is an error that
    names the file and line and shows ``layout`` (``finding<TAB>CUI|CUI``)."""
    if path is None:
        text, where = (resources.files("extract") / "data" / bundled).read_text(encoding="utf-8"), bundled
    else:
        try:
            text, where = Path(path).read_text(encoding="utf-8"), str(path)
        except OSError as e:
            raise InvalidInput(f"cannot read the {what}: {e.strerror}", code="E1127", where=str(path),
                               fix=f"pass a tab-separated file: {layout}") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != columns:
            raise InvalidInput(f"{what} rows need {columns} tab-separated columns", code="E1128",
                               where=f"{where}:{n}", fix=f"write: {layout}")
        yield f"{where}:{n}", [c.strip() for c in cols]


def cuis_of(cell: str) -> tuple[str, ...]:
    """``C0032227|C0032326`` -> its CUIs."""
    return tuple(c.strip() for c in cell.split("|") if c.strip())
