"""A bounded load test of the retrieval service: zero server errors, memory flat.

    python bench/load.py [--images 20000] [--requests 10000] [--concurrency 64]

Generates a store (as bench/serve.py does), starts `kg serve` on loopback and sends --requests requests at
--concurrency with an asyncio client (httpx): a mix of embedding queries, image-id queries, text queries, concept
look-ups and bad requests (wrong dimension, unknown id, malformed JSON) that must be 4xx. Prints the status counts
and the server's resident memory after the warm-up, halfway and at the end. Targets (issue): zero 5xx, memory flat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from bench.serve import free_port, generate  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def requests_mix(vecs, ids: list[str], n: int, seed: int = 0) -> list[tuple[str, str, bytes | None]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.55:
            v = vecs[rnd.randrange(len(vecs))]
            out.append(("POST", "/v1/context", json.dumps({"embedding": [round(float(x), 4) for x in v], "k": 8}).encode()))
        elif r < 0.75:
            out.append(("POST", "/v1/context", json.dumps({"image_id": rnd.choice(ids), "k": 8, "hops": 2}).encode()))
        elif r < 0.85:
            out.append(("POST", "/v1/context", json.dumps({"text": "Small left pleural effusion. No pneumothorax."}).encode()))
        elif r < 0.90:
            out.append(("GET", f"/v1/concepts/C{rnd.randrange(500):07d}", None))
        elif r < 0.94:
            out.append(("POST", "/v1/context", json.dumps({"embedding": [0.1, 0.2]}).encode()))
        elif r < 0.97:
            out.append(("POST", "/v1/context", json.dumps({"image_id": "no-such-image"}).encode()))
        else:
            out.append(("POST", "/v1/context", b'{"image_id": '))
    return out


async def run(url: str, reqs, concurrency: int, on_half=None) -> dict[int, int]:
    import httpx

    statuses: dict[int, int] = {}
    it = iter(enumerate(reqs))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        async def worker():
            for n, (method, path, body) in it:
                if n == len(reqs) // 2 and on_half:
                    on_half()
                r = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return dict(sorted(statuses.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=64)
    a = ap.parse_args()
    print(f"machine: {machine()}")
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "store"
        vecs = generate(out, a.images, 256)
        ids = (out / "index" / "ids.txt").read_text().split()
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "kg", "serve", str(out), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    httpx.get(url + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if proc.poll() is not None:
                        raise SystemExit(proc.stderr.read().decode()) from None
                    time.sleep(0.5)
            asyncio.run(run(url, requests_mix(vecs, ids, 1000, seed=1), a.concurrency))  # warm-up
            marks = {"after warm-up": rss_mb(proc.pid)}
            t = time.perf_counter()
            statuses = asyncio.run(run(url, requests_mix(vecs, ids, a.requests), a.concurrency,
                                       on_half=lambda: marks.__setitem__("halfway", rss_mb(proc.pid))))
            wall = time.perf_counter() - t
            marks["at the end"] = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    errors = sum(v for k, v in statuses.items() if k >= 500)
    print(f"{a.requests:,} requests at concurrency {a.concurrency} in {wall:.1f} s ({a.requests / wall:,.0f}/s); "
          f"statuses {statuses}; 5xx: {errors} (target 0)")
    print("server RSS: " + ", ".join(f"{k} {v:.0f} MB" for k, v in marks.items())
          + f"; growth after warm-up {marks['at the end'] - marks['after warm-up']:+.0f} MB (target: flat)")


if __name__ == "__main__":
    main()
