"""Rich progress bars with counts and rate on stderr; silent under --quiet. When stderr is not a terminal, each
bar is printed once, finished, as a summary line."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)


class _Rate(TextColumn):
    """Items per second, with the unit the task was given (``fields['unit']``)."""

    def __init__(self):
        super().__init__("")

    def render(self, task):
        from rich.text import Text

        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "items")
        return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="progress.data.speed")


@contextmanager
def progress(quiet: bool, console: Console | None = None):
    """Yields a function ``track(description, total=None, unit='items') -> advance(n)``."""
    if quiet:
        yield lambda *a, **k: (lambda n=1: None)
        return
    p = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _Rate(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )
    with p:
        def track(description: str, total: int | None = None, unit: str = "items"):
            task = p.add_task(description, total=total, unit=unit)

            def advance(n: int = 1):
                p.advance(task, n)

            return advance

        yield track
