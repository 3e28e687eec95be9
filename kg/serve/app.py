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
import hmac
import time
from typing import Annotated, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, ValidationError

from graph.retrieve import Context, Guard, find_concept, neighbourhood, retrieve_context
from graph.store import FileStore
from kg import __version__
from kg.core.errors import InvalidInput, KGError, NotFound, TooLarge
from kg.rag.prompt import FORMATS, render

MAX_UPLOAD = 20 * 1024 * 1024  # bytes of an image (upload or base64-decoded)
HARD_LIMIT = 256 * 1024 * 1024  # request bodies above this are refused without being read


class ContextRequest(BaseModel):
    image_id: str | None = Field(None, description="An image of the graph.")
    image_b64: str | None = Field(None, description="An image file (JPEG, PNG, DICOM), base64.")
    embedding: list[float] | None = Field(None, description="A vector from the build's encoder.")
    text: str | None = Field(None, description="A question or draft report (text-only query).")
    question: str | None = Field(None, max_length=4000, description="Appended to the rendered prompt.")
    k: Annotated[int, Field(ge=0, le=200)] | Literal["auto"] = Field(
        8, description="Neighbours (before ratio truncation and the similarity floor), or 'auto': the k that "
                       "`kg calibrate` chose, with its guarantee in the response's metadata.")
    gamma: float | None = Field(None, gt=1.0, description="MMed-RAG ratio truncation: keep j while s1/sj < gamma.")
    min_similarity: float | None = Field(None, ge=-1.0, le=1.0, description="Abstain below this similarity.")
    hops: int = Field(1, ge=0, le=3)
    max_triplets: int = Field(20, ge=0, le=500)
    exclude: Literal["patient", "study", "none"] = "patient"
    with_text: bool = False
    format: Literal["findings", "kg-llava", "medmkg", "json"] = "findings"
    max_tokens: int | None = Field(None, ge=1, le=100_000)


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


def create_app(files: FileStore, store=None, *, api_key: str | None = None, max_upload: int = MAX_UPLOAD) -> FastAPI:
    """The service over a build (``files``) and a store answering graph queries (default: the same files)."""
    store = store or files
    metrics = _Metrics()
    app = FastAPI(title="medkg retrieval service", version=__version__,
                  description="Cited knowledge-graph context for vision-language models.")

    @app.exception_handler(KGError)
    async def _kg_error(request: Request, exc: KGError):
        return _error(exc.http_status, exc.as_dict())

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)  # a form's fields, validated into the JSON request model
    async def _invalid(request: Request, exc: RequestValidationError | ValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(422, {"code": "E185", "category": "invalid_input", "what": str(first.get("msg", "invalid request")),
                            "where": where, "fix": "see the request schema at /docs"})

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        route = request.url.path if not request.url.path.startswith(("/v1/concepts/", "/v1/images/")) \
            else request.url.path.rsplit("/", 1)[0] + "/{id}"
        t0 = time.perf_counter()
        if api_key and request.url.path.startswith("/v1"):
            given = request.headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                resp = _error(401, {"code": "E186", "category": "invalid_input", "what": "missing or wrong API key",
                                    "where": "X-API-Key header", "fix": "send the service's key in X-API-Key"})
                metrics.requests.labels(route, "401").inc()
                return resp
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > HARD_LIMIT:  # refused unread
            metrics.requests.labels(route, "413").inc()
            return _error(413, {"code": "E187", "category": "invalid_input", "what": f"request of {int(size):,} bytes",
                                "where": "body", "fix": f"send images of at most {max_upload:,} bytes"})
        try:
            resp = await call_next(request)
        except Exception:  # never a traceback to the caller; the server log has it
            resp = _error(500, {"code": "E504", "category": "internal", "what": "internal error", "where": route,
                                "fix": "report this request to the medkg developers"})
        metrics.requests.labels(route, str(resp.status_code)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - t0)
        return resp

    def answer(req: ContextRequest, image: bytes | None) -> Response:
        ctx = retrieve_context(store, files, image_id=req.image_id, image=image, embedding=req.embedding, text=req.text,
                               k=req.k, gamma=req.gamma, min_similarity=req.min_similarity, hops=req.hops,
                               max_triplets=req.max_triplets, guard=Guard(req.exclude), with_text=req.with_text)
        prompt = render(ctx, format=req.format, question=req.question, max_tokens=req.max_tokens)
        body = ContextResponse.model_construct(
            context=ctx, prompt=prompt, format=req.format,
            metadata={"k": ctx.k.as_json(), "excluded": ctx.excluded, "medkg": __version__,
                      "build": files.manifest.checksum})
        # serialised once here (the models are already validated): no second validation pass in the framework
        return Response(body.model_dump_json(by_alias=True), media_type="application/json")

    @app.post("/v1/context", response_model=ContextResponse, response_model_by_alias=True)
    def context(req: ContextRequest) -> Response:
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

    @app.post("/v1/context/upload", response_model=ContextResponse, response_model_by_alias=True)
    async def context_upload(image: UploadFile = File(...), question: str | None = Form(None), k: int = Form(8),
                             hops: int = Form(1), format: str = Form("findings"),
                             exclude: str = Form("patient")) -> Response:
        data = await image.read(max_upload + 1)
        if len(data) > max_upload:
            raise TooLarge("the upload is too large", code="E190", where=image.filename,
                           fix=f"send images of at most {max_upload:,} bytes")
        if format not in FORMATS:
            raise InvalidInput(f"unknown format {format!r}", code="E191", fix="use one of: " + ", ".join(FORMATS))
        req = ContextRequest(question=question, k=k, hops=hops, format=format, exclude=exclude)
        return answer(req, data)

    @app.get("/v1/concepts/{cui}")
    def concept(cui: str, limit: int = 20) -> dict:
        return neighbourhood(store, find_concept(store, cui), limit=max(1, min(limit, 200))).as_json()

    @app.get("/v1/images/{image_id}")
    def image(image_id: str) -> dict:
        node = store.node("Image", image_id)
        if node is None:
            raise NotFound(f"no image {image_id!r} in the graph", code="E216", fix="see /v1/context for neighbours' ids")
        node = {k: v for k, v in node.items() if k != "embedding"}
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
