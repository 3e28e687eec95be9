"""Rich progress bars with counts and rate on stderr; silent under --quiet. When stderr is not a terminal, each
bar is printed once, finished, as a summary line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Rate(TextColumn):
    """Items per second, with the unit the task was given (``fields['unit']``)."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Task) -> Any:
        from rich.text import Text

        # a finished stage: its average from start to end (results that arrive together, as from a cluster, would
        # otherwise read as a huge rate); a running one: rich's recent rate
        elapsed = task.finished_time if task.finished else None
        speed = task.completed / elapsed if elapsed else task.speed
        unit = task.fields.get("unit", "items")
        return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="progress.data.speed")


class Advance:
    """``advance(n)`` counts ``n`` more items of a stage; ``advance.done()`` ends a stage whose length was not known,
    so its rate and time stop there. A silent one (``--quiet``) does nothing."""

    def __init__(self, bar: Progress | None = None, task: Any = None):
        self._bar, self._task, self._count = bar, task, 0

    def __call__(self, n: int = 1) -> None:
        self._count += n
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, total=self._count)


Track = Callable[..., Advance]  # track(description, total=None, unit="items") -> Advance


@contextmanager
def progress(quiet: bool, console: Console | None = None) -> Iterator[Track]:
    """Yields a function ``track(description, total=None, unit='items') -> Advance``."""
    if quiet:
        def silent(description: str = "", total: int | None = None, unit: str = "items") -> Advance:
            return Advance()

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
        TimeRemainingColumn(),  # the time left, where the total is known (--:-- otherwise)
        console=console or Console(stderr=True),
        transient=False,
    )
    with p:
        def track(description: str, total: int | None = None, unit: str = "items") -> Advance:
            return Advance(p, p.add_task(description, total=total, unit=unit))

        yield track
