"""The README's examples are run as written (paths to the sample graph substituted)."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_states_two_setup_commands_and_ci_uses_the_test_one():
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    cmds = re.findall(r"```bash\n(.*?)```", setup, flags=re.S)
    assert len(cmds) == 2
    assert "kg build --sample" in cmds[0]
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert cmds[1].strip() in ci


def test_python_examples_run(sample_build, tmp_path):
    """Every ```python block, in order, in one namespace; a block the README marks as needing a real model is
    left out (it is named as such right above it)."""
    from kg.sample import write_sample

    write_sample(tmp_path / "my-sample")
    parts = README.split("```python\n")
    codes = [parts[i].split("```", 1)[0] for i in range(1, len(parts)) if "not run by the tests" not in parts[i - 1][-200:]]
    assert len(codes) == 2 and len(parts) == 5  # two run here; two need a real VLM (in process, behind the gateway)
    ns: dict = {}
    for code in codes:
        code = code.replace('"sample-graph"', repr(str(sample_build))).replace('"my-sample/', f'"{tmp_path / "my-sample"}/')
        exec(compile(code, "README", "exec"), ns)
    assert ns["G"].number_of_nodes() > 100
    assert ns["out"].prompt.endswith("Is there a pleural effusion?") and ns["out"].citations
    assert "- Pleural effusion: absent in 3 of 5 similar cases (agreement 0.60, cosine 1.00)" in ns["out"].prompt
    said = ns["rag"].augment(ns["lateral"], "Is there a pleural effusion?")  # what the README says of the lateral view
    assert said.abstained.startswith("no similar image in the graph (best cosine 0.49, the graph's 1st percentile is 0.95")
    assert ns["out"].prompt.startswith("Findings of 5 similar images of the knowledge graph (cosine 1.00 to this image; "
                                       "the best at the 74th percentile of the graph's own best matches):")


def test_the_extras_table_is_the_declared_one():
    """The README's table of extras lists exactly what kg.core.extras declares (and pyproject.toml defines)."""
    import tomllib

    from kg.core.extras import EXTRAS

    section = README.split("## Optional parts (extras)", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9]+)` \| (.*?) \| (.*?) \|$", section, flags=re.M)
    assert [(n, a, b) for n, a, b in rows] == [(e.name, e.pulls, e.size) for e in EXTRAS.values()]
    defined = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert set(EXTRAS) == set(defined["project"]["optional-dependencies"]) - {"all", "test", "bench"}


def test_other_commands_run(sample_build, tmp_path):
    other = README.split("## Other commands", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", other, flags=re.S)
    for line in block.splitlines():
        cmd = line.split("#", 1)[0].strip()
        if not cmd:
            continue
        # run from a folder holding only what the set-up command made: the commands need nothing else
        cmd = cmd.replace("sample-graph", str(sample_build)).replace("my-sample/", str(tmp_path / "s") + "/")
        args = shlex.split(cmd)
        assert args[0] == "kg"
        p = subprocess.run([sys.executable, "-m", "kg", *args[1:]], capture_output=True, text=True, cwd=tmp_path)
        assert p.returncode == 0, (cmd, p.stderr)


def test_readme_commands_need_nothing_outside_a_clone():
    """A newcomer has the clone and what the set-up command made, not ../shared (the developers' data)."""
    for block in blocks("bash"):
        assert "../shared" not in block and "shared/data" not in block, block


def test_extraction_commands_run(tmp_path):
    import json

    from kg.sample import sample_corpus

    section = README.split("## Extraction on its own", 1)[1]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[:1]
    (tmp_path / "labels.json").write_text(json.dumps({"s50000011": {"pneumothorax": "definitely absent"}}))
    gold = Path(__file__).resolve().parents[1] / "fixtures" / "radgraph_gold.json"
    for line in block.splitlines():
        cmd = line.split("#", 1)[0].strip()
        if not cmd:
            continue
        cmd = (cmd.replace("REPORTS", str(sample_corpus())).replace("labels.json", str(tmp_path / "labels.json"))
               .replace("gold.json", str(gold)).replace("extractions.jsonl", str(tmp_path / "x.jsonl"))
               .replace("chexpert.csv", str(tmp_path / "chexpert.csv")))
        args = shlex.split(cmd)
        p = subprocess.run([sys.executable, "-m", "kg", *args[1:]], capture_output=True, text=True)
        assert p.returncode == 0, (cmd, p.stderr)
    assert len((tmp_path / "x.jsonl").read_text().splitlines()) == 42
    assert (tmp_path / "chexpert.csv").read_text().startswith("Reports,No Finding,")


def test_umls_commands_run(tmp_path):
    section = README.split("## Your UMLS release", 1)[1]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[:1]
    meta = Path(__file__).resolve().parents[1] / "fixtures" / "umls" / "META"
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "r1.txt").write_text("FINDINGS: Small pleural effusions. No PTX.")
    for line in block.splitlines():
        cmd = (line.replace("UMLS/2025AA/META", str(meta)).replace("REPORTS", str(reports))
               .replace("umls-index", str(tmp_path / "idx")).replace("--out graph", f"--out {tmp_path / 'g'}"))
        args = shlex.split(cmd)
        p = subprocess.run([sys.executable, "-m", "kg", *args[1:], "-q"], capture_output=True, text=True)
        assert p.returncode == 0, (cmd, p.stderr)
    assert (tmp_path / "g" / "edges" / "Concept_ISA_Concept.parquet").is_file()


def test_gnn_commands_run(tmp_path):
    """The link-prediction block, on a generated graph in MedMKG's columns (the published one is not shipped)."""
    import pytest

    pytest.importorskip("torch_geometric")
    from tests.graph.gnn.conftest import planted_rows, write_medmkg_csv

    rows = planted_rows()[0]
    write_medmkg_csv(tmp_path / "MedMKG.csv", rows)
    images = sorted({h for h, _, _ in rows if h.startswith("I")})
    (tmp_path / "image_mapping.csv").write_text("IID,Image_Path\n" + "".join(f"{i},files/{i}.jpg\n" for i in images))
    section = README.split("## Link prediction", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[:1]
    ran = 0
    for line in block.splitlines():
        cmd = line.split("#", 1)[0].strip()
        if not cmd:
            continue
        cmd = cmd.replace("C0032227", "C0000000").replace("--relation ISA", "--relation rel_0")
        args = shlex.split(cmd)
        p = subprocess.run([sys.executable, "-m", "kg", *args[1:]], capture_output=True, text=True, cwd=tmp_path,
                           timeout=900)
        assert p.returncode == 0, (cmd, p.stderr)
        ran += 1
    assert ran == 6 and (tmp_path / "back.csv").read_text().count("\n") == len(rows) + 1
