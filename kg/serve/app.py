"""The retrieval service (FastAPI): cited knowledge-graph context for a VLM over HTTP, a thin adapter over the one
query model (``graph.retrieve.query``) and the store-bound ``Retriever``.

``POST /v1/context`` (JSON: ``image_id`` | ``image_b64`` | ``embedding`` | ``text``, ``question`` and the query and
prompt options; or a multipart form with the image file as ``image``), ``POST /v1/context/upload`` (the form only),
``GET /v1/concepts/{cui}``, ``GET /v1/images/{id}``, ``GET /healthz``, ``GET /metrics`` (Prometheus); OpenAPI at
``/docs``. Every error, the framework's own included, is a :class:`~kg.core.errors.KGError` answered as
``{"error": {code, category, what, where, fix}}`` with its category's status (invalid input 422, not found 404,
conflict 409, unavailable 503, too large 413, no key 401, wrong method 405). With an API key set, every ``/v1``
request needs it in ``X-API-Key``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from graph.retrieve import Context, ContextQuery, QueryOptions, Retriever, find_concept, neighbourhood
from graph.retrieve.query import invalid
from graph.store import Store
from kg import __version__
from kg.core.errors import InvalidInput, KGError, MethodNotAllowed, NotFound, TooLarge, Unauthorized
from kg.rag.prompt import PromptOptions, render
from kg.serve.gateway import Gateway, GatewayOptions, Upstream

MAX_UPLOAD = 20 * 1024 * 1024  # bytes of an image (upload or base64-decoded)
HARD_LIMIT = 256 * 1024 * 1024  # request bodies above this are refused without being read
INPUTS = ("image_id", "image_b64", "embedding", "text")


class ContextRequest(QueryOptions, PromptOptions):
    """Exactly one query input (``image_id``, ``image_b64``, ``embedding`` or ``text``; in a multipart form the image
    file as ``image`` instead of ``image_b64``), the question, and the query and prompt options (declared once, in
    ``QueryOptions`` and ``PromptOptions``); a field it does not know is refused."""

    image_id: Annotated[str | None, ContextQuery.model_fields["image_id"]] = None
    image_b64: str | None = Field(None, description="An image file (JPEG, PNG, DICOM), base64.")
    embedding: Annotated[tuple[float, ...] | None, ContextQuery.model_fields["embedding"]] = None
    text: Annotated[str | None, ContextQuery.model_fields["text"]] = None
    question: str | None = Field(None, max_length=4000, description="Appended to the rendered prompt.")

    def query(self, image: bytes | None) -> ContextQuery:
        """The retrieval query (the image decoded from ``image_b64`` or uploaded as a file)."""
        return ContextQuery.of(self.options(), image_id=self.image_id, image=image, embedding=self.embedding,
                               text=self.text)

    def prompt_options(self) -> PromptOptions:
        return PromptOptions.model_validate(self.model_dump(include=set(PromptOptions.model_fields)))

    def one_input(self, *, file: bool) -> None:
        """Exactly one query input, named as the client sends it (a multipart form sends the image as a file)."""
        given = [n for n in INPUTS if getattr(self, n) is not None] + (["image (a file part)"] if file else [])
        if len(given) != 1:
            raise InvalidInput("give exactly one of image_id, image_b64 (or a multipart file part 'image'), embedding "
                               f"or text (got {', '.join(given) or 'none'})", code="E1144", where="body",
                               fix="send one query input; a question goes with it as 'question'")


_FORM_SCHEMA = {  # multipart: the image file, and any JSON field as a form field
    "type": "object",
    "properties": {"image": {"type": "string", "format": "binary", "description": "An image file (JPEG, PNG, DICOM)."},
                   **{k: v for k, v in ContextRequest.model_json_schema()["properties"].items()
                      if k not in ("image_b64", "embedding")}},
}


class ErrorBody(BaseModel):
    """medkg's fields, and OpenAI's (``message``, ``type``, ``param``) so the ``openai`` SDK reads them too."""

    code: str
    category: str
    what: str
    where: str | None = None
    fix: str | None = None
    message: str
    type: str
    param: str | None = None


class ErrorResponse(BaseModel):
    """Every error the service answers."""

    error: ErrorBody


class ChatRequest(BaseModel):
    """An OpenAI chat completion request (only what the gateway reads is declared; every other field is passed to
    the upstream as it is)."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]] = Field(..., min_length=1, description=(
        "OpenAI messages; the image of the last user message (an image_url part with a data: URL) gets the context."))
    stream: bool = False
    medkg: GatewayOptions | None = Field(None, description="medkg's options for this request (extra_body).")


