"""The Ray engine's overhead: `kg build` of a generated MIMIC-layout corpus with --engine local, processes and ray
in the same run.

    python bench/scale.py [--studies 20000] [--workers 2] [--repeats 3]
    python bench/scale.py --studies 2000 --images [--encoder open_clip:ViT-B-16@random] [--engines local,ray]

Generates --studies report-only studies (the bundled sample's 42 reports under new patient and study ids, in
MIMIC-CXR's files/pXX/pNNNNNNNN/sNNNNNNNN.txt layout), then builds the graph with each executor, each in a
process of its own, and prints wall time, the ratio to the local build, the peak memory of the build's
processes summed (the driver and, for ray and processes, every worker it started: /proc sampled every 0.2 s),
and whether each output is byte-identical to the local one. Target (issue): ray / local <= 1.5 on this machine.
With --images each study also gets the sample's images (linked), and the table gives the image stage's seconds
and images/s from each build's manifest (decode + encode); bench/gpu_scale.sh runs that with a ViT-B/16-sized
open_clip model on a GPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from kg.sample import generate_corpus  # noqa: E402


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def run_sampled(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and the peak of the summed RSS (MB) of every process that was not there before the run."""
    before = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in before]
            peak[0] = max(peak[0], sum(_rss_kb(p) for p in pids))
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    done.set()
    t.join()
    return wall, peak[0] / 1024


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted([*out.rglob("*.parquet"), *out.rglob("*.npy"), *out.rglob("ids.txt")]):
        h.update(p.relative_to(out).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


ENGINES = {
    "local": lambda a: ["--engine", "local", "--workers", str(a.workers)],  # --workers decode images in processes
    "processes": lambda a: ["--engine", "processes", "--workers", str(a.workers)],
    "ray": lambda a: ["--engine", "ray", "--workers", str(a.workers),
                      *(["--encode-actors", str(a.encode_actors)] if a.encode_actors else [])],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--images", action="store_true", help="studies with images (the sample's, linked)")
    ap.add_argument("--encoder", default="pixels", help="e.g. open_clip:ViT-B-16@random (random weights)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--encode-actors", type=int, default=0)
    ap.add_argument("--engines", default="local,processes,ray")
    ap.add_argument("--repeats", type=int, default=1, help="builds per engine; the median is reported")
    a = ap.parse_args()
    engines = [e for e in a.engines.split(",") if e]
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        t = time.perf_counter()
        generate_corpus(corpus, a.studies, images=a.images)
        kind = "studies with images" if a.images else "report-only studies"
        print(f"corpus: {a.studies:,} {kind} (MIMIC layout), generated in {time.perf_counter() - t:.1f} s; "
              f"encoder {a.encoder}, batch {a.batch_size}, {a.repeats} build(s) per engine, workers {a.workers}")
        rows, ref = [], None
        for _ in range(a.repeats):
            for name in engines:
                out = Path(tmp) / name
                wall, mem = run_sampled([sys.executable, "-m", "kg", "build", str(corpus), "--format", "mimic",
                                         "--out", str(out), "--quiet", "--encoder", a.encoder, "--batch-size",
                                         str(a.batch_size), *ENGINES[name](a)])
                m = json.loads((out / "manifest.json").read_text())
                d = digest(out)
                ref = ref or d
                rows.append({"engine": name, "wall": wall, "mem": mem, "same": d == ref,
                             "images": m["images"]["embedded"], "image_s": m["timings"].get("images", 0.0),
                             "extract_s": m["timings"].get("read and extract", 0.0)})
                shutil.rmtree(out)
        med = {e: {k: statistics.median(r[k] for r in rows if r["engine"] == e)
                   for k in ("wall", "mem", "image_s", "extract_s")} for e in engines}
        same = {e: all(r["same"] for r in rows if r["engine"] == e) for e in engines}
        first = engines[0]
        print(f"\n| engine | wall s (median) | / {first} | read+extract s | images stage s | images/s | peak RSS of "
              "its processes, MB | output identical |")
        print("|---|---|---|---|---|---|---|---|")
        n_img = rows[0]["images"]
        for e in engines:
            m = med[e]
            ips = f"{n_img / m['image_s']:,.0f}" if n_img and m["image_s"] else "-"
            print(f"| {e} | {m['wall']:.1f} | {m['wall'] / med[first]['wall']:.2f} | {m['extract_s']:.1f} | "
                  f"{m['image_s']:.1f} | {ips} | {m['mem']:,.0f} | {same[e]} |")
        if "ray" in med and first != "ray":
            r = med["ray"]["wall"] / med[first]["wall"]
            print(f"\nray / {first} = {r:.2f} (target <= 1.5 on 2 cores; runs: "
                  + ", ".join(f"{x['wall']:.1f}" for x in rows if x["engine"] == "ray") + " s)")


if __name__ == "__main__":
    main()
