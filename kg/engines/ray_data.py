"""The Ray engine (``--engine ray``): the per-study step and the image stage on Ray Data.

* **Studies.** The records go to the cluster in chunks (one pickled list per dataset row, so Ray handles a few
  hundred rows rather than every record's Python objects); an actor pool of ``workers`` step contexts (the
  concept index and extractor built once per actor) runs the step; the driver puts the chunks back in input
  order.
* **Images.** ``(id, path)`` chunks go through CPU map tasks that read and decode the files and apply the
  encoder's preprocessing (:meth:`Encoder.preparer`: the transform only, never the model), then through an actor
  pool of ``encode_actors`` encoders, each loading the model once, on ``gpus_per_actor`` GPUs when the cluster
  has them. A file that cannot be decoded comes back with its reason and is quarantined as in the local engine.

Ray Data retries a task and restarts an actor whose worker died (its defaults for map operators), and every
chunk carries its position, so a build that lost a worker gives the same output as one that did not. Without an
address a local Ray instance with ``workers`` CPUs (every CPU unless ``--workers`` says) is started for the build
and stopped after it; with one (``auto``, ``ray://host:10001``) the build joins that cluster and every node must
see the same image paths and encoder files (``pip install 'medkg[ray]'`` on every node).
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from kg.core.errors import KGError, MissingExtraError, Unavailable

STUDY_CHUNK = 256  # records per dataset row for the step
_PROTOCOL = pickle.HIGHEST_PROTOCOL


@contextmanager
def _without_ray_notice():
    """While Ray starts: its C++ side prints a line saying it read RAY_BACKEND_LOG_LEVEL straight to the stderr
    file descriptor; that line is dropped, anything else written there is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode("utf-8", "replace").splitlines(keepends=True):
                if "Set ray log level from environment variable" not in line:
                    sys.stderr.write(line)


def _chunks(items: Iterable, size: int) -> Iterator[bytes]:
    """``items`` as pickled ``(position of the first, [up to size items])`` chunks, one per dataset row."""
    batch: list = []
    start = 0
    for x in items:
        batch.append(x)
        if len(batch) == size:
            yield pickle.dumps((start, batch), protocol=_PROTOCOL)
            start, batch = start + size, []
    if batch:
        yield pickle.dumps((start, batch), protocol=_PROTOCOL)


def _dataset(ray, chunks: list[bytes]):
    return ray.data.from_items([{"chunk": c} for c in chunks], override_num_blocks=len(chunks))


def _map_chunks(batch, fn: Callable[[list], list]) -> dict:
    """A ``map_batches`` batch of chunks -> the same chunks, each's items through ``fn``, positions kept."""
    out = []
    for blob in batch["chunk"]:
        start, items = pickle.loads(blob)
        out.append(pickle.dumps((start, fn(items)), protocol=_PROTOCOL))
    return {"chunk": np.array(out, dtype=object)}


class _StepActor:
    """Builds the step context once, then runs the step over chunks of records. The config is a class attribute
    of a subclass made per run (no constructor arguments in Ray's object store to lose on a restart)."""

    config: Any

    def __init__(self):
        from kg.step import context_for

        context_for(self.config)

    def __call__(self, batch):
        from kg.step import run_step

        return _map_chunks(batch, lambda records: [run_step(self.config, r) for r in records])


def _decode_chunk(batch, preparer):
    """CPU task: read, decode and preprocess one chunk of images; a failure is the image's reason, not an error."""
    from embed.batch import load_and_prepare

    return _map_chunks(batch, lambda paths: [load_and_prepare(preparer, p) for p in paths])


class _EncodeActor:
    """Loads the encoder once (on the GPU Ray gave it, if any) and encodes chunks of prepared images."""

    spec: str

    threads: int = 0  # torch threads on a CPU-only cluster (Ray gives each actor one thread per reserved CPU)

    def __init__(self):
        from embed.encoders import get_encoder

        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        self.encoder = get_encoder(self.spec)

    def __call__(self, batch):
        return _map_chunks(batch, self._encode)

    def _encode(self, prepared: list) -> list[tuple[np.ndarray | None, str]]:
        """[(sample, problem)] -> [(vector, "")] for the good ones, [(None, problem)] for the others."""
        good = [n for n, (_, problem) in enumerate(prepared) if not problem]
        vecs = self.encoder.encode_batch([prepared[n][0] for n in good]) if good else np.zeros((0, 0), np.float32)
        result: list[tuple[np.ndarray | None, str]] = [(None, problem) for _, problem in prepared]
        for n, v in zip(good, vecs):
            result[n] = (np.asarray(v, dtype=np.float32), "")
        return result


