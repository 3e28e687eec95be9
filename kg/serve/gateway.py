"""The OpenAI-compatible gateway: ``POST /v1/chat/completions`` with the graph's context injected, forwarded to the
VLM's own server (vLLM, Ollama, llama.cpp, TGI, SGLang, ...), and ``GET /v1/models`` passed through.

A request whose last user message carries an image (an ``image_url`` part with a ``data:`` URL) gets the context for
that image: the same query model as ``/v1/context`` (``k``, ``gamma``, calibrated ``auto``, the leakage and
out-of-distribution guards), rendered in the chosen prompt format and placed in a system message (or before the
question: ``placement: user``). The chat template stays the upstream's job. The answer comes back as the upstream
wrote it — streamed (SSE) when asked — with what medkg did in a ``medkg`` field (the ``openai`` SDK ignores it) and,
for streaming clients, in the ``X-Medkg-Context`` header. Per request, ``extra_body={"medkg": {...}}`` changes the
options or turns the context off (``{"enabled": false}``), so an A/B run needs no second deployment.

Remote ``http(s)`` image URLs are refused unless the gateway was started with ``--allow-remote-images`` (it must not
be a way to reach other hosts). Upstream failures come back as errors with a code (502 for a refusal or garbage,
504 for a timeout), never a hang; the upstream's key is sent only to the upstream and never logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from graph.retrieve import Context, ContextQuery, QueryOptions, Retriever
from graph.retrieve.query import invalid
from kg.core.errors import InvalidInput, TooLarge, Unavailable
from kg.rag.prompt import PromptOptions, render

log = logging.getLogger("medkg.gateway")
HEADER = "X-Medkg-Context"
REMOTE_IMAGE_LIMIT_S = 10.0
INLINE_BYTES = 1 << 20  # images up to this size are embedded on the event loop when the encoder is cheap


class BadGateway(Unavailable):
    """The upstream refused the connection or answered something that is not the OpenAI wire format (502)."""

    http_status = 502


class GatewayTimeout(Unavailable):
    """The upstream did not answer within the gateway's timeout (504)."""

    http_status = 504


class GatewayOptions(QueryOptions, PromptOptions):
    """``extra_body={"medkg": {...}}``: the query and prompt options (declared once), and the gateway's own."""

    enabled: bool = Field(True, description="False: forward the request as it is, without context.")
    placement: Literal["system", "user"] = Field("system", description=(
        "system: the context as a system message before the conversation; user: as a text part before the "
        "question in the message that carries the image."))


@dataclass(frozen=True)
class Upstream:
    """The OpenAI-compatible server the gateway forwards to: its base URL (``http://host:8000/v1``) and key."""

    url: str
    key: str | None = None
    timeout_s: float = 120.0
    allow_remote_images: bool = False

    @property
    def base(self) -> str:
        return self.url.rstrip("/")


@dataclass(frozen=True)
class ImagePart:
    message: int  # index of the message
    part: int  # index of the image_url part in its content
    url: str
    question: str  # the message's text parts


def find_image(messages: list[Any]) -> ImagePart | None:
    """The image of the last user message that has one (the turn being asked about), or None."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if not isinstance(m, dict) or m.get("role") != "user" or not isinstance(m.get("content"), list):
            continue
        parts = m["content"]
        for j, p in enumerate(parts):
            if isinstance(p, dict) and p.get("type") == "image_url":
                url = p.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if not isinstance(url, str):
                    raise InvalidInput(f"messages[{i}].content[{j}].image_url has no url", code="E1153",
                                       where=f"messages[{i}]", fix='send {"type": "image_url", "image_url": {"url": '
                                                                   '"data:image/png;base64,..."}}')
                question = " ".join(str(q.get("text", "")) for q in parts
                                    if isinstance(q, dict) and q.get("type") == "text").strip()
                return ImagePart(i, j, url, question)
    return None


def decode_data_url(url: str, max_bytes: int, where: str) -> bytes:
    """The bytes of a ``data:[type];base64,...`` URL."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise InvalidInput("the image URL is not a base64 data: URL", code="E1154", where=where,
                           fix="send the image as data:image/png;base64,<the file base64-encoded>")
    if len(payload) > max_bytes * 4 // 3 + 4:
        raise TooLarge(f"image of more than {max_bytes:,} bytes", code="E1155", where=where,
                       fix=f"send images of at most {max_bytes:,} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the image's data: URL is not valid base64", code="E1156", where=where,
                           fix="base64-encode the image file") from None


