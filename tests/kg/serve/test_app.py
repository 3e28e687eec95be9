"""The retrieval service as a client meets it: `kg serve` in a subprocess on a free loopback port, real HTTP."""

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(graph, *args, env=None):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kg", "serve", str(graph), "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode())
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the service did not come up")


def call(url, path, body=None, *, headers=None, raw=None, method=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url + path, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def service(sample_build):
    proc, url = start(sample_build)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from kg.sample import write_sample

    d = tmp_path_factory.mktemp("s")
    write_sample(d)
    return d


@pytest.fixture(scope="module")
def frontal(sample):
    return next(sample.rglob("e2253821-*.jpg"))  # a PA view the build kept


@pytest.fixture(scope="module")
def lateral(sample):
    return next(sample.rglob("749af0f7-*.jpg"))  # a lateral view the build left out


def png(w, h) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.arange(w * h) % 255).astype(np.uint8).reshape(h, w)).save(buf, format="PNG")
    return buf.getvalue()


def test_context_for_an_image_of_the_graph(service, sample_build):
    ids = (sample_build / "index" / "ids.txt").read_text().split()
    status, body = call(service, "/v1/context", {"image_id": ids[0], "k": 3, "question": "Is there an effusion?"})
    assert status == 200, body
    r = json.loads(body)
    assert len(r["context"]["neighbours"]) == 3 and ids[0] not in {n["id"] for n in r["context"]["neighbours"]}
    assert r["prompt"].endswith("Is there an effusion?") and r["metadata"]["k"]["k"] == 3
    f = r["context"]["findings"][0]
    assert {"concept", "polarity", "support", "cases", "of", "agreement", "similarities", "citations"} <= f.keys()
    assert "confidence" not in f and r["context"]["abstained"] is None and r["context"]["match"]["best"] > 0
    assert f["citations"][0]["reportId"] and f["citations"][0]["extractor"].startswith("rules/")


def multipart(fields: dict, image: bytes | None = None, name: str = "image") -> tuple[bytes, dict]:
    boundary = "medkgboundary"
    body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                    for k, v in fields.items())
    if image is not None:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"x.jpg\"\r\n"
                 "Content-Type: image/jpeg\r\n\r\n").encode() + image + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_image_by_base64_and_by_upload_agree(service, frontal):
    b64 = base64.b64encode(frontal.read_bytes()).decode()
    s1, b1 = call(service, "/v1/context", {"image_b64": b64, "k": 2, "format": "medmkg", "hops": 2})
    form, headers = multipart({"k": 2, "format": "medmkg", "hops": 2}, frontal.read_bytes())
    s2, b2 = call(service, "/v1/context", raw=form, headers=headers)  # multipart on the same route
    s3, b3 = call(service, "/v1/context/upload", raw=form, headers=headers)
    assert s1 == s2 == s3 == 200, (b1, b2, b3)
    prompts = {json.loads(b)["prompt"] for b in (b1, b2, b3)}
    assert len(prompts) == 1 and prompts.pop().startswith("Triplet 1:")
    assert json.loads(b2)["context"]["query"]["kind"] == "image"


@pytest.mark.parametrize("case", ["content-type", "image-as-text", "bad-field", "no-file"])
def test_bad_forms_get_a_clear_422(service, lateral, case):
    form, headers = {
        "content-type": (b"image_id=x", {"Content-Type": "application/x-www-form-urlencoded"}),
        "image-as-text": multipart({"image": "not a file"}),
        "bad-field": multipart({"k": "many"}, lateral.read_bytes()),
        "no-file": multipart({"k": 2}),
    }[case]
    status, body = call(service, "/v1/context/upload" if case == "no-file" else "/v1/context", raw=form, headers=headers)
    err = json.loads(body)["error"]
    assert status == 422 and err["fix"], (status, err)
    assert {"content-type": "Content-Type", "image-as-text": "image", "no-file": "image"}.get(case, "k") in err["where"]


