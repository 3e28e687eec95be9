"""The loader's batch writer: each batch and its checkpoint key in one transaction, fresh tables by concurrent
sessions, the rest one batch at a time, batches a resumed load already committed skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from functools import partial
from itertools import chain
from typing import Any

from graph.neo4j.client import Neo4jClient

OnIds = Callable[[list[int]], None] | None
# (checkpoint key, cypher, rows in the batch, a call building its payload, a call taking the node ids it returned)
Job = tuple[str, str, int, Callable[[], list[list[Any]]], OnIds]


class BatchWriter:
    """Writes batches for one load; counts them in ``report`` (``batches``, ``skipped_batches``)."""

    def __init__(self, g: Neo4jClient, *, checkpoint_label: str, checkpoint: str, done: set[str], report: Any,
                 workers: int, batch_size: int, advance: Callable[[int], None]):
        self.g, self.label, self.checkpoint, self.done = g, checkpoint_label, checkpoint, done
        self.report, self.workers, self.batch_size, self.advance = report, workers, batch_size, advance

    def write(self, key: str, cypher: str, rows: list[list[Any]], returns_ids: bool) -> list[int] | None:
        """One batch and its checkpoint key in one transaction; returns the node ids a node batch
        reports (``RETURN collect(id(n))``), None for a relationship batch."""
        def tx(t: Any) -> list[int] | None:
            res = t.run(cypher, rows=rows)
            got = res.single(strict=True)[0] if returns_ids else None
            res.consume()
            # the right-hand side reads the property it sets, so Cypher write-locks the checkpoint
            # before reading it: concurrent batches cannot lose each other's keys
            t.run(f"MATCH (c:{self.label} {{id: $id}}) SET c.done = c.done + $key", id=self.checkpoint, key=key).consume()
            return got

        with self.g.session(notifications_disabled_classifications=["DEPRECATION"]) as s:
            return s.execute_write(tx)

    def jobs(self, prefix: str, cypher: str, table: Any, build: Callable[[Any], list[list[Any]]],
             on_ids: Callable[[int, list[int]], None] | None = None) -> Iterator[Job]:
        """One job per batch of ``table``: its checkpoint key, the query, its row count, a call that
        builds its payload (only for batches not done yet), and a call taking the ids it returned."""
        for b in range(0, table.num_rows, self.batch_size):
            part = table.slice(b, self.batch_size)
            yield (f"{prefix}/{b // self.batch_size}", cypher, part.num_rows, partial(build, part),
                   None if on_ids is None else partial(on_ids, b // self.batch_size))

    def phase(self, parallel_jobs: list[Iterable[Job]], serial_jobs: list[Iterable[Job]]) -> None:
        """Fresh tables of a phase share one pool (no table waits for another's last batch); the
        MERGE tables follow one batch at a time."""
        self.run(chain.from_iterable(parallel_jobs), parallel=True)
        self.run(chain.from_iterable(serial_jobs), parallel=False)

    def _finish(self, n_rows: int, on_ids: OnIds, got: list[int] | None) -> None:
        self.report.batches += 1
        if on_ids is not None and got is not None:
            on_ids(got)
        self.advance(n_rows)

    def _todo(self, jobs: Iterable[Job]) -> Iterator[tuple[str, str, list[list[Any]], int, OnIds]]:
        for key, cypher, n, make_rows, on_ids in jobs:
            if key in self.done:
                self.report.skipped_batches += 1
                self.advance(n)
                continue
            yield key, cypher, make_rows(), n, on_ids

    def run(self, jobs: Iterable[Job], parallel: bool) -> None:
        """Every job not done yet; at most 2 × workers batches are in memory at once."""
        if not parallel or self.workers <= 1:
            for key, cypher, rows, n, on_ids in self._todo(jobs):
                self._finish(n, on_ids, self.write(key, cypher, rows, on_ids is not None))
            return
        pending: dict[Future[list[int] | None], tuple[int, OnIds]] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="medkg-load") as pool:
            try:
                for key, cypher, rows, n, on_ids in self._todo(jobs):
                    if len(pending) >= 2 * self.workers:
                        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for f in finished:
                            self._finish(*pending.pop(f), f.result())
                    pending[pool.submit(self.write, key, cypher, rows, on_ids is not None)] = (n, on_ids)
                for f in as_completed(list(pending)):
                    self._finish(*pending.pop(f), f.result())
            except BaseException:
                for f in pending:
                    f.cancel()
                raise