def inject(messages: list[Any], prompt: str, placement: str, image: ImagePart) -> list[Any]:
    """The messages with the context placed in them (a copy: the caller's list is left as it was)."""
    out = list(messages)
    if placement == "system":
        first = next((n for n, m in enumerate(out) if not (isinstance(m, dict) and m.get("role") == "system")), len(out))
        out.insert(first, {"role": "system", "content": prompt})  # after the caller's own system messages
        return out
    m = dict(out[image.message])
    m["content"] = [{"type": "text", "text": prompt}, *m["content"]]
    out[image.message] = m
    return out


def summary(ctx: Context, opts: GatewayOptions) -> dict[str, Any]:
    """What the ``medkg`` field reports: the context's k and guarantee, why it abstained, and each finding with its
    citations (the neighbours' reports and images)."""
    return {
        "context": "abstained" if ctx.abstained else "injected",
        "format": opts.format,
        "placement": opts.placement,
        "k": ctx.k.as_json(),
        "abstained": ctx.abstained,
        "neighbours": [{"image_id": h.id, "score": round(h.score, 4)} for h in ctx.neighbours],
        "findings": [{"concept": f.concept.name, "cui": f.concept.cui, "polarity": f.polarity.value,
                      "cases": f.cases, "of": f.of, "agreement": f.agreement,
                      "citations": [c.model_dump(mode="json", exclude_none=True) for c in f.citations]}
                     for f in ctx.findings],
    }


def header_value(info: dict[str, Any]) -> str:
    """The ``medkg`` field in brief, for a response header (ASCII JSON; citations counted, not listed)."""
    brief = {k: v for k, v in info.items() if k not in ("findings", "neighbours")}
    if "findings" in info:
        brief["findings"] = len(info["findings"])
        brief["citations"] = sum(len(f["citations"]) for f in info["findings"])
    return json.dumps(brief, separators=(",", ":"), ensure_ascii=True)


