"""The answer cache of `kg eval rag`: one JSON line per answer, appended as each comes, so a run that was stopped
asks only what it had not; answers are asked ``concurrency`` at a time (an endpoint's requests in flight)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path


class AnswerCache:
    def __init__(self, path: Path | None):
        self.path = path
        self.known: dict[str, str] = {}
        self._lock = threading.Lock()
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self.known[row["key"]] = row["answer"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill: asked again

    def _keep(self, key: str, answer: str) -> None:
        with self._lock:
            self.known[key] = answer
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"key": key, "answer": answer}) + "\n")

    def many(self, jobs: Sequence[tuple[str, Callable[[], str]]], *, concurrency: int = 1,
             advance: Callable[..., None] = lambda n=1: None) -> list[str]:
        """The answer of every (key, ask) job, in job order: from the cache, or asked (``concurrency`` at a time,
        each kept as soon as it comes). The first error stops the asking; what came before it is kept."""
        todo = [(k, ask) for k, ask in dict(jobs).items() if k not in self.known]
        asked = {k for k, _ in todo}
        advance(sum(1 for k, _ in jobs if k not in asked))  # the cached ones at once
        if concurrency <= 1 or len(todo) <= 1:
            for key, ask in todo:
                self._keep(key, ask())
                advance()
        else:
            with ThreadPoolExecutor(concurrency, thread_name_prefix="medkg-eval") as pool:
                pending: set[Future[str]] = set()
                keys: dict[Future[str], str] = {}
                queue = iter(todo)
                try:
                    for key, ask in queue:
                        if len(pending) >= concurrency:
                            done, pending = wait(pending, return_when=FIRST_COMPLETED)
                            for f in done:
                                self._keep(keys[f], f.result())
                                advance()
                        f = pool.submit(ask)
                        keys[f] = key
                        pending.add(f)
                    for f in list(pending):
                        self._keep(keys[f], f.result())
                        advance()
                except BaseException:
                    for f in pending:
                        f.cancel()
                    raise
        return [self.known[k] for k, _ in jobs]
