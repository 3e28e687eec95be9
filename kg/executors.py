"""Executors run the per-study step over a stream of studies and give the results back in input order.

By name (``--executor``): ``local`` (in this process) and ``processes`` (a pool of ``--workers`` spawned
processes, each building its step context once). A distributed executor joins the registry with the same
``map`` and needs nothing else: the step and its config are picklable.
"""

from __future__ import annotations

from functools import partial
from multiprocessing import get_context
from typing import Iterable, Iterator, Protocol

from kg.core.registry import Registry
from kg.corpus import Rejected, Study
from kg.step import Processed, StepConfig, context_for, run_step


class Executor(Protocol):
    name: str

    def map(self, config: StepConfig, studies: Iterable[Study | Rejected]) -> Iterator[Processed | Rejected]: ...

    def close(self) -> None: ...


class LocalExecutor:
    name = "local"

    def map(self, config: StepConfig, studies):
        ctx = context_for(config)  # built before the first study, so a bad setting fails at once
        from kg.step import process_study

        return (process_study(s, ctx) for s in studies)

    def close(self) -> None:
        pass


def _init(config: StepConfig) -> None:
    context_for(config)


class ProcessExecutor:
    name = "processes"

    def __init__(self, workers: int, chunksize: int = 16):
        self.workers = max(1, workers)
        self.chunksize = chunksize
        self._pool = None

    def map(self, config: StepConfig, studies):
        context_for(config)  # fail here, in the parent, on a bad setting, rather than in every worker
        self._pool = get_context("spawn").Pool(self.workers, initializer=_init, initargs=(config,))
        return self._pool.imap(partial(run_step, config), studies, chunksize=self.chunksize)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None


EXECUTORS: Registry[Executor] = Registry("executor", option="--executor")
EXECUTORS.add("local", lambda workers, arg=None: LocalExecutor())
EXECUTORS.add("processes", lambda workers, arg=None: ProcessExecutor(workers))


def executor_for(spec: str | None, workers: int) -> Executor:
    """``spec`` by name; by default ``processes`` when ``workers > 1``, else ``local``."""
    spec = spec or ("processes" if workers > 1 else "local")
    factory, s = EXECUTORS.get(spec)
    return factory(workers, s.arg)
