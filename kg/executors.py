"""Executors run the per-study step over a stream of studies and give the results back in input order.

By name (``--executor``): ``local`` (in this process), ``processes`` (a pool of ``--workers`` spawned
processes, each building its step context once) and ``ray`` / ``ray:ADDRESS`` (Ray Data over a local Ray
instance started for the run with ``--workers`` CPUs, or the cluster at ADDRESS: ``auto``, ``ray://host:10001``;
``pip install 'medkg[ray]'``). Every executor gives the results in input order, so the outputs are the same
byte for byte whichever ran the step.
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


class _RayStep:
    """A Ray Data actor: builds the step context once, then runs the step over batches of records. The config is
    a class attribute of a subclass made per run (no constructor arguments in Ray's object store to lose)."""

    config: StepConfig

    def __init__(self):
        context_for(self.config)

    def __call__(self, batch):
        import numpy as np

        out = np.empty(len(batch["record"]), dtype=object)
        for n, record in enumerate(batch["record"]):
            out[n] = run_step(self.config, record)
        return {"result": out}


class RayExecutor:
    """The per-study step on Ray Data: the records as a dataset, an actor pool of ``workers`` step contexts
    (``map_batches``), results streamed back in input order (``preserve_order``). Without an address a local Ray
    instance with ``workers`` CPUs is started for the run and stopped by :meth:`close`."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None, batch_size: int = 256):
        self.workers, self.address, self.batch_size = max(1, workers), address, batch_size
        self._started = False

    def map(self, config: StepConfig, studies):
        try:
            import ray
            import ray.data
        except ImportError:
            from kg.core.errors import MissingExtraError

            raise MissingExtraError("the ray executor", "ray", "ray[data]") from None
        import logging
        import os

        context_for(config)  # a bad setting fails here, before any cluster work
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # Ray's notices stay out of medkg's output
        if not ray.is_initialized():
            quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, **quiet)
                self._started = True
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False  # medkg's own progress counts the studies as they come back
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        records = [{"record": s} for s in studies]
        if not records:
            return iter(())
        step = type("MedkgStep", (_RayStep,), {"config": config})
        ds = ray.data.from_items(records).map_batches(step, batch_size=self.batch_size, concurrency=self.workers,
                                                      batch_format="numpy")
        return (row["result"] for row in ds.iter_rows())

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


EXECUTORS: Registry[Executor] = Registry("executor", option="--executor")
EXECUTORS.add("local", lambda workers, arg=None: LocalExecutor())
EXECUTORS.add("processes", lambda workers, arg=None: ProcessExecutor(workers))
EXECUTORS.add("ray", lambda workers, arg=None: RayExecutor(workers, arg))


def executor_for(spec: str | None, workers: int) -> Executor:
    """``spec`` by name; by default ``processes`` when ``workers > 1``, else ``local``."""
    spec = spec or ("processes" if workers > 1 else "local")
    factory, s = EXECUTORS.get(spec)
    return factory(workers, s.arg)
