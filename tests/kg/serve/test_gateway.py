"""The OpenAI-compatible gateway end to end: the real ``openai`` SDK as the client, ``kg serve --upstream`` as a real
HTTP server, and a real upstream process serving a tiny LLaVA-style model (tests/kg/serve/upstream.py) in OpenAI's
wire format; plain and streaming, with and without context, and the faults."""

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")
pytest.importorskip("transformers")

from tests.kg.rag.test_vlm import tiny_vlm  # noqa: E402
from tests.kg.serve.test_app import (  # noqa: E402, F401  (frontal and sample: fixtures)
    free_port,
    frontal,
    sample,
    schemathesis_cases,
    start,
)

UPSTREAM = Path(__file__).with_name("upstream.py")
QUESTION = "Is there a pleural effusion?"


def _wait(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} stopped: {proc.stderr.read().decode()}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"{what} did not come up")


@pytest.fixture(scope="module")
def frontal_url(frontal):  # noqa: F811  (the fixture of test_app)
    return "data:image/jpeg;base64," + base64.b64encode(frontal.read_bytes()).decode()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory, sample_build):
    """The VLM server: a tiny model whose vocabulary covers the words of the context prompts."""
    from kg.rag import FORMATS, KGRAG

    folder = tmp_path_factory.mktemp("vlm")
    rag = KGRAG.from_store(sample_build, k=5)
    words = set()
    for image_id in (sample_build / "index" / "ids.txt").read_text().split()[:10]:
        for fmt in FORMATS:
            words |= set(re.findall(r"\w+|[^\w\s]+", rag.augment(image_id=image_id, format=fmt).prompt))
    words |= set(re.findall(r"\w+|[^\w\s]+", QUESTION + " The knowledge graph has no context")) | {"USER", "ASSISTANT",
                                                                                                   "SYSTEM", ":"}
    tiny_vlm(folder, sorted(words))
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(UPSTREAM), str(folder), str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    _wait(url + "/v1/models", proc, "the upstream")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def gateway(sample_build, upstream):
    proc, url = start(sample_build, "--upstream", upstream + "/v1")
    yield url
    proc.terminate()
    proc.wait(10)


def last_request(upstream) -> dict:
    return json.loads(urllib.request.urlopen(upstream + "/last", timeout=5).read())


def ask(frontal_url, question=QUESTION):
    return [{"role": "user", "content": [{"type": "text", "text": question},
                                         {"type": "image_url", "image_url": {"url": frontal_url}}]}]


def test_the_sdk_gets_the_upstreams_answer_with_the_context_injected(gateway, upstream, frontal_url):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused")
    r = client.chat.completions.create(model="tiny-llava", messages=ask(frontal_url), max_tokens=4)
    assert isinstance(r.choices[0].message.content, str) and r.choices[0].message.content
    medkg = r.model_extra["medkg"]
    assert medkg["context"] == "injected" and medkg["k"]["k"] >= 1 and medkg["findings"]
    assert all(f["citations"] and f["citations"][0]["report_id"] for f in medkg["findings"])
    sent = last_request(upstream)["messages"]
    assert sent[0]["role"] == "system" and "similar image" in sent[0]["content"]  # the rendered findings
    assert sent[1]["content"][1]["image_url"]["url"] == frontal_url  # the image goes on to the VLM
    assert "medkg" not in last_request(upstream)  # medkg's own options are not forwarded
    assert last_request(upstream)["_authorization"] is None  # no --upstream-key-env: no key sent


def test_context_can_be_turned_off_or_moved_per_request(gateway, upstream, frontal_url):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused")
    r = client.chat.completions.create(model="tiny-llava", messages=ask(frontal_url), max_tokens=2,
                                       extra_body={"medkg": {"enabled": False}})
    assert r.model_extra["medkg"]["context"].startswith("none: turned off")
    assert [m["role"] for m in last_request(upstream)["messages"]] == ["user"]
    r = client.chat.completions.create(model="tiny-llava", messages=ask(frontal_url), max_tokens=2,
                                       extra_body={"medkg": {"placement": "user", "k": 3, "format": "kg-llava"}})
    sent = last_request(upstream)["messages"]
    assert [m["role"] for m in sent] == ["user"] and sent[0]["content"][0]["text"].startswith(
        "The image-specific triplets from the knowledge graph are")
    assert r.model_extra["medkg"]["k"]["k"] <= 3 and r.model_extra["medkg"]["format"] == "kg-llava"


def test_streaming_passes_the_upstreams_events_through(gateway, upstream, frontal_url):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused")
    with client.chat.completions.with_streaming_response.create(
            model="tiny-llava", messages=ask(frontal_url), max_tokens=4, stream=True) as response:
        header = json.loads(response.headers["x-medkg-context"])
        chunks = list(response.parse())
    assert header["context"] == "injected" and header["findings"] >= 1 and header["citations"] >= 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].choices[0].finish_reason == "length"
    assert last_request(upstream)["messages"][0]["role"] == "system"


def test_a_request_without_an_image_and_the_models_pass_through(gateway, upstream):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused")
    r = client.chat.completions.create(model="tiny-llava", messages=[{"role": "user", "content": QUESTION}],
                                       max_tokens=2)
    assert r.model_extra["medkg"]["context"].startswith("none: no image")
    assert last_request(upstream)["messages"] == [{"role": "user", "content": QUESTION}]
    assert [m.id for m in client.models.list()] == ["tiny-llava"]