def _has_token() -> bool:
    from pathlib import Path

    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or (Path.home() / ".ray" / "auth_token").is_file())


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A ``host:port`` or ``ray://host:port`` address that does not answer fails now, not after Ray's minutes of
    retries. ``auto`` is Ray's to resolve."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise Unavailable(f"no Ray cluster answers at {address}: {exc.strerror or exc}", code="E432",
                          fix="start the cluster (ray start --head) or fix --ray-address: HOST:6379 on a cluster node, "
                          "ray://HOST:10001 through the Ray client, auto where `ray start` ran on this machine") from None


def _rows_of(ds) -> Iterator[dict]:
    """The dataset's rows; a failure Ray gave up on (retries spent, the cluster gone) as medkg's error."""
    import ray.exceptions

    try:
        yield from ds.iter_rows()
    except ray.exceptions.RayError as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise Unavailable(f"the Ray engine failed: {first[:300]}", code="E431",
                          fix="the last good output is unchanged; see the Ray logs (/tmp/ray/session_latest/logs on "
                          "a local instance) and run the build again, or use --engine local") from None


def _in_order(rows: Iterable[dict]) -> Iterator[list]:
    """Chunks as they arrive -> chunks in input order (a chunk is held until those before it have come)."""
    held: dict[int, list] = {}
    nxt = 0
    for row in rows:
        start, items = pickle.loads(row["chunk"])
        held[start] = items
        while nxt in held:
            items = held.pop(nxt)
            yield items
            nxt += len(items)
    if held:  # an internal invariant: every chunk comes back once
        raise KGError(f"internal: Ray returned chunks {sorted(held)} but not the one at {nxt}", code="E505",
                      fix="report this to the medkg developers; --engine local builds the same graph")


