"""Engines run the per-study step over a stream of studies and give the results back in input order.

By name (``--engine``; ``--executor`` is a hidden alias kept for one release): ``local`` (in this process),
``processes`` (a pool of ``--workers`` spawned processes, each building its step context once) and ``ray`` /
``ray:ADDRESS`` (Ray Data over a local Ray instance started for the run with every CPU or ``--workers`` of them,
or the cluster at ADDRESS: ``auto``, ``ray://host:10001``; ``pip install 'medkg[ray]'``;
:mod:`kg.engines.ray_data`). An engine also runs the image stage (``embed``). Every engine gives the results in
input order, so the outputs are the same byte for byte whichever ran them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from multiprocessing import get_context
from multiprocessing.pool import Pool
from typing import TYPE_CHECKING, Protocol

from kg.core.errors import InvalidInput
from kg.core.registry import Registry
from kg.corpus import Rejected, Study
from kg.step import Processed, StepConfig, context_for, run_step

if TYPE_CHECKING:  # the image stage's modules load when images are embedded (kg extract never needs them)
    from embed.batch import Embedded
    from embed.encoders import Encoder


class Engine(Protocol):
    name: str
    where: str  # the resources it runs on, shown beside the progress bars ("" when there is nothing to say)

    def map(self, config: StepConfig, studies: Iterable[Study | Rejected]) -> Iterator[Processed | Rejected]: ...

    def embed(self, encoder: Encoder, spec: str, items: Sequence[tuple[str, str]], *, batch_size: int,
              advance: Callable[[int], None]) -> list[Embedded]:
        """``items`` = [(image id, path)] -> one :class:`Embedded` per item, same order (``spec`` names
        ``encoder`` for engines that load it elsewhere)."""
        ...

    def close(self) -> None: ...


class LocalEngine:
    """The step in this process; images decoded by ``workers`` processes (a torch DataLoader for torch encoders)."""

    name = "local"
    where = ""

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)

    def embed(self, encoder, spec, items, *, batch_size, advance):
        from embed.batch import embed_images

        return embed_images(items, encoder, workers=self.workers, batch_size=batch_size, advance=advance)

    def map(self, config: StepConfig, studies):
        ctx = context_for(config)  # built before the first study, so a bad setting fails at once
        from kg.step import process_study

        return (process_study(s, ctx) for s in studies)

    def close(self) -> None:
        pass


def _init(config: StepConfig) -> None:
    context_for(config)


class ProcessEngine(LocalEngine):
    name = "processes"

    def __init__(self, workers: int, chunksize: int = 16):
        super().__init__(workers)
        self.chunksize = chunksize
        self._pool: Pool | None = None

    def map(self, config: StepConfig, studies):
        context_for(config)  # fail here, in the parent, on a bad setting, rather than in every worker
        pool = self._pool = get_context("spawn").Pool(self.workers, initializer=_init, initargs=(config,))
        return pool.imap(partial(run_step, config), studies, chunksize=self.chunksize)

    def embed(self, encoder, spec, items, *, batch_size, advance):
        self.close()  # the step's workers are done; the image stage starts its own
        return super().embed(encoder, spec, items, batch_size=batch_size, advance=advance)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None


ENGINES: Registry[Engine] = Registry("engine", option="--engine")


def _ray(workers: int, arg: str | None = None, **options) -> Engine:
    from kg.engines.ray_data import RayEngine

    return RayEngine(workers, arg, **options)


ENGINES.add("local", lambda workers, arg=None, **_: LocalEngine(workers))
ENGINES.add("processes", lambda workers, arg=None, **_: ProcessEngine(workers))
ENGINES.add("ray", _ray)


def engine_for(spec: str | None, workers: int | None, *, ray_address: str | None = None, encode_actors: int | None = None,
                 gpus_per_actor: float | None = None) -> Engine:
    """``spec`` by name; by default ``processes`` when ``workers > 1``, else ``local``; ``ray`` when a Ray address
    is given. The encoder pool options apply to the ray engine. ``workers`` None: 1, except for a local Ray
    instance, which gets every CPU of this machine."""
    if ray_address:
        if spec not in (None, "ray"):
            raise InvalidInput(f"--ray-address {ray_address} goes with --engine ray, not --engine {spec}", code="E191",
                               fix="pass --engine ray (or leave --engine out), or drop --ray-address")
        spec = f"ray:{ray_address}"
    spec = spec or ("processes" if (workers or 1) > 1 else "local")
    factory, s = ENGINES.get(spec)
    if workers is None:
        workers = (os.cpu_count() or 1) if s.name == "ray" and not s.arg else 1
    if s.name != "ray" and (encode_actors is not None or gpus_per_actor is not None):
        raise InvalidInput(f"--encode-actors and --gpus-per-actor size the ray engine's encoder pool, not {s.name}'s",
                           code="E154", fix="pass --engine ray, or drop them (--workers sizes the local image workers)")
    options = {"encode_actors": encode_actors, "gpus_per_actor": gpus_per_actor} if s.name == "ray" else {}
    return factory(workers, s.arg, **options)
