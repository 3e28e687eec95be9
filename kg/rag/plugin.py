"""KG-RAG for vision-language models: the graph's cited knowledge in a VLM's prompt.

``KGRAG.from_store(DIR)`` works in process (the file store, or Neo4j with ``neo4j=URI``); ``KGRAG.from_url(URL)``
asks a running ``kg serve``. Both return the same types::

    rag = KGRAG.from_store("sample-graph")
    out = rag.augment(image, "Is there a pleural effusion?")
    out.prompt        # text for the model, within max_tokens
    out.messages      # chat messages for processor.apply_chat_template(...)
    out.citations     # where each item came from (report, section, span)

This package never imports FastAPI; the service (``kg.serve``) builds on it.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from graph.retrieve import Citation, Context, ContextQuery, QueryOptions, Retriever
from graph.retrieve.query import invalid
from kg.core.errors import InvalidInput, KGError, NotFound, Unavailable
from kg.rag.prompt import FORMATS, PromptOptions, render

__all__ = ["FORMATS", "Augmented", "KGRAG", "PromptOptions", "QueryOptions", "image_bytes", "render"]


def image_bytes(image) -> bytes | str:
    """What ``augment`` accepts as an image, as bytes or a path: a PIL image, a numpy array, bytes, or a path."""
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    if isinstance(image, (str, Path)):
        return str(image)
    try:
        from PIL import Image
    except ImportError:  # pillow is a core dependency; kept for clarity
        raise Unavailable("images need pillow", code="E421", fix="pip install pillow") from None
    if hasattr(image, "shape") and not isinstance(image, Image.Image):
        import numpy as np

        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        image = Image.fromarray(arr)
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    raise InvalidInput(f"cannot use a {type(image).__name__} as an image", code="E184",
                       fix="pass a PIL image, a numpy array, image bytes or a file path")


@dataclass
class Augmented:
    """The prompt for the model, its chat messages, the citations and the context behind them. When the graph has
    no similar image (or no concept of a text query), ``abstained`` says why and the prompt says so instead of
    listing findings."""

    prompt: str
    messages: list[dict]
    citations: list[Citation]
    context: Context
    metadata: dict = field(default_factory=dict)

    @property
    def abstained(self) -> str | None:
        return self.context.abstained


def _messages(prompt: str, with_image: bool) -> list[dict]:
    content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": prompt}]
    return [{"role": "user", "content": content}]


def _options(model: type[BaseModel], base: BaseModel | None, fields: dict) -> BaseModel:
    """``base`` with the ``fields`` that belong to ``model`` changed, validated (a bad value is medkg's error)."""
    try:
        return model.model_validate((base.model_dump() if base is not None else {}) | fields)
    except ValidationError as exc:
        raise invalid(exc, model) from None


class KGRAG:
    """The KG-RAG plugin. Options (any field of :class:`QueryOptions` or :class:`PromptOptions`: ``k``,
    ``format``, ``hops``, ...) are set once and may be overridden per call; a name that is neither is refused."""

    def __init__(self, backend, **defaults):
        self._backend = backend
        self.options, self.prompt = self._split(defaults)

    def _split(self, fields: dict, query: QueryOptions | None = None,
               prompt: PromptOptions | None = None) -> tuple[QueryOptions, PromptOptions]:
        q = {k: v for k, v in fields.items() if k in QueryOptions.model_fields}
        p = {k: v for k, v in fields.items() if k in PromptOptions.model_fields}
        other = sorted(set(fields) - set(q) - set(p))
        if other:  # reported with the closest known option
            _options(QueryOptions, None, {other[0]: fields[other[0]]})
        return _options(QueryOptions, query, q), _options(PromptOptions, prompt, p)  # type: ignore[return-value]

    @classmethod
    def from_store(cls, path: str | Path, *, neo4j: str | None = None, **defaults) -> KGRAG:
        from graph.stores import open_store

        return cls(_Local(open_store(Path(path), neo4j=neo4j)), **defaults)

    @classmethod
    def from_url(cls, url: str, *, api_key: str | None = None, timeout: float = 30.0, **defaults) -> KGRAG:
        return cls(_Remote(url.rstrip("/"), api_key, timeout), **defaults)

    def context(self, image=None, *, image_id: str | None = None, embedding=None, text: str | None = None,
                **options) -> Context:
        query_options, _ = self._split(options, self.options, self.prompt)
        query = ContextQuery.of(query_options, image_id=image_id, text=text,
                                image=None if image is None else image_bytes(image),
                                embedding=None if embedding is None else tuple(float(x) for x in embedding))
        return self._backend.context(query)

    def augment(self, image=None, question: str | None = None, *, image_id: str | None = None, embedding=None,
                text: str | None = None, tokenizer=None, **options) -> Augmented:
        """The prompt for ``question`` about ``image`` (or an image id, an embedding, or a text query)."""
        query_options, prompt = self._split(options, self.options, self.prompt)
        ctx = self.context(image, image_id=image_id, embedding=embedding, text=text, **query_options.model_dump())
        text_ = render(ctx, format=prompt.format, question=question, max_tokens=prompt.max_tokens, tokenizer=tokenizer)
        cites = [c for f in ctx.findings for c in f.citations] + [c for t in ctx.triplets for c in t.citations]
        meta = {"k": ctx.k.as_json(), "excluded": ctx.excluded, "format": prompt.format, "abstained": ctx.abstained,
                "match": None if ctx.match is None else ctx.match.as_json()}
        return Augmented(text_, _messages(text_, image is not None or image_id is not None), cites, ctx, meta)


class _Local:
    def __init__(self, store):
        self.retriever = Retriever(store)

    def context(self, query: ContextQuery) -> Context:
        return self.retriever.context(query)


class _Remote:
    """``kg serve`` over HTTP (standard library only): the same Context comes back."""

    def __init__(self, url: str, api_key: str | None, timeout: float):
        self.url, self.api_key, self.timeout = url, api_key, timeout

    def context(self, query: ContextQuery) -> Context:
        import urllib.error
        import urllib.request

        image = query.image
        if isinstance(image, str):
            image = Path(image).read_bytes()
        body = query.model_dump(mode="json", exclude_none=True) | (
            {"image_b64": base64.b64encode(image).decode()} if image is not None else {})
        req = urllib.request.Request(self.url + "/v1/context", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"}
                                     | ({"X-API-Key": self.api_key} if self.api_key else {}))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return Context.model_validate(json.loads(r.read())["context"])
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", {})
            cls = {404: NotFound, 503: Unavailable}.get(exc.code, InvalidInput if exc.code < 500 else KGError)
            raise cls(detail.get("what") or f"HTTP {exc.code}", code=detail.get("code") or "E422",
                      fix=detail.get("fix") or "see the service log") from None
        except urllib.error.URLError as exc:
            raise Unavailable(f"cannot reach the medkg service at {self.url}: {exc.reason}", code="E422",
                              fix="start it with `kg serve DIR` or check the URL") from None
