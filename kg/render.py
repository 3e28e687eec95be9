"""How the ``kg`` commands print: one place for consoles and tables.

On a terminal, output fits its width. Piped or redirected, nothing is wrapped or cut: lines stay whole and
table cells keep every character, so ids can be pasted back into the next command.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

PIPE_WIDTH = 100_000  # effectively unbounded; tables still take only the width their content needs


def console(stderr: bool = False) -> Console:
    c = Console(stderr=stderr, soft_wrap=True)
    if not c.is_terminal:
        c = Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH)
    return c


def table(title: str | None, columns: list[str], rows: list[list[str]], *, right: tuple[str, ...] = (),
          whole: tuple[str, ...] = ()) -> Table:
    """A table; columns in ``right`` are right-aligned, columns in ``whole`` (ids) are never wrapped or cut."""
    t = Table(title=title)
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left", no_wrap=col in whole,
                     overflow="fold" if col not in whole else "ignore",
                     min_width=max((len(r[columns.index(col)]) for r in rows), default=0) if col in whole else None)
    for r in rows:
        t.add_row(*r)
    return t


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