def test_concepts_images_health_and_metrics(service, sample_build):
    s, b = call(service, "/v1/concepts/C0032227")
    assert s == 200 and json.loads(b)["concept"]["name"] == "Pleural effusion"
    img = (sample_build / "index" / "ids.txt").read_text().split()[0]
    s, b = call(service, f"/v1/images/{img}")
    assert s == 200 and json.loads(b)["image"]["id"] == img and "embedding" not in json.loads(b)["image"]
    s, b = call(service, "/healthz")
    assert s == 200 and json.loads(b)["images"] == 42
    s, b = call(service, "/metrics")
    assert s == 200 and b'medkg_requests_total{route="/v1/context",status="200"}' in b
    assert call(service, "/openapi.json")[0] == 200


@pytest.mark.parametrize("case", ["huge", "not-image", "tiny", "nan", "dim", "unknown-id", "unknown-cui", "big-k",
                                  "malformed", "bad-b64", "path-as-id", "two-inputs"])
def test_hostile_inputs_get_a_clear_4xx(service, sample_build, case):
    dim = json.loads((sample_build / "manifest.json").read_text())["encoder"]["dim"]
    requests = {
        "huge": dict(raw=json.dumps({"image_b64": "A" * (30 * 1024 * 1024)}).encode()),
        "not-image": dict(body={"image_b64": base64.b64encode(b"%PDF-1.4 not an image").decode()}),
        "tiny": dict(body={"image_b64": base64.b64encode(png(1, 1)).decode()}),
        "nan": dict(raw=b'{"embedding": [NaN' + b", 0.1" * (dim - 1) + b"]}"),
        "dim": dict(body={"embedding": [0.1] * 7}),
        "unknown-id": dict(body={"image_id": "no-such-image"}),
        "unknown-cui": dict(path="/v1/concepts/C0000000"),
        "big-k": dict(body={"image_id": "x", "k": 10**9}),
        "malformed": dict(raw=b'{"image_id": '),
        "bad-b64": dict(body={"image_b64": "***"}),
        "path-as-id": dict(body={"image_id": "/etc/passwd"}),
        "two-inputs": dict(body={"image_id": "x", "text": "effusion"}),
    }[case]
    path = requests.pop("path", "/v1/context")
    status, body = call(service, path, **requests)
    assert 400 <= status < 500, (status, body)
    err = json.loads(body)["error"]
    assert err["code"].startswith("E") and err["what"] and err["fix"], err
    expected = {"huge": 413, "unknown-id": 404, "unknown-cui": 404, "path-as-id": 404}.get(case, 422)
    assert status == expected, (status, err)