class RayEngine:
    """See the module docstring. ``workers``: CPUs of the local instance and step actors; ``encode_actors`` and
    ``gpus_per_actor``: the encoder pool (default: one actor per GPU of the cluster, else half its CPUs)."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None, *, encode_actors: int | None = None,
                 gpus_per_actor: float | None = None, chunk: int = STUDY_CHUNK):
        self.workers, self.address, self.chunk = max(1, workers), address, chunk
        self.encode_actors, self.gpus_per_actor = encode_actors, gpus_per_actor
        self._started = False
        self.where = ""  # the resources it runs on, once connected (shown beside the progress bars)
        self._resources: dict = {}

    # -- the cluster ---------------------------------------------------------------------------------------------

    def _ray(self):
        if self.address and "RAY_AUTH_MODE" not in os.environ and _has_token():
            # A cluster started with token authentication (`ray start`'s default in this Ray) is joined with this
            # machine's token; Ray reads the mode when it is imported, so it is set before
            os.environ["RAY_AUTH_MODE"] = "token"
        try:
            import ray
            import ray.data
        except ImportError:
            raise MissingExtraError("the ray engine", "ray", "ray[data]") from None
        return ray

    def _connect(self) -> None:
        ray = self._ray()
        if self._resources:
            return
        if not ray.is_initialized():  # else: Ray started by the caller (a notebook, a Ray job) is used as it is
            quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
            # Ray's C++ notices (actor restarts, object store) stay out of the build's output; the user's own
            # setting wins
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
            with _without_ray_notice():
                self._init(ray, quiet)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # medkg's own progress counts studies and images as they come back
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        r = self._resources = ray.cluster_resources()  # what the build sizes its pools by
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        gpus = f", {r['GPU']:g} GPUs" if r.get("GPU") else ""
        self.where = (f"on {'Ray at ' + self.address if self.address else 'a local Ray instance'}: "
                      f"{nodes} node{'s' if nodes != 1 else ''}, {r.get('CPU', 0):g} CPUs{gpus}")

    def _init(self, ray, quiet: dict) -> None:
        if self.address:
            _check_reachable(self.address)
            try:
                ray.init(address=self.address, **quiet)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise Unavailable(f"cannot join the Ray cluster at {self.address}: {str(exc).splitlines()[0]}",
                                  code="E430", fix="check --ray-address (auto on a cluster node, ray://HOST:10001 "
                                   "from outside) and that the cluster runs the same Ray version") from None
        else:
            # A local instance for this build, with Ray's defaults (token authentication included) and without
            # Ray's notice that it enabled them
            logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
            ray.init(num_cpus=self.workers, include_dashboard=False, **quiet)
            self._started = True

    # -- the per-study step --------------------------------------------------------------------------------------

    def map(self, config, studies: Iterable) -> Iterator:
        from kg.step import context_for

        ray = self._ray()
        ctx = context_for(config)  # a bad setting fails here, before any cluster work
        # Read the records while Ray starts (Ray's processes must be started from the main thread).
        chunks: list[bytes] = []
        failed: list[BaseException] = []

        def read():
            try:
                chunks.extend(_chunks(studies, self.chunk))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
                failed.append(exc)

        reader = threading.Thread(target=read, name="medkg-read", daemon=True)
        reader.start()
        try:
            self._connect()
        finally:
            reader.join()
        if failed:
            raise failed[0]
        if not chunks:
            return iter(())
        resources = self._resources
        actors = self.workers
        if self.address:  # on a cluster: at least half its CPUs (the rest read, decode and encode)
            actors = max(actors, int(resources.get("CPU", 1)) // 2)
        # an extractor that holds a model (transformers) runs on GPU actors when the cluster has GPUs
        model = ctx.extractor.uses_model
        gpus = 0.0
        if model:
            gpus = self.gpus_per_actor if self.gpus_per_actor is not None else float(bool(resources.get("GPU")))
        if gpus:
            actors = max(1, int(resources.get("GPU", 0) // gpus))
        step = type("MedkgStep", (_StepActor,), {"config": config})
        ds = _dataset(ray, chunks).map_batches(
            step, batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(actors, len(chunks))),
            num_cpus=1, batch_format="numpy", **({"num_gpus": gpus} if gpus else {}))
        return (r for items in _in_order(_rows_of(ds)) for r in items)

    # -- the image stage -----------------------------------------------------------------------------------------

    def embed(self, encoder, spec: str, items: Sequence[tuple[str, str]], *, batch_size: int,
              advance: Callable[[int], None]) -> list:
        from embed.batch import Embedded

        if not items:
            return []
        ray = self._ray()
        self._connect()
        resources = self._resources
        gpus = self.gpus_per_actor
        if gpus is None:
            gpus = 1.0 if resources.get("GPU") and encoder.uses_torch else 0.0
        cpus = float(resources.get("CPU", 1))
        actors = self.encode_actors or (int(resources.get("GPU", 0) // gpus) if gpus else 0) or max(1, int(cpus) // 2)
        actors = min(actors, (len(items) + batch_size - 1) // batch_size)
        # CPU shares: the encoders never take every CPU, or no decoding task could start and the build would wait
        # for ever (on GPUs the encoders take no CPU share)
        actor_cpus = 0.0 if gpus else min(1.0, max(cpus - 1, 0.5) / actors)
        decode_cpus = min(1.0, cpus - actors * actor_cpus)
        chunks = list(_chunks((path for _, path in items), batch_size))
        # on CPUs a model encoder uses the node's cores between the actors, as the local engine's torch does
        # (decoding tasks share them; the model is most of the work)
        threads = max(1, int(cpus // actors)) if not gpus and encoder.uses_torch else 0
        encode = type("MedkgEncode", (_EncodeActor,), {"spec": spec, "threads": threads})
        gpu_args = {"num_gpus": gpus} if gpus else {}  # never num_gpus=0: Ray reads that as asking for a GPU
        ds = (_dataset(ray, chunks)
              .map_batches(_decode_chunk, fn_kwargs={"preparer": encoder.preparer()}, batch_size=1,
                           num_cpus=decode_cpus, batch_format="numpy")
              .map_batches(encode, batch_size=1, compute=ray.data.ActorPoolStrategy(size=actors),
                           num_cpus=actor_cpus, batch_format="numpy", **gpu_args))
        out: list = [None] * len(items)
        for row in _rows_of(ds):
            start, results = pickle.loads(row["chunk"])
            for n, (vector, problem) in enumerate(results):
                out[start + n] = Embedded(items[start + n][0], vector, problem)
            advance(len(results))
        return out

    def close(self) -> None:
        if self._started:
            self._ray().shutdown()
            self._started = False
        self._resources = {}
