"""The retrieval service under load: `POST /v1/context` with embedding inputs on a generated store.

    python bench/serve.py [--images 100000] [--dim 256] [--requests 3000] [--concurrency 16] [--repeats 3]

Generates a store of this model's shape (images with embedding-like low-rank vectors, ~6 findings per image over
500 concepts with a Zipf profile, concept triplets), starts `kg serve --workers N` on loopback (default one worker per core), and
loads it at --concurrency with wrk (`apt install wrk`; a C client that leaves the cores to the server) for
--seconds per run, or without wrk sends --requests requests with an asyncio httpx client, after a warm-up. Prints p50 / p99
latency and requests/s per run and their medians. In the same run it measures the floors a request cannot go
below: `Retriever.context` in process (no HTTP) and `GET /healthz` over the same HTTP stack, and prints the
service's p50 as a ratio to each. Also the plugin's `augment()` in process on the bundled sample (p50).
Then open-loop runs at constant rates (--rates, default 300,600,900,1200 requests/s) over --concurrency
connections, with vegeta (Go: `go install github.com/tsenart/vegeta/v12@v12.13.0`) or else an asyncio httpx client
(good for the 300 requests/s of the target, not far beyond): the latency a client sees at a given load, queueing
included, where wrk's closed loop only gives the latency at saturation (16 / throughput). It prints each rate of at
least 300 requests/s against the targets.
Targets (issue): p50 <= 10 ms, p99 <= 50 ms at concurrency 16, >= 300 requests/s; augment() <= 5 ms p50.
Needs `pip install httpx` (the bench's client) besides the api extra.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, peak_rss_mb  # noqa: E402


def generate(out: Path, n_images: int, dim: int, seed: int = 0, index_kind: str | None = None) -> np.ndarray:
    """The store; returns the image vectors (the queries are drawn near them)."""
    from graph.model import Graph, NodeTable
    from kg.sample.stores import finding_row, write_store

    rng = np.random.default_rng(seed)
    n_patients, n_concepts, rank = max(1, n_images // 3), 500, 32
    images = [f"i{i:07d}" for i in range(n_images)]
    studies = [f"s{i:07d}" for i in range(n_images)]
    patients = [f"p{i:07d}" for i in range(n_patients)]
    owner = rng.integers(0, n_patients, n_images)
    cuis = [f"C{i:07d}" for i in range(n_concepts)]
    g = Graph()
    g.nodes["Patient"] = NodeTable("Patient", [{"id": p} for p in patients])
    g.nodes["Study"] = NodeTable("Study", [{"id": s, "patientId": patients[o], "split": "train"} for s, o in zip(studies, owner)])
    g.nodes["Image"] = NodeTable("Image", [{"id": i, "studyId": s, "viewPosition": "AP", "kept": bool(n % 5)}
                                           for n, (i, s) in enumerate(zip(images, studies))])
    g.nodes["Concept"] = NodeTable("Concept", [{"cui": c, "name": f"finding {n}", "group": "OBSERVATION",
                                                "semanticTypes": ["T047:Disease or Syndrome"]} for n, c in enumerate(cuis)])
    g.add_edges("HAS_STUDY", "Patient", "Study", [{"_start": patients[o], "_end": s} for s, o in zip(studies, owner)])
    g.add_edges("HAS_IMAGE", "Study", "Image", [{"_start": s, "_end": i} for s, i in zip(studies, images)])
    p = 1.0 / np.arange(1, n_concepts + 1)
    p /= p.sum()
    for typ, share in (("POSITIVE", 3), ("NEGATIVE", 2), ("UNCERTAIN", 1)):
        rows = [finding_row(im, studies[n], cuis[c], typ, f"finding {c}")
                for n, im in enumerate(images) for c in set(rng.choice(n_concepts, size=share, p=p).tolist())]
        g.add_edges(typ, "Image", "Concept", rows)
    for typ in ("LOCATED_AT", "SUGGESTIVE_OF", "MODIFY"):
        pairs = {(int(a), int(b)) for a, b in rng.integers(0, n_concepts, (1500, 2)) if a != b}
        g.add_edges(typ, "Concept", "Concept", [{"_start": cuis[a], "_end": cuis[b], "support": int(rng.integers(1, 50)),
                                                 "reportIds": [studies[0]]} for a, b in sorted(pairs)])
    vecs = rng.standard_normal((n_images, rank)).astype(np.float32) @ rng.standard_normal((rank, dim)).astype(np.float32)
    vecs += 0.1 * rng.standard_normal((n_images, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    write_store(out, g, images, vecs, checksum=f"bench-{seed}-{n_images}-{dim}", index_kind=index_kind)
    return vecs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WRK_SCRIPT = """
