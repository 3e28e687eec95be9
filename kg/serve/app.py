"""The retrieval service (FastAPI): cited knowledge-graph context for a VLM over HTTP.

``POST /v1/context`` (JSON: ``image_id`` | ``image_b64`` | ``embedding`` | ``text``, ``question``, ``k``, ``hops``,
``format``, ...), ``POST /v1/context/upload`` (multipart: the image file and the same fields),
``GET /v1/concepts/{cui}``, ``GET /v1/images/{id}``, ``GET /healthz``, ``GET /metrics`` (Prometheus); OpenAPI at
``/docs``. medkg's error categories become statuses (invalid input 422, not found 404, conflict 409, unavailable
503, too large 413) with a JSON body ``{"error": {code, category, what, where, fix}}``. With an API key set, every
``/v1`` request needs it in ``X-API-Key``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hmac
import logging
import re
import time
from typing import Annotated, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from graph.retrieve import Context, Guard, find_concept, neighbourhood, retrieve_context
from graph.retrieve.context import MAX_K
from graph.retrieve.ood import DEFAULT_PERCENTILE
from graph.store import FileStore
from kg import __version__
from kg.core.errors import InvalidInput, KGError, MethodNotAllowed, NotFound, TooLarge
from kg.rag.prompt import render

MAX_UPLOAD = 20 * 1024 * 1024  # bytes of an image (upload or base64-decoded)
HARD_LIMIT = 256 * 1024 * 1024  # request bodies above this are refused without being read


class ContextRequest(BaseModel):
    """Exactly one query input (``image_id``, ``image_b64``, ``embedding`` or ``text``; in a multipart form the image
    file as ``image`` instead of ``image_b64``) and the options; a field it does not know is refused."""

    model_config = ConfigDict(extra="forbid")

    image_id: str | None = Field(None, description="An image of the graph.")
    image_b64: str | None = Field(None, description="An image file (JPEG, PNG, DICOM), base64.")
    embedding: list[float] | None = Field(None, description="A vector from the build's encoder.")
    text: str | None = Field(None, description="A question or draft report (text-only query).")
    question: str | None = Field(None, max_length=4000, description="Appended to the rendered prompt.")
    k: Annotated[int, Field(ge=1, le=MAX_K)] | Literal["auto"] = Field(
        8, description="Neighbours (before ratio truncation and the similarity floor), or 'auto': the k that "
                       "`kg calibrate` chose, with its guarantee in the response's metadata.")
    gamma: float | None = Field(None, gt=1.0, description="MMed-RAG ratio truncation: keep j while s1/sj < gamma.")
    min_similarity: float | None = Field(None, ge=-1.0, le=1.0, description=(
        "Leave out neighbours below this cosine similarity; abstain when the best match is below it."))
    ood_percentile: float = Field(DEFAULT_PERCENTILE, ge=0.0, le=50.0, description=(
        "The out-of-distribution guard: abstain (no findings, `context.abstained` says why) when the best match is "
        "below this percentile of the graph's own images' best matches; 0 turns it off."))
    hops: int = Field(1, ge=0, le=3)
    max_triplets: int = Field(20, ge=0, le=500)
    exclude: Literal["patient", "study", "none"] = Field(
        "patient", description="Leave out the query's own patient's or study's images when the query is an image of "
                               "the graph (by id, or a file or vector at cosine >= 0.9999 to it); none: no guard.")
    with_text: bool = False
    format: Literal["findings", "kg-llava", "medmkg", "json"] = "findings"
    max_tokens: int | None = Field(None, ge=1, le=100_000)


_FORM_SCHEMA = {  # multipart: the image file, and any JSON field as a form field
    "type": "object",
    "properties": {"image": {"type": "string", "format": "binary", "description": "An image file (JPEG, PNG, DICOM)."},
                   **{k: v for k, v in ContextRequest.model_json_schema()["properties"].items()
                      if k not in ("image_b64", "embedding")}},
}


class ContextResponse(BaseModel):
    context: Context
    prompt: str
    format: str
    metadata: dict


class _Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("medkg_requests_total", "Requests by route and status", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("medkg_request_seconds", "Request latency by route", ["route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


def _error(status: int, e: dict) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": e})


QUERY_INPUTS = ("image_id", "image_b64", "embedding", "text")
_MEANS_THE_IMAGE = ("image", "file", "img", "image_file", "picture", "image_bytes")


def closest_field(name: str) -> str | None:
    """The request field a client most likely meant: ``imageId`` -> ``image_id``, ``image`` -> ``image_b64``."""
    fields = list(ContextRequest.model_fields)
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("-", "_")
    if snake in fields:
        return snake
    if snake in _MEANS_THE_IMAGE:
        return "image_b64"
    near = difflib.get_close_matches(snake, fields, n=1, cutoff=0.6)
    return near[0] if near else None


def _invalid_response(exc: RequestValidationError | ValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    # the field's path, without pydantic's names for the branches of a union ('constrained-int', "literal['auto']")
    loc = [str(x) for x in first.get("loc", ()) if isinstance(x, int) or x == "body" or x in ContextRequest.model_fields
           or first.get("type") == "extra_forbidden"]
    where = ".".join(loc)
    if first.get("type") == "extra_forbidden":
        name = loc[-1] if loc else ""
        near = closest_field(name)
        e = InvalidInput(f"unknown field {name!r}" + (f" (did you mean {near!r}?)" if near else ""), code="E1145",
                         where=where, fix="send only the request's fields: " + ", ".join(ContextRequest.model_fields)
                         + " (see /docs)")
    else:
        field = next((x for x in reversed(loc) if x in ContextRequest.model_fields), None)
        what = str(first.get("msg", "invalid request"))
        e = InvalidInput(f"{field}: {what}" if field else what, code="E185", where=where,
                         fix="see the request schema at /docs")
    return _error(e.http_status, e.as_dict())


def one_input(req: ContextRequest, *, file: bool) -> None:
    """Exactly one query input, named as the client sends it (a multipart form sends the image as a file)."""
    given = [n for n in QUERY_INPUTS if getattr(req, n) is not None] + (["image (a file part)"] if file else [])
    if len(given) != 1:
        raise InvalidInput("give exactly one of image_id, image_b64 (or a multipart file part 'image'), embedding or "
                           f"text (got {', '.join(given) or 'none'})", code="E1144", where="body",
                           fix="send one query input; a question goes with it as 'question'")


def _route(path: str) -> str:
    """The metrics label: ids folded so the label set stays bounded."""
    return path.rsplit("/", 1)[0] + "/{id}" if path.startswith(("/v1/concepts/", "/v1/images/")) else path


class _Guard:
    """ASGI middleware: the API key, the unread-body size limit, JSON for any unexpected error (never a
    traceback), and the Prometheus counters. Plain ASGI, not ``@app.middleware``, which runs every request through
    a second task and stream (measured with wrk, one worker: GET /healthz 1,560 -> 2,630 requests/s).

    ``fast``: an ASGI handler for ``POST /v1/context`` with a JSON body, the hot path, called here rather than
    through the framework's router and exception middlewares; the route stays declared on the app (the OpenAPI
    document, multipart bodies) and answers the same (measured with wrk, two workers: 1,450 -> 1,570 requests/s)."""

    def __init__(self, app, *, api_key: str | None, metrics: _Metrics, max_upload: int, fast=None):
        self.app, self.key, self.metrics, self.max_upload = app, api_key.encode() if api_key else None, metrics, max_upload
        self.fast = fast

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, t0, status = scope["path"], time.perf_counter(), [0]
        route = _route(path)
        headers = dict(scope["headers"])
        error = None
        if self.key and path.startswith("/v1") and not hmac.compare_digest(headers.get(b"x-api-key", b""), self.key):
            error = _error(401, {"code": "E186", "category": "invalid_input", "what": "missing or wrong API key",
                                 "where": "X-API-Key header", "fix": "send the service's key in X-API-Key"})
        size = headers.get(b"content-length", b"")
        if error is None and size.isdigit() and int(size) > HARD_LIMIT:  # refused unread
            error = _error(413, {"code": "E187", "category": "invalid_input", "what": f"request of {int(size):,} bytes",
                                 "where": "body", "fix": f"send images of at most {self.max_upload:,} bytes"})

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        if error is not None:
            await error(scope, receive, sending)
            self.metrics.requests.labels(route, str(status[0])).inc()
            return
        try:
            if self.fast is not None and path == "/v1/context" and scope["method"] == "POST" and \
                    headers.get(b"content-type", b"").split(b";")[0].strip().lower() == b"application/json":
                await self.fast(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        except Exception:  # never a traceback to the caller; the server log has it
            if status[0]:
                raise  # the response has begun: nothing better can be sent
            await _error(500, {"code": "E504", "category": "internal", "what": "internal error", "where": route,
                               "fix": "report this request to the medkg developers"})(scope, receive, sending)
            logging.getLogger("medkg.serve").exception("internal error on %s", route)
        self.metrics.requests.labels(route, str(status[0])).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - t0)


def create_app(files: FileStore, store=None, *, api_key: str | None = None, max_upload: int = MAX_UPLOAD) -> FastAPI:
    """The service over a build (``files``) and a store answering graph queries (default: the same files)."""
    store = store or files
    metrics = _Metrics()
    # /docs with Swagger UI's assets served from the package (fastapi-offline), not a CDN: it works offline
    app: FastAPI = FastAPIOffline(title="medkg retrieval service", version=__version__,
                                  description="Cited knowledge-graph context for vision-language models.",
                                  swagger_ui_parameters={"validatorUrl": None})

    @app.exception_handler(KGError)
    async def _kg_error(request: Request, exc: KGError):
        return _error(exc.http_status, exc.as_dict())

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        """The framework's own answers (no such route, a method a route does not take) in medkg's error shape."""
        path, method = request.url.path, request.method
        if exc.status_code == 404:
            e: KGError = NotFound(f"no route {method} {path}", code="E218", where=path,
                                  fix="the routes are POST /v1/context, POST /v1/context/upload, GET /v1/concepts/{cui}, "
                                      "GET /v1/images/{id}, GET /healthz, GET /metrics; see /docs")
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            e = MethodNotAllowed(f"{path} does not answer {method}", code="E1146", where=path,
                                 fix=f"use {allowed or 'the method /docs gives'}")
        else:
            e = InvalidInput(str(exc.detail), code="E1147", where=path, fix="see /docs")
        return JSONResponse(status_code=exc.status_code, content={"error": e.as_dict()}, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)  # a form's fields, validated into the JSON request model
    async def _invalid(request: Request, exc: RequestValidationError | ValidationError):
        return _invalid_response(exc)

    def answer(req: ContextRequest, image: bytes | None) -> Response:
        ctx = retrieve_context(store, files, image_id=req.image_id, image=image, embedding=req.embedding, text=req.text,
                               k=req.k, gamma=req.gamma, min_similarity=req.min_similarity,
                               ood_percentile=req.ood_percentile, hops=req.hops,
                               max_triplets=req.max_triplets, guard=Guard(req.exclude), with_text=req.with_text)
        prompt = render(ctx, format=req.format, question=req.question, max_tokens=req.max_tokens)
        body = ContextResponse.model_construct(
            context=ctx, prompt=prompt, format=req.format,
            metadata={"k": ctx.k.as_json(), "excluded": ctx.excluded, "abstained": ctx.abstained,
                      "medkg": __version__, "build": files.manifest.checksum})
        # serialised once here (the models are already validated): no second validation pass in the framework
        return Response(body.model_dump_json(by_alias=True), media_type="application/json")

    inline = store is files  # a file store answers from memory in about a millisecond: no thread hop for it

    async def from_json(body: bytes) -> Response:
        req = ContextRequest.model_validate_json(body)
        one_input(req, file=False)
        if inline and req.image_b64 is None and req.text is None:  # an id or a vector: memory-bound, short
            return answer(req, None)
        return await run_in_threadpool(context_sync, req)  # decoding, encoding, extraction or Neo4j round trips

    async def fast_context(scope, receive, send) -> None:
        """``POST /v1/context`` with a JSON body, as plain ASGI (see ``_Guard``): the route's answers and errors."""
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        try:
            response = await from_json(b"".join(chunks))
        except KGError as e:
            response = _error(e.http_status, e.as_dict())
        except ValidationError as e:
            response = _invalid_response(e)
        await response(scope, receive, send)

    app.add_middleware(_Guard, api_key=api_key, metrics=metrics, max_upload=max_upload, fast=fast_context)

    async def from_form(request: Request) -> tuple[ContextRequest, bytes | None]:
        """A multipart request: the image file (field ``image``) and any of the JSON fields as form fields."""
        async with request.form(max_files=1, max_fields=len(ContextRequest.model_fields) + 1) as form:
            upload = form.get("image")
            fields = {k: v for k, v in form.items() if k != "image" and isinstance(v, str)}
            data = None
            if upload is not None and not isinstance(upload, str):
                data = await upload.read(max_upload + 1)
                if len(data) > max_upload:
                    raise TooLarge("the upload is too large", code="E190", where=upload.filename or "image",
                                   fix=f"send images of at most {max_upload:,} bytes")
            elif upload is not None:
                raise InvalidInput("the form field 'image' must be a file", code="E159", where="image",
                                   fix="send the image as a file part: curl -F image=@chest.jpg")
        return ContextRequest.model_validate(fields), data

    @app.post("/v1/context", response_model=ContextResponse, response_model_by_alias=True,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": ContextRequest.model_json_schema()},
                  "multipart/form-data": {"schema": _FORM_SCHEMA}}}})
    async def context(request: Request) -> Response:
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            req, data = await from_form(request)
            one_input(req, file=data is not None)
            return await run_in_threadpool(answer, req, data)
        if kind != "application/json":
            raise InvalidInput(f"unsupported content type {kind!r}", code="E158", where="Content-Type",
                               fix="send application/json, or multipart/form-data with the image file")
        return await from_json(await request.body())

    def context_sync(req: ContextRequest) -> Response:
        image = None
        if req.image_b64 is not None:
            if len(req.image_b64) > max_upload * 4 // 3 + 4:
                raise TooLarge(f"image of more than {max_upload:,} bytes", code="E188",
                                   fix=f"send images of at most {max_upload:,} bytes")
            try:
                image = base64.b64decode(req.image_b64, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("image_b64 is not valid base64", code="E189", fix="base64-encode the image file") from None
        return answer(req, image)

    @app.post("/v1/context/upload", response_model=ContextResponse, response_model_by_alias=True,
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}}}})
    async def context_upload(request: Request) -> Response:
        """The same as a multipart ``POST /v1/context`` (kept for clients written against medkg 0.x)."""
        req, data = await from_form(request)
        if data is None:
            raise InvalidInput("no image file in the upload", code="E157", where="image",
                               fix="send the image as the form's 'image' file part")
        one_input(req, file=True)
        return await run_in_threadpool(answer, req, data)

    @app.get("/v1/concepts/{cui}")
    def concept(cui: str, limit: int = 20) -> dict:
        return neighbourhood(store, find_concept(store, cui), limit=max(1, min(limit, 200))).as_json()

    @app.get("/v1/images/{image_id}")
    def image(image_id: str) -> dict:
        node = store.node("Image", image_id)
        if node is None:
            raise NotFound(f"no image {image_id!r} in the graph", code="E216", fix="see /v1/context for neighbours' ids")
        # no vector, and no path: a file's place on the server is not the client's business (nor its user's name)
        node = {k: v for k, v in node.items() if k not in ("embedding", "path")}
        return {"image": node, "findings": [{k: r.get(k) for k in ("type", "cui", "reportId", "section", "extractor")}
                                            for r in store.findings_of(image_id)]}

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "medkg": __version__, "images": len(files.index),
                "concepts": files.manifest.graph.nodes.get("Concept", 0), "store": store.name}

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
