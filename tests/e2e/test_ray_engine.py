"""`kg build --engine ray`: a local Ray instance runs the per-study step and the image stage; the output is the
local engine's byte for byte, bad records are quarantined alike, and a worker killed mid-build changes nothing."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kg.sample import generate_corpus
from tests.e2e.test_build import KG, broken_corpus, run, tables_digest

pytest.importorskip("ray", reason="the ray extra is not installed")


def test_a_build_on_ray_is_byte_identical_to_the_local_one(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run("build", "--sample", "--out", a, "--quiet")
    p = run("build", "--sample", "--out", b, "--workers", "2", "--engine", "ray")
    assert tables_digest(a) == tables_digest(b) and len(tables_digest(b)) > 10
    assert "Embedding images" in p.stderr and "42/42" in p.stderr
    # one line says where it runs; Ray's own notices (log levels, token set-up, actor restarts) stay out
    lines = p.stderr.splitlines()
    assert lines[0] == "running on a local Ray instance: 1 node, 2 CPUs"
    assert not [x for x in lines[1:] if "ray" in x.lower() or "WARNING" in x], p.stderr


def test_bad_records_are_quarantined_on_ray_as_in_the_local_engine(tmp_path):
    root = broken_corpus(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    run("build", root, "--out", a, "--quiet")
    p = run("build", root, "--out", b, "--quiet", "--engine", "ray", "--workers", "1", "--batch-size", "4")
    assert "3 records and 2 images quarantined" in p.stderr
    assert (a / "quarantine.jsonl").read_text() == (b / "quarantine.jsonl").read_text()
    assert tables_digest(a) == tables_digest(b)


def _ray_workers(name: str) -> list[int]:
    """Pids of the Ray worker processes whose title names ``name`` (Ray titles its workers ``ray::...``)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if cmd.startswith("ray::") and name in cmd:
            found.append(int(pid))
    return found


@pytest.mark.parametrize("victim", ["MedkgStep", "MedkgEncode"])
def test_a_worker_killed_mid_build_is_retried_and_the_output_is_unchanged(tmp_path, victim):
    corpus = generate_corpus(tmp_path / "corpus", 2000, images=True)
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    run("build", corpus, "--out", local, "--quiet")
    env = {**os.environ, "COLUMNS": "200"}
    # small chunks: the stage runs long enough on two CPUs for the kill to land while it works
    args = [*KG, "build", str(corpus), "--out", str(ray_out), "--quiet", "--engine", "ray", "--workers", "2",
            "--batch-size", "16"]
    build = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and build.poll() is None and time.monotonic() < deadline:
        pids = _ray_workers(victim)
        if pids:
            time.sleep(0.3)  # let it take work first
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        else:
            time.sleep(0.05)
    running_after_kill = build.poll() is None
    out, err = build.communicate(timeout=300)
    assert build.returncode == 0, err
    assert killed is not None and running_after_kill, f"no {victim} worker was killed while the build ran"
    assert tables_digest(local) == tables_digest(ray_out)
    assert (ray_out / "quarantine.jsonl").read_text() == ""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_build_joins_a_running_two_node_ray_cluster_and_gives_the_same_output(tmp_path):
    """A head and a second node (two raylets and object stores on this machine, as `ray start` makes them on
    two), one CPU each: the encoder actor takes one node's CPU, so images are decoded on the other and travel."""
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    port = _free_port()
    subprocess.run([*ray_cli, "start", "--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard",
                    "false", "--disable-usage-stats"], check=True, capture_output=True, timeout=120)
    try:
        # the head enabled token authentication (Ray's default) and wrote this machine's token; a node joins with it
        subprocess.run([*ray_cli, "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "1",
                        "--disable-usage-stats"], check=True, capture_output=True, timeout=120,
                       env={**os.environ, "RAY_AUTH_MODE": "token"})
        a, b = tmp_path / "a", tmp_path / "b"
        run("build", "--sample", "--out", a, "--quiet")
        p = run("build", "--sample", "--out", b, "--quiet", "--ray-address", f"127.0.0.1:{port}")
        assert tables_digest(a) == tables_digest(b)
        assert p.stderr == "", p.stderr  # --quiet: nothing, not even Ray's notices
    finally:
        subprocess.run([*ray_cli, "stop"], capture_output=True, timeout=120)
    p = run("build", "--sample", "--out", tmp_path / "c", "--quiet", "--ray-address", f"127.0.0.1:{port}", check=False)
    assert p.returncode == 2 and f"no Ray cluster answers at 127.0.0.1:{port}" in p.stderr


def test_ray_options_that_do_not_fit_are_refused_with_the_fix(tmp_path):
    p = run("build", "--sample", "--out", tmp_path / "a", "--engine", "local", "--ray-address", "auto", check=False)
    assert p.returncode == 2 and "--ray-address auto goes with --engine ray" in p.stderr
    assert "Traceback" not in p.stderr
    p = run("build", "--sample", "--out", tmp_path / "b", "--encode-actors", "2", check=False)
    assert p.returncode == 2 and "--encode-actors and --gpus-per-actor size the ray engine" in p.stderr


def test_generated_corpus_has_the_sample_reports_and_linked_images(tmp_path):
    root = generate_corpus(tmp_path / "c", 50, images=True)
    reports = sorted(root.rglob("s*.txt"))
    assert len(reports) == 50 and len({p.parent.name for p in reports}) == 17
    images = sorted(root.rglob("*.jpg"))
    assert images and len({p.stem for p in images}) == len(images)
    assert all(Path(p).stat().st_size > 1000 for p in images)


def test_the_kuberay_rayjob_runs_a_kg_build_this_version_accepts():
    yaml = pytest.importorskip("yaml")
    import shlex

    import ray
    import typer

    from kg.cli import app

    root = Path(__file__).resolve().parents[2]
    job = yaml.safe_load((root / "docker" / "kuberay" / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert spec["rayClusterSpec"]["rayVersion"] == ray.__version__  # the image's Ray is the pinned one
    gpu = spec["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == 1
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["kg", "build"]
    build = typer.main.get_command(app).commands["build"]
    ctx = build.make_context("build", argv[2:])  # raises on an option kg build does not have
    assert ctx.params["ray_address"] == "auto" and ctx.params["gpus_per_actor"] == 1
