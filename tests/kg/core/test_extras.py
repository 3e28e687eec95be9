"""kg/core/extras.py: every command that needs an extra says so in one line (exit 2) before any work, when that
extra is missing, and leaves nothing running.

"Missing" is made real for the subprocess: a ``sitecustomize`` on its ``PYTHONPATH`` puts an import hook first on
``sys.meta_path`` that answers ModuleNotFoundError for the extra's modules, as Python does when a package is not
installed (``find_spec`` and ``import`` both fail)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer.main

from kg.cli import app
from kg.core.errors import MissingExtraError
from kg.core.extras import EXTRAS, require
from kg.core.install import install_command

HOOK = '''
import os, sys
_BLOCKED = set(filter(None, os.environ.get("MEDKG_TEST_BLOCK", "").split(",")))

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
'''

NO_BOLT = "bolt://127.0.0.1:1"  # never reached: the missing driver is said first


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Every command that needs an extra: (the extra, arguments that need it), one per option that brings one in.
# {sample} is a built graph, {tmp} a fresh folder, {img} an image id, {reports} the sample corpus, {port} a free port.
NEEDS: dict[str, list[tuple[str, str]]] = {
    "build": [("images", "build --sample --out {tmp}/b1 --encoder open_clip:ViT-B-16@random"),
              ("nlp", "build --sample --out {tmp}/b2 --extractor transformers:{tmp}"),
              ("ray", "build --sample --out {tmp}/b3 --engine ray"),
              ("remote", "build --sample --out {tmp}/b4 --images s3://bucket/mimic"),
              ("neo4j", "build --sample --out {tmp}/b5 --neo4j " + NO_BOLT)],
    "extract": [("nlp", "extract {reports} --out {tmp}/x.jsonl --extractor transformers:{tmp}"),
                ("ray", "extract {reports} --out {tmp}/y.jsonl --engine ray")],
    "label": [("nlp", "label {reports} --schema chexpert --out {tmp}/l.csv --extractor transformers:{tmp}")],
    "eval extract": [("nlp", "eval extract {reports} --labels {tmp}/none.json --extractor transformers:{tmp}")],
    "eval rag": [("api", "eval rag {sample} --model openai:http://127.0.0.1:9/v1@m"), ("nlp", "eval rag {sample} --model {tmp}")],
    "train-extractor": [("nlp", "train-extractor {tmp}/gold.json --base {tmp} --out {tmp}/tagger")],
    "similar": [("neo4j", "similar {sample} {img} --neo4j")],
    "load": [("neo4j", "load {sample} --neo4j " + NO_BOLT)],
    "query": [("neo4j", "query RETURN_1 --neo4j " + NO_BOLT)],
    "neo4j start": [("neo4j", "neo4j start --home {tmp}/neo4j-home")],
    "serve": [("api", "serve {sample} --port {port}"), ("api", "serve {sample} --port {port} --workers 2"),
              ("api", "serve {sample} --port {port} --upstream http://127.0.0.1:9/v1"),
              ("neo4j", "serve {sample} --port {port} --neo4j " + NO_BOLT)],
    "mcp": [("mcp", "mcp {sample}")],
    "train-gnn": [("gnn", "train-gnn {sample}")],
    "predict": [("gnn", "predict {sample} --head C0032227 --relation ISA")],
}


# commands that run on the core install alone
CORE = {"sample", "report", "stats", "neighbors", "export", "calibrate", "eval-gnn", "eval labels", "umls index",
        "umls link", "neo4j install", "neo4j stop", "neo4j guide", "neo4j status", "import medmkg"}


def command_paths(group, prefix=()) -> set[str]:
    out = set()
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out |= command_paths(cmd, (*prefix, name))
        else:
            out.add(" ".join((*prefix, name)))
    return out


def test_every_command_is_declared():
    """A new command is either core-only or listed in NEEDS with the extras it needs."""
    assert command_paths(typer.main.get_command(app)) == set(NEEDS) | CORE


def running_with(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker``."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmd:
                out.append(cmd)
    return out


@pytest.mark.parametrize("command", sorted(NEEDS))
def test_a_missing_extra_is_one_line_exit_2_and_nothing_left_running(sample_build, tmp_path, command):
    from kg.sample import sample_corpus

    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(HOOK)
    img = (sample_build / "index" / "ids.txt").read_text().split()[0]
    for extra, template in NEEDS[command]:
        args = [a.replace("RETURN_1", "RETURN 1") for a in template.format(
            sample=sample_build, tmp=tmp_path, img=img, reports=sample_corpus(), port=free_port()).split()]
        env = os.environ | {"PYTHONPATH": str(tmp_path / "hook"), "MEDKG_TEST_BLOCK": ",".join(EXTRAS[extra].modules)}
        env.pop("NEO4J_URI", None)
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, "-m", "kg", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, start_new_session=True)
        out, err = p.communicate(timeout=120)
        lines = [x for x in err.splitlines() if x.strip()]
        assert p.returncode == 2, (args, out, err)
        assert len(lines) == 1 and "Traceback" not in err, (args, err)
        assert lines[0].startswith("error: [E401] ") and f"needs medkg[{extra}]" in lines[0], lines[0]
        assert lines[0].endswith(f"Fix: {install_command(extra)}"), lines[0]
        assert "service on" not in out + err and time.monotonic() - t0 < 60  # said before any work
        with pytest.raises(ProcessLookupError):  # nothing of the command's process group is left
            os.killpg(p.pid, 0)
        assert running_with(str(tmp_path)) == []  # and nothing it started elsewhere (a Neo4j, a Ray head)
        assert not (tmp_path / "neo4j-home").exists() and not any(tmp_path.glob("b[0-9]"))  # no work was done


def test_the_hook_really_hides_a_package(tmp_path):
    """The check itself: with the hook, the package cannot be imported at all (as when it is not installed)."""
    (tmp_path / "sitecustomize.py").write_text(HOOK)
    env = os.environ | {"PYTHONPATH": str(tmp_path), "MEDKG_TEST_BLOCK": "neo4j"}
    p = subprocess.run([sys.executable, "-c", "import neo4j"], capture_output=True, text=True, env=env)
    assert p.returncode == 1 and "No module named 'neo4j'" in p.stderr
    p = subprocess.run([sys.executable, "-c", "from kg.core.extras import missing; print(missing('neo4j'))"],
                       capture_output=True, text=True, env=env)
    assert p.stdout.strip() == "['neo4j']"


def test_the_fix_installs_into_this_installation():
    """From a clone (as the README installs it) `pip install 'medkg[x]'` would look for medkg on an index: the fix
    names the clone instead, with -e for an editable install."""
    import json
    from importlib import metadata

    raw = metadata.distribution("medkg").read_text("direct_url.json")
    info = json.loads(raw) if raw else {}
    cmd = install_command("neo4j")
    if info.get("url", "").startswith("file://"):
        root = Path(__file__).resolve().parents[3]
        assert cmd.endswith(f"{root}[neo4j]") or cmd.endswith(f"{root}[neo4j]'"), cmd
        assert cmd.startswith("pip install -e ") == bool(info.get("dir_info", {}).get("editable"))
    else:
        assert cmd == "pip install 'medkg[neo4j]'"


def test_require_names_the_extra():
    EXTRAS["_test"] = EXTRAS["neo4j"].__class__("_test", ("no_such_module_for_medkg",), "nothing", "0 MB")
    try:
        with pytest.raises(MissingExtraError, match=r"kg thing needs medkg\[_test\] \(the Python package "
                                                    r"'no_such_module_for_medkg' is not installed\)"):
            require("_test", "kg thing")
    finally:
        del EXTRAS["_test"]