class Gateway:
    """The two routes' work: read the chat request, add the context, forward, answer."""

    def __init__(self, retriever: Retriever, upstream: Upstream, *, max_upload: int):
        import httpx

        self.retriever, self.upstream, self.max_upload = retriever, upstream, max_upload
        headers = {"Authorization": f"Bearer {upstream.key}"} if upstream.key else {}
        self.client = httpx.AsyncClient(base_url=upstream.base, headers=headers,
                                        timeout=httpx.Timeout(upstream.timeout_s, connect=min(10.0, upstream.timeout_s)))

    def _inline(self) -> bool:
        """Whether an image query costs about a millisecond: a file store (in memory) whose encoder, loaded by an
        earlier query, has no model (``pixels``); then a small image is answered on the event loop."""
        store = self.retriever.store
        encoder = store.files.encoder_loaded()
        return store is store.files and encoder is not None and not encoder.uses_torch

    async def models(self) -> Response:
        r = await self._send("GET", "/models")
        return self._passthrough(r, {"context": "none: not a chat request"})

    async def chat(self, request: Request) -> Response:
        body = self._read(await request.body())
        raw = body.pop("medkg", None)
        try:
            opts = GatewayOptions.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            raise invalid(exc, GatewayOptions) from None
        image = find_image(body["messages"])
        if not opts.enabled:
            info: dict[str, Any] = {"context": "none: turned off by the request (medkg.enabled false)"}
        elif image is None:
            info = {"context": "none: no image in the messages (the request was forwarded as it is)"}
        else:
            data = await self._image_bytes(image)
            query = ContextQuery.of(opts.options(), image=data)
            if self._inline() and len(data) <= INLINE_BYTES:  # about a millisecond: no thread hop (1.5 ms, measured)
                ctx = self.retriever.context(query)
            else:  # a large image, a model encoder, or the first image (the encoder loads): off the event loop
                ctx = await run_in_threadpool(self.retriever.context, query)
            prompt = render(ctx, format=opts.format, max_tokens=opts.max_tokens)
            body["messages"] = inject(body["messages"], prompt, opts.placement, image)
            info = summary(ctx, opts)
        if body.get("stream"):
            return await self._stream(body, info)
        r = await self._send("POST", "/chat/completions", json=body)
        return self._passthrough(r, info)

    def _read(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            raise InvalidInput("the request body is not JSON", code="E1157", where="body",
                               fix="send an OpenAI chat completion request (application/json)") from None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            raise InvalidInput("the request has no messages list", code="E1158", where="messages",
                               fix='send {"model": ..., "messages": [{"role": "user", "content": [...]}]}')
        return body

    async def _image_bytes(self, image: ImagePart) -> bytes:
        where = f"messages[{image.message}].content[{image.part}]"
        if image.url.startswith("data:"):
            return decode_data_url(image.url, self.max_upload, where)
        if image.url.startswith(("http://", "https://")):
            if not self.upstream.allow_remote_images:
                raise InvalidInput("remote image URLs are refused by this gateway", code="E1159", where=where,
                                   fix="send the image as a data: URL, or start kg serve with --allow-remote-images")
            return await self._fetch(image.url, where)
        raise InvalidInput(f"unsupported image URL scheme in {image.url[:20]!r}", code="E1160", where=where,
                           fix="send the image as a data: URL")

    async def _fetch(self, url: str, where: str) -> bytes:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=REMOTE_IMAGE_LIMIT_S, follow_redirects=False) as c, \
                    c.stream("GET", url) as r:
                if r.status_code != 200:
                    raise InvalidInput(f"the image URL answered HTTP {r.status_code}", code="E1161", where=where,
                                       fix="check the URL, or send the image as a data: URL")
                data = bytearray()
                async for chunk in r.aiter_bytes():
                    data += chunk
                    if len(data) > self.max_upload:
                        raise TooLarge(f"image of more than {self.max_upload:,} bytes", code="E1162", where=where,
                                       fix=f"send images of at most {self.max_upload:,} bytes")
                return bytes(data)
        except httpx.HTTPError as exc:
            raise InvalidInput(f"cannot fetch the image URL: {type(exc).__name__}", code="E1163", where=where,
                               fix="check the URL, or send the image as a data: URL") from None

    async def _send(self, method: str, path: str, *, stream: bool = False, **kwargs: Any) -> Any:
        """The upstream's response (``stream``: its headers, the body left to read); no answer is an error with a
        code: a timeout 504, a refused or broken connection 502."""
        import httpx

        try:
            return await self.client.send(self.client.build_request(method, path, **kwargs), stream=stream)
        except httpx.TimeoutException:
            raise GatewayTimeout(f"the upstream {self.upstream.base} did not answer within "
                                 f"{self.upstream.timeout_s:g} s", code="E4102", where="upstream",
                                 fix="check the VLM server, or raise --upstream-timeout") from None
        except httpx.HTTPError as exc:
            raise BadGateway(f"cannot reach the upstream {self.upstream.base}: {type(exc).__name__}", code="E4103",
                             where="upstream", fix="start the VLM server, or correct --upstream") from None

    def _passthrough(self, r: Any, info: dict[str, Any]) -> Response:
        """The upstream's answer with the ``medkg`` field added; its own errors pass through with their status."""
        try:
            payload = r.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise BadGateway(f"the upstream answered HTTP {r.status_code} with a body that is not a JSON object",
                             code="E4104", where="upstream", fix="check that --upstream is an OpenAI-compatible /v1 URL")
        payload["medkg"] = info
        return JSONResponse(payload, status_code=r.status_code, headers={HEADER: header_value(info)})

    async def _stream(self, body: dict[str, Any], info: dict[str, Any]) -> Response:
        import httpx

        r = await self._send("POST", "/chat/completions", json=body, stream=True)
        if r.status_code != 200 or not r.headers.get("content-type", "").startswith("text/event-stream"):
            await r.aread()
            await r.aclose()
            return self._passthrough(r, info)

        async def events() -> AsyncIterator[bytes]:
            try:
                async for chunk in r.aiter_raw():
                    yield chunk
            except httpx.HTTPError as exc:  # the upstream broke off mid-answer: say so in the stream's own format
                log.warning("upstream stream broke off: %s", type(exc).__name__)
                err = {"error": {"message": "the upstream broke off the answer", "type": "unavailable",
                                 "code": "E4107", "param": "upstream"}}
                yield f"data: {json.dumps(err)}\n\n".encode()
            finally:
                await r.aclose()

        return StreamingResponse(events(), status_code=200, media_type="text/event-stream",
                                 headers={HEADER: header_value(info), "Cache-Control": "no-cache"})

    async def close(self) -> None:
        await self.client.aclose()
