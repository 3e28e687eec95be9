"""The one step runner: records -> duplicate ids -> the per-study step on an engine -> quarantine, counts, progress.

``kg build``, ``kg extract``, ``kg label`` and ``kg eval extract`` all stream their corpus through a
:class:`StepRun`, so each gets the same engine choice, the same duplicate-id rule (the second record with an id
is quarantined, never merged), the same quarantine records and counts, and the engine's workers stop however the
command ends::

    with StepRun(records, config, engine=engine_for(None, workers), quarantine=Quarantine()) as run:
        for processed in run:
            ...
    run.counts.read == run.counts.processed + run.counts.quarantined
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from kg.core.quarantine import Quarantine, Rejected
from kg.corpus import Study, unique_records
from kg.engines import Engine
from kg.step import Processed, StepConfig


@dataclass
class RunCounts:
    """``read`` records = ``processed`` + ``quarantined`` once the run is over."""

    read: int = 0
    processed: int = 0
    quarantined: int = 0


def quarantine_path(out: Path) -> Path:
    """Where a command that writes ``out`` puts its quarantine: ``x.jsonl`` -> ``x.quarantine.jsonl``, any other
    name gets ``.quarantine.jsonl`` appended (``labels.csv.quarantine.jsonl``)."""
    if out.suffix == ".jsonl":
        return out.with_suffix(".quarantine.jsonl")
    return out.with_name(out.name + ".quarantine.jsonl")


def _nothing(n: int = 1) -> None:
    pass


class StepRun:
    """One pass of the per-study step over ``records``; iterate it for the studies that came through.

    ``on_study`` sees every study read (in input order, before the step: the build's input checksum);
    ``advance`` ticks once per record back from the engine; ``info`` gets one line naming where the engine runs
    (a Ray cluster) when it has one. Leaving the ``with`` block closes the engine; :attr:`engine` stays usable
    inside it (the build's image stage runs on the same one)."""

    def __init__(self, records: Iterable[Study | Rejected], config: StepConfig, *, engine: Engine,
                 quarantine: Quarantine, advance: Callable[..., None] = _nothing,
                 on_study: Callable[[Study], None] | None = None, info: Callable[[str], None] | None = None):
        self.records, self.config, self.engine = records, config, engine
        self.quarantine, self.advance = quarantine, advance
        self.on_study, self.info = on_study, info
        self.counts = RunCounts()

    def _read(self) -> Iterator[Study | Rejected]:
        for rec in unique_records(iter(self.records)):
            self.counts.read += 1
            if isinstance(rec, Study) and self.on_study is not None:
                self.on_study(rec)
            yield rec

    def __iter__(self) -> Iterator[Processed]:
        results = self.engine.map(self.config, self._read())  # a Ray cluster is joined (or started) here
        if self.info is not None and self.engine.where:
            self.info(f"running {self.engine.where}")
        for r in results:
            self.advance()
            if isinstance(r, Rejected):
                self.counts.quarantined += 1
                self.quarantine.add(r)  # under strict: stops the run (E110)
                continue
            self.counts.processed += 1
            yield r

    def __enter__(self) -> StepRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.engine.close()