class ContextResponse(BaseModel):
    context: Context
    prompt: str
    format: str
    metadata: dict


_ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorResponse} for status in (401, 404, 413, 422, 503)}


class _Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("medkg_requests_total", "Requests by route and status", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("medkg_request_seconds", "Request latency by route", ["route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


def error_response(e: KGError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one error shape: ``{"error": {code, category, what, where, fix}}`` with the category's status, and OpenAI's
    ``message``, ``type``, ``param`` beside them (the gateway's clients are OpenAI clients)."""
    body = e.as_dict() | {"message": e.message, "type": e.category, "param": e.where}
    return JSONResponse(status_code=e.http_status, content={"error": body}, headers=headers)


def _route(path: str) -> str:
    """The metrics label: ids folded so the label set stays bounded."""
    return path.rsplit("/", 1)[0] + "/{id}" if path.startswith(("/v1/concepts/", "/v1/images/")) else path


class _Guard:
    """ASGI middleware: the API key, the unread-body size limit, an error body for any unexpected error (never a
    traceback), and the Prometheus counters. Plain ASGI, not ``@app.middleware``, which runs every request through
    a second task and stream (measured with wrk, one worker: GET /healthz 1,560 -> 2,630 requests/s)."""

    def __init__(self, app, *, api_key: str | None, metrics: _Metrics, max_upload: int):
        self.app, self.key, self.metrics, self.max_upload = app, api_key.encode() if api_key else None, metrics, max_upload

    def _key_ok(self, headers: dict[bytes, bytes]) -> bool:
        assert self.key is not None
        bearer = headers.get(b"authorization", b"")
        given = bearer[7:] if bearer[:7].lower() == b"bearer " else headers.get(b"x-api-key", b"")
        return hmac.compare_digest(headers.get(b"x-api-key", given), self.key)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, t0, status = scope["path"], time.perf_counter(), [0]
        route = _route(path)
        headers = dict(scope["headers"])
        error: KGError | None = None
        if self.key and path.startswith("/v1") and not self._key_ok(headers):
            error = Unauthorized("missing or wrong API key", code="E186", where="X-API-Key header",
                                 fix="send the service's key in X-API-Key (or as an OpenAI client's api_key: "
                                     "Authorization: Bearer KEY)")
        size = headers.get(b"content-length", b"")
        if error is None and size.isdigit() and int(size) > HARD_LIMIT:  # refused unread
            error = TooLarge(f"request of {int(size):,} bytes", code="E187", where="body",
                             fix=f"send images of at most {self.max_upload:,} bytes")

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        if error is not None:
            await error_response(error)(scope, receive, sending)
            self.metrics.requests.labels(route, str(status[0])).inc()
            return
        try:
            await self.app(scope, receive, sending)
        except Exception:  # never a traceback to the caller; the server log has it
            if status[0]:
                raise  # the response has begun: nothing better can be sent
            await error_response(KGError("internal error", code="E504", where=route,
                                         fix="report this request to the medkg developers"))(scope, receive, sending)
            logging.getLogger("medkg.serve").exception("internal error on %s", route)
        self.metrics.requests.labels(route, str(status[0])).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - t0)


def _http_error(request: Request, exc: HTTPException) -> KGError:
    """The framework's own answers (no such route, a method a route does not take) as medkg's errors."""
    path, method = request.url.path, request.method
    if exc.status_code == 404:
        return NotFound(f"no route {method} {path}", code="E218", where=path,
                        fix="the routes are POST /v1/context, POST /v1/context/upload, GET /v1/concepts/{cui}, "
                            "GET /v1/images/{id}, GET /healthz, GET /metrics; see /docs")
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return MethodNotAllowed(f"{path} does not answer {method}", code="E1146", where=path,
                                fix=f"use {allowed or 'the method /docs gives'}")
    e = InvalidInput(str(exc.detail), code="E1147", where=path, fix="see /docs")
    e.http_status = exc.status_code
    return e


def _decode(b64: str, max_upload: int) -> bytes:
    if len(b64) > max_upload * 4 // 3 + 4:
        raise TooLarge(f"image of more than {max_upload:,} bytes", code="E188",
                       fix=f"send images of at most {max_upload:,} bytes")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("image_b64 is not valid base64", code="E189", fix="base64-encode the image file") from None


def create_app(store: Store, *, api_key: str | None = None, max_upload: int = MAX_UPLOAD,
               upstream: Upstream | None = None) -> FastAPI:
    """The service over a store (``store.files`` is the build folder: its index, encoder and findings); with
    ``upstream``, also the OpenAI-compatible gateway to that VLM server (``kg.serve.gateway``)."""
    metrics = _Metrics()
    # /docs with Swagger UI's assets served from the package (fastapi-offline), not a CDN: it works offline
    app: FastAPI = FastAPIOffline(title="medkg retrieval service", version=__version__,
                                  description="Cited knowledge-graph context for vision-language models.",
                                  swagger_ui_parameters={"validatorUrl": None})
    _error_handlers(app)
    app.add_middleware(_Guard, api_key=api_key, metrics=metrics, max_upload=max_upload)
    _context_routes(app, _Answers(store, max_upload))
    _lookup_routes(app, store, metrics)
    if upstream is not None:
        _gateway_routes(app, Gateway(Retriever(store), upstream, max_upload=max_upload))
    return app


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` put in place (an OpenAPI request body cannot point into them)."""
    defs = schema.pop("$defs", {})

    def resolve(x: Any) -> Any:
        if isinstance(x, dict):
            ref = x.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.rsplit("/", 1)[1]])
            return {k: resolve(v) for k, v in x.items()}
        return [resolve(v) for v in x] if isinstance(x, list) else x

    out: dict[str, Any] = resolve(schema)
    return out


def _gateway_routes(app: FastAPI, gateway: Gateway) -> None:
    @app.post("/v1/chat/completions", responses=_ERRORS, openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": _inline(ChatRequest.model_json_schema())}}}})
    async def chat_completions(request: Request) -> Response:
        """OpenAI's chat completions, forwarded to the upstream VLM server with the graph's context for the image of
        the last user message (``medkg`` in the body sets the options; the answer's ``medkg`` field says what was
        done)."""
        return await gateway.chat(request)

    @app.get("/v1/models", responses=_ERRORS)
    async def models() -> Response:
        """The upstream's models, passed through."""
        return await gateway.models()

    app.router.on_shutdown.append(gateway.close)


def _error_handlers(app: FastAPI) -> None:
    """Every error, medkg's, a request model's or the framework's, answered as medkg's one error body."""

    @app.exception_handler(KGError)
    async def _kg_error(request: Request, exc: KGError):
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)  # a request body or form, validated into the request model
    async def _invalid(request: Request, exc: RequestValidationError | ValidationError):
        return error_response(invalid(exc, ContextRequest, image_field="image_b64"))  # type: ignore[arg-type]

    @app.exception_handler(HTTPException)
    async def _framework(request: Request, exc: HTTPException):
        return error_response(_http_error(request, exc), headers=exc.headers)


class _Answers:
    """A context request read (JSON or multipart) and answered through the one retriever."""

    def __init__(self, store: Store, max_upload: int):
        self.files, self.retriever, self.max_upload = store.files, Retriever(store), max_upload
        self.inline = store is store.files  # a file store answers from memory in about a millisecond: no thread hop

    def answer(self, req: ContextRequest, image: bytes | None) -> Response:
        ctx = self.retriever.context(req.query(image))
        opts = req.prompt_options()
        prompt = render(ctx, format=opts.format, question=req.question, max_tokens=opts.max_tokens)
        body = ContextResponse.model_construct(
            context=ctx, prompt=prompt, format=opts.format,
            metadata={"k": ctx.k.as_json(), "excluded": ctx.excluded, "abstained": ctx.abstained,
                      "medkg": __version__, "build": self.files.manifest.checksum})
        # serialised once here (the models are already validated): no second validation pass in the framework
        return Response(body.model_dump_json(by_alias=True), media_type="application/json")

    @staticmethod
    def parse(raw: bytes) -> ContextRequest:
        try:
            return ContextRequest.model_validate_json(raw)
        except ValidationError as exc:
            raise invalid(exc, ContextRequest, image_field="image_b64") from None

    async def from_form(self, request: Request) -> tuple[ContextRequest, bytes | None]:
        """A multipart request: the image file (field ``image``) and any of the JSON fields as form fields."""
        max_upload = self.max_upload
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
        try:
            req = ContextRequest.model_validate(fields)
        except ValidationError as exc:
            raise invalid(exc, ContextRequest, image_field="image") from None
        return req, data


def _context_routes(app: FastAPI, answers: _Answers) -> None:
    @app.post("/v1/context", response_model=ContextResponse, response_model_by_alias=True, responses=_ERRORS,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": ContextRequest.model_json_schema()},
                  "multipart/form-data": {"schema": _FORM_SCHEMA}}}})
    async def context(request: Request) -> Response:
        """The cited context (and the rendered prompt) for an image of the graph, an image file, an embedding or a
        text; one route for JSON and multipart bodies, one error path."""
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            req, data = await answers.from_form(request)
            req.one_input(file=data is not None)
            return await run_in_threadpool(answers.answer, req, data)
        if kind != "application/json":
            raise InvalidInput(f"unsupported content type {kind!r}", code="E158", where="Content-Type",
                               fix="send application/json, or multipart/form-data with the image file")
        req = answers.parse(await request.body())
        req.one_input(file=False)
        if answers.inline and req.image_b64 is None and req.text is None:  # an id or a vector: memory-bound, short
            return answers.answer(req, None)
        image = _decode(req.image_b64, answers.max_upload) if req.image_b64 is not None else None
        return await run_in_threadpool(answers.answer, req, image)  # decoding, encoding, extraction or Neo4j trips

    @app.post("/v1/context/upload", response_model=ContextResponse, response_model_by_alias=True, responses=_ERRORS,
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}}}})
    async def context_upload(request: Request) -> Response:
        """The same as a multipart ``POST /v1/context`` (kept for clients written against medkg 0.x)."""
        req, data = await answers.from_form(request)
        if data is None:
            raise InvalidInput("no image file in the upload", code="E157", where="image",
                               fix="send the image as the form's 'image' file part")
        req.one_input(file=True)
        return await run_in_threadpool(answers.answer, req, data)


def _lookup_routes(app: FastAPI, store: Store, metrics: _Metrics) -> None:
    files = store.files

    @app.get("/v1/concepts/{cui}", responses=_ERRORS)
    def concept(cui: str, limit: int = 20) -> dict:
        return neighbourhood(store, find_concept(store, cui), limit=max(1, min(limit, 200))).as_json()

    @app.get("/v1/images/{image_id}", responses=_ERRORS)
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
