"""`kg serve`: the retrieval service (``kg.serve.app``) on uvicorn, and with an upstream VLM server the
OpenAI-compatible gateway in front of it (``kg.serve.gateway``).

Bound to loopback by default. Bound anywhere else it needs an API key (``--api-key`` or ``MEDKG_API_KEY``) and
refuses to start without one.
"""

from __future__ import annotations

import gc
import ipaddress
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kg.core.errors import InvalidInput, Unavailable
from kg.core.extras import require

if TYPE_CHECKING:  # the gateway's module needs the api extra, checked before it is imported
    from kg.serve.gateway import Upstream

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(graph_dir: Path, *, neo4j: str | None = None, api_key: str | None = None,
              upstream: Upstream | None = None):
    """The app over a build (and its Neo4j database with ``neo4j``), with every cache warmed before it serves."""
    require("api", "the retrieval service (kg serve)")
    if neo4j is not None:
        require("neo4j", "kg serve --neo4j")
    from graph.retrieve.context import similarity_record
    from graph.stores import open_store
    from kg.serve.app import create_app

    store = open_store(graph_dir, neo4j=neo4j)
    store.files.warm()
    similarity_record(store.files)  # a build from before medkg recorded it: measured now, not on the first request
    app = create_app(store, api_key=api_key, upstream=upstream)
    # the store is millions of long-lived objects: leave them out of the cyclic collector's full scans, which
    # otherwise walk all of them every few thousand requests (measured on 100k images: p50 and throughput, below)
    gc.collect()
    gc.freeze()
    return app


def _listener(host: str, port: int) -> socket.socket:
    """A listening socket of its own on a shared port (``SO_REUSEPORT``): the kernel spreads new connections over
    the workers' sockets. One socket shared by all workers instead goes to whichever wakes first, which takes a
    burst of connections whole (measured: one of two workers busy, the other idle, p50 16 ms vs 12 ms)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _run(app, sock: socket.socket) -> None:
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


def _worker(graph_dir: str, host: str, port: int, neo4j: str | None, api_key: str | None, upstream: Upstream | None,
            ready) -> None:
    """One worker process: its own copy of the store and its own listening socket on the shared port; it puts its
    pid on ``ready`` once it listens."""
    import os

    from kg.core.errors import KGError

    try:
        app = build_app(Path(graph_dir), neo4j=neo4j, api_key=api_key, upstream=upstream)
    except KGError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    sock = _listener(host, port)
    sock.listen(2048)
    ready.put(os.getpid())
    _run(app, sock)


def _check_port(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) socket on ``host:port``, or E156 when something holds the port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            taken = "something already answers there"
    except OSError:
        taken = None
    if taken is None:
        try:
            return _listener(host, port)
        except OSError as e:
            taken = e.strerror
    raise InvalidInput(f"cannot listen on {host}:{port}: {taken}", code="E156", where="--port",
                       fix="choose a free port (--port) or stop what is listening there")


def _supervise(graph_dir: Path, host: str, port: int, neo4j: str | None, api_key: str | None,
               upstream: Upstream | None, workers: int, on_ready) -> None:
    """Start ``workers`` processes; stop them all on SIGINT/SIGTERM or when one of them ends."""
    import multiprocessing as mp
    import queue
    import signal
    import time

    _check_port(host, port).close()  # the port is free, checked once here rather than in every worker
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(graph_dir), host, port, neo4j, api_key, upstream, ready), daemon=True)
             for _ in range(workers)]
    stop = []
    previous = {sig: signal.signal(sig, lambda *_: stop.append(1)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in procs:
            p.start()
        listening = 0
        while not stop and all(p.is_alive() for p in procs):
            try:
                ready.get(timeout=0.2)
            except queue.Empty:
                continue
            listening += 1
            if listening == workers:
                on_ready()
                break
        while not stop and all(p.is_alive() for p in procs):
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(30)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [p.exitcode for p in procs if p.exitcode not in (0, -signal.SIGTERM, None)]
    if failed and not stop:
        raise Unavailable(f"a worker stopped (exit code {failed[0]}); the service is down", code="E423",
                          fix="see the worker's error above")


def serve(graph_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          neo4j: str | None = None, workers: int = 1, upstream: Upstream | None = None,
          on_ready=lambda: None) -> None:
    """Serve until stopped. ``workers`` > 1 starts that many processes on one port, each with its own copy of the
    store in memory (Python answers one request at a time per process). ``on_ready()`` is called once every
    worker listens (a command prints its "service on ..." line then, never before a failure)."""
    if not is_loopback(host) and not api_key:
        raise InvalidInput(f"refusing to serve on {host} without an API key", code="E192",
                           fix="set MEDKG_API_KEY (or --api-key), or bind to 127.0.0.1")
    if not 1 <= workers <= 64:
        raise InvalidInput(f"--workers must be 1..64, not {workers}", code="E177",
                           fix="one worker per core is a good start")
    if workers == 1:
        app = build_app(graph_dir, neo4j=neo4j, api_key=api_key, upstream=upstream)
        sock = _check_port(host, port)
        sock.listen(2048)
        on_ready()
        _run(app, sock)
        return
    from graph.store import FileStore

    require("api", "the retrieval service (kg serve)")
    if neo4j is not None:
        require("neo4j", "kg serve --neo4j")
    _ = FileStore(graph_dir).manifest  # a wrong folder fails here, once, not in every worker
    if not hasattr(socket, "SO_REUSEPORT"):
        raise Unavailable("--workers needs SO_REUSEPORT sockets, which this system lacks", code="E424",
                          fix="run one worker per port behind a load balancer, or serve on Linux or macOS")
    _supervise(Path(graph_dir).resolve(), host, port, neo4j, api_key, upstream, workers, on_ready)
