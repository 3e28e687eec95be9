"""The gateway's overhead: the same chat request straight to an upstream and through `kg serve --upstream`.

    python bench/gateway.py [--requests 300] [--repeats 3]

Builds the bundled sample, starts an upstream that answers at once in OpenAI's wire format (tests/kg/serve/upstream.py
--echo: its latency is the HTTP round trip, so what the gateway adds is not hidden behind a model's seconds) and
`kg serve --upstream` in front of it, then sends the same request (a frontal image as a data: URL and a question)
sequentially, one at a time, with the `openai` SDK's own HTTP client (httpx):

* direct: to the upstream; the upstream's own latency;
* gateway, context off (`medkg.enabled: false`): the pure proxy cost;
* gateway, context on: the proxy, decoding and embedding the image, retrieval and rendering;
* in process, `Retriever.context` on the same image bytes: the retrieval time the target allows for;
* streaming: time to the first SSE event, direct and through the gateway.

Prints medians (and p90) per case and the overhead over direct against the target: <= 5 ms + the retrieval time
(median, non-streaming), and the first streamed token delayed by at most that. Needs the api extra and `openai`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402

UPSTREAM = ROOT / "tests" / "kg" / "serve" / "upstream.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} stopped: {proc.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not come up")


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def measure(send, n: int) -> list[float]:
    for _ in range(10):  # warm-up: connections, caches
        send()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        send()
        times.append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import httpx

    from graph.retrieve import ContextQuery, Retriever
    from graph.store import FileStore
    from kg.build_options import BuildSettings
    from kg.pipeline import build
    from kg.sample import sample_corpus, write_sample

    work = Path(tempfile.mkdtemp(prefix="medkg-gateway-bench-"))
    build(BuildSettings(source=sample_corpus(), out=work / "g", format="mimic", quiet=True))
    write_sample(work / "s")
    from PIL import Image

    path = next((work / "s").rglob("e2253821-*.jpg"))
    image, size = path.read_bytes(), Image.open(path).size
    url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
    messages = [{"role": "user", "content": [{"type": "text", "text": "Is there a pleural effusion?"},
                                             {"type": "image_url", "image_url": {"url": url}}]}]
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    up_port, gw_port = free_port(), free_port()
    up = subprocess.Popen([sys.executable, str(UPSTREAM), "--echo", str(up_port)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env)
    gw = subprocess.Popen([sys.executable, "-m", "kg", "serve", str(work / "g"), "--port", str(gw_port), "--upstream",
                           f"http://127.0.0.1:{up_port}/v1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        wait(f"http://127.0.0.1:{up_port}/v1/models", up, "the upstream")
        wait(f"http://127.0.0.1:{gw_port}/healthz", gw, "the gateway")
        client = httpx.Client(timeout=30)
        direct, gateway = f"http://127.0.0.1:{up_port}/v1", f"http://127.0.0.1:{gw_port}/v1"

        def chat(base: str, medkg: dict | None = None):
            body = {"model": "tiny-llava", "messages": messages, "max_tokens": 3}
            if medkg is not None:
                body["medkg"] = medkg
            return lambda: client.post(base + "/chat/completions", json=body).raise_for_status()

        def first_event(base: str):
            body = {"model": "tiny-llava", "messages": messages, "max_tokens": 3, "stream": True}

            def send():
                with client.stream("POST", base + "/chat/completions", json=body) as r:
                    next(r.iter_raw())  # the first bytes of the first event
            return send

        store = FileStore(work / "g")
        retriever = Retriever(store)
        query = ContextQuery(image=image)
        retriever.context(query)
        cases = {
            "direct (the upstream's own latency)": chat(direct),
            "gateway, context off": chat(gateway, {"enabled": False}),
            "gateway, context on": chat(gateway),
            "Retriever.context in process": lambda: retriever.context(query),
            "first streamed event, direct": first_event(direct),
            "first streamed event, gateway": first_event(gateway),
        }
        runs: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.repeats):
            for name, send in cases.items():
                runs[name].append(statistics.median(measure(send, args.requests)))
        last = {name: measure(send, args.requests) for name, send in cases.items()}
        print(f"machine: {machine()}")
        print(f"{args.requests} sequential requests per case, {args.repeats} repeats; the sample graph "
              f"({len(store.index)} images), a {size[0]}x{size[1]} JPEG as a data: URL ({len(url):,} characters)")
        for name in cases:
            print(f"  {name:40s} median {statistics.median(runs[name]):7.2f} ms   p90 {percentile(last[name], 0.9):7.2f} ms")
        med = {k: statistics.median(v) for k, v in runs.items()}
        retrieval = med["Retriever.context in process"]
        over_on = med["gateway, context on"] - med["direct (the upstream's own latency)"]
        over_off = med["gateway, context off"] - med["direct (the upstream's own latency)"]
        over_stream = med["first streamed event, gateway"] - med["first streamed event, direct"]
        allowed = 5.0 + retrieval
        print(f"overhead over direct: context off {over_off:.2f} ms; context on {over_on:.2f} ms (target <= 5 ms + "
              f"retrieval {retrieval:.2f} ms = {allowed:.2f} ms: {'met' if over_on <= allowed else 'MISSED'}); "
              f"first streamed event {over_stream:.2f} ms ({'met' if over_stream <= allowed else 'MISSED'})")
        print(json.dumps({"medians_ms": med, "overhead_ms": {"context_off": over_off, "context_on": over_on,
                                                              "first_event": over_stream, "allowed": allowed}}))
    finally:
        for p in (gw, up):
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
