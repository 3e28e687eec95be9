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

        # a finished stage: its average from start to end (results that arrive together, as from a cluster, would
        # otherwise read as a huge rate); a running one: rich's recent rate
        elapsed = task.finished_time if task.finished else None
        speed = task.completed / elapsed if elapsed else task.speed
        unit = task.fields.get("unit", "items")
        return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="progress.data.speed")


@contextmanager
def progress(quiet: bool, console: Console | None = None):
    """Yields a function ``track(description, total=None, unit='items') -> advance(n)``; ``advance.done()`` ends a
    stage whose length was not known, so its rate and time stop there."""
    if quiet:
        def silent(*a, **k):
            def advance(n: int = 1):
                pass

            advance.done = lambda: None
            return advance

        yield silent
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

            count = [0]

            def advance(n: int = 1):
                count[0] += n
                p.advance(task, n)

            advance.done = lambda: p.update(task, total=count[0])
            return advance

        yield track