local bodies, i = {}, 0
for line in io.lines(os.getenv("MEDKG_BENCH_BODIES")) do bodies[#bodies + 1] = line end
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/context", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("MEDKG %d %d %d %d %d %d\\n", summary.requests, summary.duration, latency:percentile(50),
           latency:percentile(99), summary.errors.status, summary.errors.connect + summary.errors.read
           + summary.errors.write + summary.errors.timeout))
end
"""


def load_wrk(url: str, bodies: list[bytes], concurrency: int, seconds: float) -> tuple[float, float, float, dict]:
    """wrk (C, one thread: it takes little of the two cores from the server): p50 and p99 in ms, requests/s."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bodies.txt").write_bytes(b"\n".join(bodies) + b"\n")
        (Path(tmp) / "post.lua").write_text(WRK_SCRIPT)
        out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "-s", str(Path(tmp) / "post.lua"),
                              url], capture_output=True, text=True, check=True,
                             env={**os.environ, "MEDKG_BENCH_BODIES": str(Path(tmp) / "bodies.txt")}).stdout
    n, dur_us, p50, p99, bad, sock = (int(x) for x in out.split("MEDKG ", 1)[1].split()[:6])
    return p50 / 1000, p99 / 1000, n / (dur_us / 1e6), {"non-2xx": bad, "socket errors": sock}


def find_vegeta(given: str | None) -> str | None:
    """vegeta (Go; `go install github.com/tsenart/vegeta/v12@v12.13.0`): on PATH, in GOBIN or ~/go/bin."""
    for c in (given, shutil.which("vegeta"), os.path.join(os.environ.get("GOBIN", ""), "vegeta"),
              os.path.expanduser("~/go/bin/vegeta")):
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def load_rate(vegeta: str, url: str, bodies: list[bytes], rate: int, connections: int,
              seconds: float) -> tuple[float, float, float, dict]:
    """An open-loop load at a constant ``rate`` over at most ``connections`` connections (vegeta: requests leave on
    schedule whether or not earlier ones have come back, so queueing shows in the latencies): p50 and p99 in ms,
    the throughput achieved, status codes."""
    import base64

    with tempfile.TemporaryDirectory() as tmp:
        targets = Path(tmp) / "targets.json"
        with targets.open("w") as f:
            for b in bodies:
                f.write(json.dumps({"method": "POST", "url": url + "/v1/context", "body": base64.b64encode(b).decode(),
                                    "header": {"Content-Type": ["application/json"]}}) + "\n")
        attack = subprocess.run([vegeta, "attack", "-format=json", f"-targets={targets}", f"-rate={rate}/s",
                                 f"-duration={seconds:.0f}s", f"-workers={connections}", f"-max-workers={connections}",
                                 f"-connections={connections}", f"-max-connections={connections}"],
                                capture_output=True, check=True).stdout
        report = json.loads(subprocess.run([vegeta, "report", "-type=json"], input=attack, capture_output=True,
                                           check=True).stdout)
    lat = report["latencies"]
    return lat["50th"] / 1e6, lat["99th"] / 1e6, report["throughput"], report["status_codes"]


