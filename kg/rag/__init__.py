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

from graph.retrieve import Citation, Context, Guard, retrieve_context
from graph.retrieve.ood import DEFAULT_PERCENTILE
from kg.core.errors import InvalidInput, KGError, NotFound, Unavailable
from kg.rag.prompt import FORMATS, render

__all__ = ["FORMATS", "Augmented", "KGRAG", "image_bytes", "render"]


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


class KGRAG:
    """The KG-RAG plugin. Defaults (``k``, ``format``, ``hops``, ...) are set once and may be overridden per call."""

    def __init__(self, backend, **defaults):
        self._backend = backend
        self.defaults = {"k": 8, "hops": 1, "format": "findings", "gamma": None, "min_similarity": None,
                         "ood_percentile": DEFAULT_PERCENTILE, "max_triplets": 20, "exclude": "patient",
                         "with_text": False} | defaults

    @classmethod
    def from_store(cls, path: str | Path, *, neo4j: str | None = None, **defaults) -> "KGRAG":
        from graph.store import FileStore

        files = FileStore(Path(path))
        store = files
        if neo4j is not None:
            from graph.neo4j.store import Neo4jStore

            store = Neo4jStore.connect(path, uri=neo4j)
        return cls(_Local(store, files), **defaults)

    @classmethod
    def from_url(cls, url: str, *, api_key: str | None = None, timeout: float = 30.0, **defaults) -> "KGRAG":
        return cls(_Remote(url.rstrip("/"), api_key, timeout), **defaults)

    def context(self, image=None, *, image_id: str | None = None, embedding=None, text: str | None = None,
                **options) -> Context:
        o = self.defaults | options
        return self._backend.context(image=None if image is None else image_bytes(image), image_id=image_id,
                                     embedding=embedding, text=text, options=o)

    def augment(self, image=None, question: str | None = None, *, image_id: str | None = None, embedding=None,
                text: str | None = None, max_tokens: int | None = None, tokenizer=None, **options) -> Augmented:
        """The prompt for ``question`` about ``image`` (or an image id, an embedding, or a text query)."""
        o = self.defaults | options
        ctx = self.context(image, image_id=image_id, embedding=embedding, text=text, **options)
        prompt = render(ctx, format=o["format"], question=question, max_tokens=max_tokens, tokenizer=tokenizer)
        cites = [c for f in ctx.findings for c in f.citations] + [c for t in ctx.triplets for c in t.citations]
        meta = {"k": ctx.k.as_json(), "excluded": ctx.excluded, "format": o["format"], "abstained": ctx.abstained,
                "match": None if ctx.match is None else ctx.match.as_json()}
        return Augmented(prompt, _messages(prompt, image is not None or image_id is not None), cites, ctx, meta)


class _Local:
    def __init__(self, store, files):
        self.store, self.files = store, files

    def context(self, *, image, image_id, embedding, text, options) -> Context:
        return retrieve_context(self.store, self.files, image_id=image_id, image=image, embedding=embedding, text=text,
                                k=options["k"] if options["k"] == "auto" else int(options["k"]), gamma=options["gamma"],
                                min_similarity=options["min_similarity"], ood_percentile=float(options["ood_percentile"]),
                                hops=int(options["hops"]), max_triplets=int(options["max_triplets"]),
                                guard=Guard(options["exclude"]), with_text=bool(options["with_text"]))


class _Remote:
    """``kg serve`` over HTTP (standard library only): the same Context comes back."""

    def __init__(self, url: str, api_key: str | None, timeout: float):
        self.url, self.api_key, self.timeout = url, api_key, timeout

    def context(self, *, image, image_id, embedding, text, options) -> Context:
        import urllib.error
        import urllib.request

        if isinstance(image, str):
            image = Path(image).read_bytes()
        body = {k: options[k] for k in ("k", "hops", "gamma", "min_similarity", "ood_percentile", "max_triplets",
                                        "exclude", "with_text")}
        body |= {"image_id": image_id, "text": text,
                 "embedding": None if embedding is None else [float(x) for x in embedding],
                 "image_b64": None if image is None else base64.b64encode(image).decode()}
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