def test_bad_requests_get_openai_style_errors_with_a_code(gateway, upstream, frontal_url):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0)
    remote = ask("https://example.org/chest.png")
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.chat.completions.create(model="tiny-llava", messages=remote)
    assert e.value.body["code"] == "E1159" and "--allow-remote-images" in e.value.body["fix"]
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.chat.completions.create(model="tiny-llava", messages=ask("data:image/png;base64,bm90IGFuIGltYWdl"))
    assert e.value.body["message"] and e.value.body["code"].startswith("E")  # not an image: named, no 5xx
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.chat.completions.create(model="tiny-llava", messages=ask(frontal_url), extra_body={"medkg": {"k": 0}})
    assert e.value.body["param"] == "k"
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.chat.completions.create(model="tiny-llava", messages=ask(frontal_url),
                                       extra_body={"medkg": {"kk": 3}})
    assert "did you mean 'k'" in e.value.body["message"]
    with pytest.raises(openai.NotFoundError) as e:  # the upstream's own error, passed through with its status
        client.chat.completions.create(model="no-such-model", messages=ask(frontal_url), max_tokens=2)
    assert "does not exist" in e.value.body["message"]


def test_an_upstream_that_is_down_is_a_502_with_a_code(sample_build):
    proc, url = start(sample_build, "--upstream", f"http://127.0.0.1:{free_port()}/v1")
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as e:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert e.value.status_code == 502 and e.value.body["code"] == "E4103"
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_api_key_rules_apply_and_the_sdk_key_is_accepted(sample_build, upstream):
    env = os.environ | {"MEDKG_API_KEY": "s3cret"}
    proc, url = start(sample_build, "--upstream", upstream + "/v1", env=env)
    try:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
        assert [m.id for m in openai.OpenAI(base_url=url + "/v1", api_key="s3cret").models.list()] == ["tiny-llava"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert "s3cret" not in proc.stderr.read().decode()


def test_gateway_options_without_an_upstream_are_refused(sample_build):
    p = subprocess.run([sys.executable, "-m", "kg", "serve", str(sample_build), "--allow-remote-images"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "E1164" in p.stderr and "Traceback" not in p.stderr


def test_schemathesis_finds_no_server_error_in_the_gateway(gateway, tmp_path):
    """Property-based chat requests from the gateway's own OpenAPI schema, forwarded to the real upstream: none may
    be a 5xx from medkg (an upstream's answer passes through with its own status)."""
    assert schemathesis_cases(gateway, tmp_path, "--include-path-regex", "^/v1/(chat/completions|models)$",
                              "--max-examples", "40", "--seed", "20261208") >= 20

def test_a_slow_upstream_is_a_504_and_garbage_a_502(sample_build, tmp_path):
    import http.server
    import threading

    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"hello, not json")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    slow_port = free_port()
    slow = subprocess.Popen([sys.executable, str(UPSTREAM), "--echo", str(slow_port), "--slow", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(f"http://127.0.0.1:{slow_port}/v1/models", slow, "the slow upstream")
        message = [{"role": "user", "content": "hi"}]
        proc, url = start(sample_build, "--upstream", f"http://127.0.0.1:{server.server_port}/v1")
        try:
            with pytest.raises(openai.APIStatusError) as e:
                openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0).chat.completions.create(
                    model="m", messages=message)
            assert e.value.status_code == 502 and e.value.body["code"] == "E4104"
        finally:
            proc.terminate()
            proc.wait(10)
        proc, url = start(sample_build, "--upstream", f"http://127.0.0.1:{slow_port}/v1", "--upstream-timeout", "1")
        try:
            t0 = time.monotonic()
            with pytest.raises(openai.APIStatusError) as e:
                openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0).chat.completions.create(
                    model="tiny-llava", messages=message)
            assert e.value.status_code == 504 and e.value.body["code"] == "E4102" and time.monotonic() - t0 < 4
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        server.shutdown()
        slow.terminate()
        slow.wait(10)


def test_the_upstream_key_goes_to_the_upstream_only(sample_build, upstream, frontal_url):
    env = os.environ | {"VLM_KEY": "upstream-s3cret"}
    proc, url = start(sample_build, "--upstream", upstream + "/v1", "--upstream-key-env", "VLM_KEY", env=env)
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)
        client.chat.completions.create(model="tiny-llava", messages=ask(frontal_url), max_tokens=1)
        assert last_request(upstream)["_authorization"] == "Bearer upstream-s3cret"  # not the client's key
        with pytest.raises(openai.APIStatusError) as e:  # an oversized image: 413, before anything is forwarded
            client.chat.completions.create(model="tiny-llava", messages=ask("data:image/png;base64," + "A" * 28_000_000))
        assert e.value.status_code == 413 and e.value.body["code"] == "E1155"
    finally:
        proc.terminate()
        proc.wait(10)
    assert "upstream-s3cret" not in proc.stderr.read().decode() + proc.stdout.read().decode()
    p = subprocess.run([sys.executable, "-m", "kg", "serve", str(sample_build), "--upstream", upstream + "/v1",
                        "--upstream-key-env", "NO_SUCH_VARIABLE_SET"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "E1166" in p.stderr
