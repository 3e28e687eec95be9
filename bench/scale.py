"""The Ray engine's overhead: `kg build` of a generated MIMIC-layout corpus with --executor local, processes
and ray in the same run.

    python bench/scale.py [--studies 20000] [--workers 2]

Generates --studies report-only studies (the bundled sample's 42 reports under new patient and study ids, in
MIMIC-CXR's files/pXX/pNNNNNNNN/sNNNNNNNN.txt layout), then builds the graph with each executor, each in a
process of its own, and prints wall time, the ratio to the local build, the peak memory of the build's
processes summed (the driver and, for ray and processes, every worker it started: /proc sampled every 0.2 s),
and whether each output is byte-identical to the local one. Target (issue): ray / local <= 1.5 on this machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
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
    for p in sorted(out.rglob("*.parquet")):
        h.update(p.relative_to(out).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        t = time.perf_counter()
        generate_corpus(corpus, a.studies)
        print(f"corpus: {a.studies:,} report-only studies (MIMIC layout), generated in {time.perf_counter() - t:.1f} s")
        rows, ref = [], None
        for name, extra in (("local", ["--executor", "local"]),
                            ("processes", ["--executor", "processes", "--workers", str(a.workers)]),
                            ("ray", ["--executor", "ray", "--workers", str(a.workers)])):
            out = Path(tmp) / name
            wall, mem = run_sampled([sys.executable, "-m", "kg", "build", str(corpus), "--format", "mimic", "--out",
                                     str(out), "--quiet", *extra])
            d = digest(out)
            ref = ref or d
            rows.append((name, wall, mem, d == ref))
            shutil.rmtree(out)
        local = rows[0][1]
        print("\n| executor | wall s | / local | peak RSS of its processes, MB | output identical to local |")
        print("|---|---|---|---|---|")
        for name, wall, mem, same in rows:
            print(f"| {name} | {wall:.1f} | {wall / local:.2f} | {mem:,.0f} | {same} |")
        ray = next(r for r in rows if r[0] == "ray")
        print(f"\nray / local = {ray[1] / local:.2f} (target <= 1.5; {a.studies:,} studies/{local:.1f} s local = "
              f"{a.studies / local:,.0f} studies/s, ray {a.studies / ray[1]:,.0f} studies/s, workers {a.workers})")


if __name__ == "__main__":
    main()