async def load(url: str, bodies: list[bytes], concurrency: int, *, rate: float | None = None,
               n: int | None = None) -> tuple[list[float], float, dict]:
    """``n`` requests (default: one per body) over ``concurrency`` connections with an asyncio httpx client (it takes
    some CPU from the server): latencies in s, wall time, status codes. Without ``rate`` a closed loop, each
    connection sending its next request when the last one is back; with it an open loop, request i due at
    i / ``rate`` and its latency counted from then, so a request that waited for a free connection counts its wait."""
    import httpx

    lat: list[float] = []
    statuses: dict[int, int] = {}
    n, nxt = len(bodies) if n is None else n, [0]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        t0 = time.perf_counter()

        async def connection() -> None:
            while nxt[0] < n:
                i = nxt[0]
                nxt[0] += 1
                due = t0 + i / rate if rate else time.perf_counter()
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                r = await client.post("/v1/context", content=bodies[i % len(bodies)],
                                      headers={"Content-Type": "application/json"})
                lat.append(time.perf_counter() - due)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        await asyncio.gather(*(connection() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return lat, wall, statuses


def load_open(url: str, bodies: list[bytes], rate: int, connections: int,
              seconds: float) -> tuple[float, float, float, dict]:
    """The open loop without vegeta: p50 and p99 in ms, the throughput achieved, status codes."""
    lat, wall, statuses = asyncio.run(load(url, bodies, connections, rate=rate, n=max(1, int(rate * seconds))))
    return pct(lat, 50), pct(lat, 99), len(lat) / wall, statuses


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--index", choices=["auto", "flat-ip", "hnsw"], default="auto",
                    help="auto: what a build of this size gets (HNSW from 50k images)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="kg serve --workers (default: one per core)")
    ap.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto",
                    help="wrk (Debian package) when on PATH, else an asyncio httpx client (slower: it takes CPU from the server)")
    ap.add_argument("--seconds", type=float, default=10, help="length of each wrk or vegeta run")
    ap.add_argument("--rates", default="300,600,900,1200",
                    help="constant request rates (requests/s) for the open-loop runs with vegeta; '' skips them")
    ap.add_argument("--vegeta", default=None, help="the vegeta binary (default: PATH, GOBIN, ~/go/bin)")
    a = ap.parse_args()
    client = ("wrk" if shutil.which("wrk") else "httpx") if a.client == "auto" else a.client
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "store"
        t = time.perf_counter()
        vecs = generate(out, a.images, a.dim, index_kind=None if a.index == "auto" else a.index)
        from graph.store import FileStore as _FS

        print(f"store: {a.images:,} images, dim {a.dim}, {_FS(out).index.kind} index, generated in "
              f"{time.perf_counter() - t:.1f} s")
        rng = np.random.default_rng(1)
        picks = rng.integers(0, len(vecs), a.requests)
        queries = vecs[picks] + 0.05 * rng.standard_normal((a.requests, a.dim)).astype(np.float32)
        bodies = [json.dumps({"embedding": [round(float(x), 5) for x in q], "k": a.k}).encode() for q in queries]

        from graph.retrieve import Retriever
        from graph.store import FileStore

        fs = FileStore(out)
        for q in queries[:50]:
            Retriever(fs).context(embedding=q, k=a.k)
        inproc, abstained = [], 0
        for q in queries[:500]:
            t = time.perf_counter()
            abstained += Retriever(fs).context(embedding=q, k=a.k).abstained is not None
            inproc.append(time.perf_counter() - t)
        # an abstention (the out-of-distribution guard) is cheaper than an answer: the queries must not be unlike
        print(f"in-process Retriever.context (no HTTP): p50 {pct(inproc, 50):.2f} ms, p99 {pct(inproc, 99):.2f} ms; "
              f"{abstained} of {len(inproc)} queries abstained")

        port = free_port()
        env = {**os.environ}
        proc = subprocess.Popen([sys.executable, "-m", "kg", "serve", str(out), "--port", str(port), "--workers",
                                 str(a.workers)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            import httpx

            deadline = time.monotonic() + 300
            while True:
                try:
                    httpx.get(url + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(proc.stderr.read().decode()) from None
                    time.sleep(0.5)
            health = []
            with httpx.Client(base_url=url) as c:
                for _ in range(300):
                    t = time.perf_counter()
                    c.get("/healthz")
                    health.append(time.perf_counter() - t)
            print(f"GET /healthz (the HTTP floor): p50 {pct(health, 50):.2f} ms")
            asyncio.run(load(url, bodies[:300], a.concurrency))  # warm-up (every worker)
            if client == "wrk":  # and a short run at full load: the first seconds of a fresh server run slower
                load_wrk(url, bodies, a.concurrency, 3)
            runs = []
            print(f"client: {client}; server: kg serve --workers {a.workers}")
            for r in range(a.repeats):
                if client == "wrk":
                    p50_, p99_, rps_, statuses = load_wrk(url, bodies, a.concurrency, a.seconds)
                    runs.append((p50_, p99_, rps_))
                    what = f"{a.seconds:.0f} s"
                else:
                    lat, wall, statuses = asyncio.run(load(url, bodies, a.concurrency))
                    runs.append((pct(lat, 50), pct(lat, 99), len(lat) / wall))
                    what = f"{len(lat):,} requests"
                print(f"run {r + 1}: {what} at concurrency {a.concurrency}: p50 {runs[-1][0]:.2f} ms, "
                      f"p99 {runs[-1][1]:.2f} ms, {runs[-1][2]:,.0f} requests/s, statuses {statuses}")
            p50 = statistics.median(r[0] for r in runs)
            p99 = statistics.median(r[1] for r in runs)
            rps = statistics.median(r[2] for r in runs)
            print(f"median of {a.repeats}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, {rps:,.0f} requests/s: the capacity "
                  f"(target >= 300 requests/s: {'met' if rps >= 300 else 'missed'}); p50 {'<=' if p50 <= 10 else '>'} "
                  f"10 ms with {a.concurrency} requests always in flight")
            print(f"ratios: service p50 / in-process p50 = {p50 / pct(inproc, 50):.1f}x; "
                  f"service p50 / healthz p50 = {p50 / pct(health, 50):.1f}x")
            print(f"(a closed loop of {a.concurrency} clients saturates the server: p50 = {a.concurrency} / throughput)")
            rates = [int(x) for x in a.rates.split(",") if x.strip()]
            vegeta = find_vegeta(a.vegeta)
            if rates:
                tool = "vegeta" if vegeta else "httpx, an asyncio client that itself tops out at a few hundred " \
                    "requests/s on 2 cores: for higher rates `go install github.com/tsenart/vegeta/v12@v12.13.0`"
                print(f"\nopen loop ({tool}), {a.concurrency} connections, {a.seconds:.0f} s per run, median of "
                      f"{a.repeats} runs per rate:")
                print("| offered requests/s | p50 ms | p99 ms | achieved requests/s | statuses |")
                print("|---|---|---|---|---|")
                at: dict[int, tuple] = {}
                for rate in rates:
                    rr = [load_rate(vegeta, url, bodies, rate, a.concurrency, a.seconds) if vegeta else
                          load_open(url, bodies, rate, a.concurrency, a.seconds) for _ in range(a.repeats)]
                    codes: dict = {}
                    for x in rr:
                        for code, n in x[3].items():
                            codes[code] = codes.get(code, 0) + n
                    at[rate] = tuple(statistics.median(x[i] for x in rr) for i in range(3))
                    print(f"| {rate:,} | {at[rate][0]:.2f} | {at[rate][1]:.2f} | {at[rate][2]:,.0f} | {codes} |")
                for rate, (p50_, p99_, rps_) in at.items():
                    if rate >= 300:
                        print(f"target at {rate:,} requests/s over {a.concurrency} connections: p50 {p50_:.2f} ms "
                              f"({'met' if p50_ <= 10 else 'missed'}, <= 10), p99 {p99_:.2f} ms "
                              f"({'met' if p99_ <= 50 else 'missed'}, <= 50), {rps_:,.0f} requests/s served "
                              f"({'met' if rps_ >= 0.98 * rate else 'missed'})")
        finally:
            proc.terminate()
            proc.wait(10)

    from kg.rag import KGRAG
    from kg.sample import write_sample

    with tempfile.TemporaryDirectory() as tmp:
        from kg.build_options import BuildSettings
        from kg.pipeline import build
        from kg.sample import sample_corpus

        build(BuildSettings(source=sample_corpus(), out=Path(tmp) / "g", format="mimic", quiet=True))
        write_sample(Path(tmp) / "s")
        image = next((Path(tmp) / "s").rglob("749af0f7-*.jpg")).read_bytes()
        rag = KGRAG.from_store(Path(tmp) / "g", k=5)
        ids = FileStore(Path(tmp) / "g").index.ids
        for _ in range(20):
            rag.augment(image_id=ids[0], question="Is there an effusion?")
        by_id, by_image = [], []
        for n in range(300):
            t = time.perf_counter()
            rag.augment(image_id=ids[n % len(ids)], question="Is there an effusion?")
            by_id.append(time.perf_counter() - t)
        for _ in range(100):
            t = time.perf_counter()
            rag.augment(image, "Is there an effusion?")
            by_image.append(time.perf_counter() - t)
        print(f"plugin augment() in process on the sample: p50 {pct(by_id, 50):.2f} ms by image id, "
              f"{pct(by_image, 50):.2f} ms for a new image file (decode + encode included) (target <= 5 ms)")
    print(f"peak RSS (client side): {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