def test_beyond_loopback_it_needs_a_key(sample_build):
    env = {k: v for k, v in os.environ.items() if k != "MEDKG_API_KEY"}
    p = subprocess.run([sys.executable, "-m", "kg", "serve", str(sample_build), "--host", "0.0.0.0", "--port",
                        str(free_port())], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2 and "API key" in p.stderr and "Traceback" not in p.stderr
    proc, url = start(sample_build, "--host", "0.0.0.0", env=env | {"MEDKG_API_KEY": "s3cret"})
    try:
        img = (sample_build / "index" / "ids.txt").read_text().split()[0]
        assert call(url, "/v1/context", {"image_id": img})[0] == 401
        assert call(url, "/v1/context", {"image_id": img}, headers={"X-API-Key": "wrong"})[0] == 401
        assert call(url, "/v1/context", {"image_id": img}, headers={"X-API-Key": "s3cret"})[0] == 200
        assert call(url, "/healthz")[0] == 200  # health checks need no key
    finally:
        proc.terminate()
        proc.wait(10)


def test_several_workers_serve_one_port(sample_build):
    proc, url = start(sample_build, "--workers", "2")
    try:
        img = (sample_build / "index" / "ids.txt").read_text().split()[0]
        bodies = [call(url, "/v1/context", {"image_id": img, "k": 3})[1] for _ in range(6)]
        assert len(set(bodies)) == 1 and json.loads(bodies[0])["metadata"]["k"]["k"] == 3
        assert call(url, "/v1/context", {"image_id": "no-such-image"})[0] == 404
        taken = subprocess.run([sys.executable, "-m", "kg", "serve", str(sample_build), "--workers", "2", "--port",
                                url.rsplit(":", 1)[1]], capture_output=True, text=True, timeout=60)
        assert taken.returncode == 2 and "E156" in taken.stderr and "Traceback" not in taken.stderr, taken.stderr
    finally:
        proc.terminate()
        assert proc.wait(30) is not None
    p = subprocess.run([sys.executable, "-m", "kg", "serve", str(sample_build), "--workers", "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--workers" in p.stderr and "Traceback" not in p.stderr


def test_the_plugin_over_http_gives_the_same_context(service, sample_build, frontal, lateral):
    from kg.rag import KGRAG

    for image in (frontal, lateral):
        local = KGRAG.from_store(sample_build, k=3).augment(image.read_bytes(), "Effusion?")
        remote = KGRAG.from_url(service, k=3).augment(image.read_bytes(), "Effusion?")
        assert remote.prompt == local.prompt and remote.context == local.context
    assert remote.abstained and not local.context.findings  # the lateral view: no similar image in the graph
    from kg.core.errors import NotFound

    with pytest.raises(NotFound, match="no image"):
        KGRAG.from_url(service).context(image_id="no-such-image")


@pytest.mark.parametrize("query", ["noise", "photo", "lateral"])
def test_an_image_unlike_the_graph_gets_an_abstention(service, lateral, query):
    from tests.graph.retrieve.test_ood import noise_png, photo_path

    data = {"noise": noise_png(), "photo": open(photo_path(), "rb").read(), "lateral": lateral.read_bytes()}[query]
    status, body = call(service, "/v1/context", {"image_b64": base64.b64encode(data).decode(), "question": "Effusion?"})
    r = json.loads(body)
    assert status == 200 and r["context"]["findings"] == [] and r["context"]["neighbours"] == []
    assert r["context"]["abstained"].startswith("no similar image in the graph (best cosine")
    assert r["metadata"]["abstained"] == r["context"]["abstained"]
    assert r["prompt"].startswith("The knowledge graph has no context for this query") and "present" not in r["prompt"]
    form, headers = multipart({"ood_percentile": 0}, data)  # the guard turned off on purpose, as a form field
    status, body = call(service, "/v1/context", raw=form, headers=headers)
    assert status == 200 and json.loads(body)["context"]["abstained"] is None


def test_k_auto_needs_a_calibrated_store(service, sample_build):
    img = (sample_build / "index" / "ids.txt").read_text().split()[0]
    status, body = call(service, "/v1/context", {"image_id": img, "k": "auto"})
    assert status == 422 and "kg calibrate" in json.loads(body)["error"]["fix"]


def schemathesis_cases(url: str, cwd, *args: str) -> int:
    """schemathesis over the service's own OpenAPI spec, checking that no response is a 5xx: the number of
    generated cases (every one passed, or the test fails with schemathesis's report)."""
    import re

    pytest.importorskip("schemathesis")
    p = subprocess.run([sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json", "--checks",
                        "not_a_server_error", "--suppress-health-check", "all", *args],
                       capture_output=True, text=True, timeout=600, cwd=cwd)
    tail = (p.stdout + p.stderr)[-3000:]
    assert p.returncode == 0, tail
    m = re.search(r"(\d+) generated, (\d+) passed", tail)
    assert m and m.group(1) == m.group(2), tail
    return int(m.group(1))


def test_schemathesis_finds_no_server_error(service, tmp_path):
    """Property-based requests generated from the service's own OpenAPI spec (schemathesis): none may be a 5xx."""
    assert schemathesis_cases(service, tmp_path, "--max-examples", "60", "--seed", "20261201") > 100


def test_json_with_and_without_a_content_type_answers_the_same(service, sample_build):
    """POST /v1/context with a JSON content type, and without one (taken as JSON): one route, one error path, the
    same bodies, errors included."""
    import http.client
    from urllib.parse import urlsplit

    ids = (sample_build / "index" / "ids.txt").read_text().split()
    u = urlsplit(service)
    bodies = [{"image_id": ids[1], "k": 4, "format": "kg-llava"}, {"image_id": "no-such-image"}, {"k": -1},
              {"embedding": [0.1] * 3}, b'{"image_id": ']
    for body in bodies:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        answers = []
        for headers in ({"Content-Type": "application/json"}, {}):
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            conn.request("POST", "/v1/context", body=raw, headers=headers)
            r = conn.getresponse()
            answers.append((r.status, r.read(), r.getheader("content-type")))
            conn.close()
        assert answers[0] == answers[1], (body, answers)
        assert answers[0][0] in (200, 404, 422)


@pytest.mark.parametrize("body,code,what", [
    ({"image": "aGVsbG8="}, "E1145", "unknown field 'image' (did you mean 'image_b64'?)"),
    ({"imageId": "x"}, "E1145", "unknown field 'imageId' (did you mean 'image_id'?)"),
    ({"image_id": "x", "kk": 3}, "E1145", "unknown field 'kk' (did you mean 'k'?)"),
    ({}, "E1144", "give exactly one of image_id, image_b64 (or a multipart file part 'image'), embedding or text "
                  "(got none)"),
    ({"question": "Effusion?"}, "E1144", None),
])
def test_a_request_names_the_fields_a_client_can_send(service, body, code, what):
    status, raw = call(service, "/v1/context", body)
    err = json.loads(raw)["error"]
    assert status == 422 and err["code"] == code, err
    assert what is None or err["what"] == what, err
    assert "image_b64" in err["what"] + err["fix"]  # the JSON field a client can send, never retrieval's 'image'


def test_a_form_field_it_does_not_know_is_refused(service, frontal):
    form, headers = multipart({"imageId": "x"}, frontal.read_bytes())
    status, raw = call(service, "/v1/context", raw=form, headers=headers)
    err = json.loads(raw)["error"]
    assert status == 422 and err["what"] == "unknown field 'imageId' (did you mean 'image_id'?)", err


def test_k_must_be_at_least_one(service, sample_build):
    img = (sample_build / "index" / "ids.txt").read_text().split()[0]
    status, raw = call(service, "/v1/context", {"image_id": img, "k": 0})
    assert status == 422 and json.loads(raw)["error"]["where"].endswith("k"), raw


@pytest.mark.parametrize("method,path,status,code", [("GET", "/nope", 404, "E218"), ("POST", "/v1/nope", 404, "E218"),
                                                     ("GET", "/v1/context", 405, "E1146"),
                                                     ("DELETE", "/healthz", 405, "E1146")])
def test_every_error_has_the_one_shape(service, method, path, status, code):
    req = urllib.request.Request(service + path, method=method)
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("expected an error")
    except urllib.error.HTTPError as e:
        body, allow = json.loads(e.read()), e.headers.get("Allow")
        assert e.code == status and set(body) == {"error"}, body
        assert body["error"]["code"] == code and body["error"]["what"] and body["error"]["fix"], body
        assert status != 405 or (allow and allow in body["error"]["fix"])


def test_no_answer_names_a_path_on_the_server(service, sample_build, frontal):
    """No route's answer, errors included, holds the store's folder, the image cache, the home folder or the user."""
    import getpass
    from pathlib import Path

    from graph.store import FileStore
    from kg.core.cache import cache_root

    ids = (sample_build / "index" / "ids.txt").read_text().split()
    b64 = base64.b64encode(frontal.read_bytes()).decode()
    answers = [
        call(service, "/v1/context", {"image_id": ids[0], "k": 5, "with_text": True, "format": f})[1]
        for f in ("findings", "json", "kg-llava", "medmkg")]
    answers += [call(service, "/v1/context", body)[1] for body in (
        {"image_b64": b64}, {"text": "Small left pleural effusion."}, {"image_b64": base64.b64encode(png(4, 4)).decode()},
        {"image_id": "/etc/passwd"}, {"image_b64": "***"})]
    answers += [call(service, p)[1] for p in (f"/v1/images/{i}" for i in ids[:10])]
    answers += [call(service, p)[1] for p in ("/v1/concepts/C0032227", "/v1/concepts/nothing", "/healthz", "/metrics",
                                              "/openapi.json", "/docs", "/nope")]
    secrets = {str(sample_build.resolve()), str(cache_root()), str(Path.home()) + "/", f"/home/{getpass.getuser()}"}
    assert str(cache_root()) in json.dumps(FileStore(sample_build).node("Image", ids[0]))  # the store holds one
    for raw in answers:
        text = raw.decode(errors="replace")
        for s in secrets:
            assert s not in text, (s, text[:300])
