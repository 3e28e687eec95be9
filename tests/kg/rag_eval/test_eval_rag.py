"""`kg eval rag` end to end on the sample: the baselines, a VLM behind a real OpenAI-compatible upstream process
(the tiny LLaVA-style model the gateway's tests serve) with the answer cache, a local model folder, bad input."""

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.kg.serve.test_gateway import upstream  # noqa: F401  (the fixture: a real upstream process)


def kg(*args, ok=True):
    p = subprocess.run([sys.executable, "-m", "kg", *map(str, args)], capture_output=True, text=True, timeout=600)
    assert (p.returncode == 0) == ok, p.stderr
    return p


def test_the_retrieval_only_baseline_scores_each_setting_with_intervals(sample_build):
    out = json.loads(kg("eval", "rag", sample_build, "--model", "retrieval-only", "--split", "all",
                        "--contexts", "none,fixed:7", "--json").stdout)
    assert out["cases"] == 42 and out["model"] == "retrieval-only" and set(out["settings"]) == {"none", "fixed:7"}
    none, fixed = out["settings"]["none"], out["settings"]["fixed:7"]
    assert fixed["micro"]["f1"] > none["micro"]["f1"]  # the neighbours' findings say more than nothing
    (d,) = out["differences"]
    assert d["from"] == "none" and d["to"] == "fixed:7" and d["ci95"][0] <= d["difference"] <= d["ci95"][1]
    assert abs(d["difference"] - (fixed["micro"]["f1"] - none["micro"]["f1"])) < 2e-4  # unrounded F1s differenced
    p = kg("eval", "rag", sample_build, "--model", "prior", "--split", "all", "--task", "vqa", "-q")
    assert "prior on 42 images of all (vqa)" in p.stdout and "McNemar" in p.stdout
    assert "auto was left out: the graph is not calibrated" in p.stdout  # the default settings, on this graph


def test_a_vlm_behind_an_openai_endpoint_is_asked_once_per_answer(sample_build, upstream, tmp_path):  # noqa: F811
    calls = lambda: json.loads(urllib.request.urlopen(upstream + "/calls", timeout=5).read())["calls"]  # noqa: E731
    cache = tmp_path / "answers.jsonl"
    args = ["eval", "rag", sample_build, "--model", f"openai:{upstream}/v1@tiny-llava", "--split", "all",
            "--limit", "6", "--task", "vqa", "--contexts", "none,fixed:3,fixed:3/kg-llava", "--max-tokens", "2",
            "--cache", cache,
            "--concurrency", "3",
            "--json"]
    before = calls()
    first = json.loads(kg(*args).stdout)
    asked = calls() - before
    n = sum(s["items"] for s in first["settings"].values())
    assert asked == n == len(cache.read_text().splitlines()) and n > 0
    assert first["model"] == f"openai:{upstream}/v1@tiny-llava"
    assert "retrieval-only baseline" in first["note"] and "auto" not in first["settings"]
    assert set(first["baseline"]) == {"none", "fixed:3", "fixed:3/kg-llava"}  # a format compared in the same run
    again = json.loads(kg(*args).stdout)  # resumed: every answer from the cache
    same = lambda r: {k: {m: v for m, v in s.items() if m not in ("seconds", "tokens")}  # noqa: E731
                      for k, s in r["settings"].items()}
    assert calls() - before == asked and same(again) == same(first)
    assert all(s["tokens"]["prompt"] > 0 and s["tokens"]["completion"] > 0 for s in first["settings"].values())
    assert all(s["tokens"] == {"prompt": 0, "completion": 0} for s in again["settings"].values())  # cached: free
    cache.write_text("".join(cache.read_text().splitlines(keepends=True)[:-1]) + '{"key": ["cut')  # a killed run
    kg(*args)
    assert calls() - before == asked + 1  # only the answer that was lost is asked again


def test_a_local_model_folder_writes_reports(sample_build, tmp_path):
    pytest.importorskip("transformers")
    from tests.kg.rag.test_vlm import tiny_vlm

    tiny_vlm(tmp_path / "vlm", ["no", "acute", "effusion", "pleural", "USER", "ASSISTANT", ":", "."])
    out = json.loads(kg("eval", "rag", sample_build, "--model", tmp_path / "vlm", "--split", "all", "--limit", "2",
                        "--contexts", "none,fixed:3", "--max-tokens", "3", "--cache", tmp_path / "c.jsonl",
                        "--json").stdout)
    assert out["model"] == f"transformers:{tmp_path / 'vlm'}" and out["cases"] == 2
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize("args,code", [
    (["--model", "retrieval-only", "--split", "nope"], "E1167"),
    (["--model", "retrieval-only", "--contexts", "fixed:0"], "E1170"),
    (["--model", "retrieval-only", "--contexts", "auto"], "E1178"),
    (["--model", "gpt-7"], "E1175"),
    (["--model", "openai:localhost@x"], "E1174"),
    (["--model", "retrieval-only", "--task", "summary"], "E1177"),
])
def test_bad_input_is_named(sample_build, args, code):
    p = kg("eval", "rag", sample_build, "--split", "all", *args, ok=False)
    assert p.returncode == 2 and code in p.stderr and "Traceback" not in p.stderr


def test_a_build_without_report_text_is_refused(tmp_path):
    from kg.sample import sample_corpus

    kg("build", sample_corpus(), "--format", "mimic", "--out", tmp_path / "g", "--no-text", "--quiet")
    p = kg("eval", "rag", tmp_path / "g", "--model", "retrieval-only", "--split", "all", ok=False)
    assert "E1168" in p.stderr and "without --no-text" in p.stderr


def test_the_baseline_on_every_core_scores_as_in_one_process(sample_build):
    from kg.rag_eval import EvalRun, evaluate

    for task in ("report", "vqa"):
        one = evaluate(EvalRun(sample_build, "retrieval-only", split="all", task=task, contexts="none,fixed:5"))
        many = evaluate(EvalRun(sample_build, "retrieval-only", split="all", task=task, contexts="none,fixed:5",
                                parallel_from=10))
        drop = lambda r: {k: {m: v for m, v in s.items() if m != "seconds"} for k, s in r["settings"].items()}  # noqa: E731
        assert drop(one) == drop(many) and one["differences"] == many["differences"]
