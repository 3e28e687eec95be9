"""The retrieval query, declared once: every door (the plugin, the HTTP service, MCP, the neo4j-graphrag adapter)
adapts these models instead of listing the fields again.

:class:`QueryOptions` are how to retrieve (how many neighbours, which floor, how far to walk the concept graph,
whose images to leave out); :class:`ContextQuery` adds exactly one input: an image of the graph (``image_id``), an
image file (``image``: its bytes or a path), an embedding from the build's encoder, or a text. Fields, bounds,
defaults and their documentation live here; the service's request schema and its OpenAPI document are built from
them.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from graph.retrieve.ood import DEFAULT_PERCENTILE
from kg.core.errors import InvalidInput

MAX_K = 200
MAX_HOPS = 3
MAX_TRIPLETS = 500
Exclude = Literal["patient", "study", "none"]
INPUTS = ("image_id", "image", "embedding", "text")


class QueryOptions(BaseModel):
    """How to retrieve. A field it does not know is refused (a misspelt option must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: Annotated[int, Field(ge=1, le=MAX_K)] | Literal["auto"] = Field(
        8, description=f"Neighbours (1 to {MAX_K}, before ratio truncation and the similarity floor), or 'auto': the "
                       "k that `kg calibrate` chose, with its guarantee in the context's `k`.")
    gamma: float | None = Field(None, gt=1.0, description="MMed-RAG ratio truncation: keep neighbour j while s1/sj < gamma.")
    min_similarity: float | None = Field(None, ge=-1.0, le=1.0, description=(
        "Leave out neighbours below this cosine similarity; abstain when the best match is below it."))
    ood_percentile: float = Field(DEFAULT_PERCENTILE, ge=0.0, le=50.0, description=(
        "The out-of-distribution guard: abstain (no findings; `abstained` says why) when the best match is below "
        "this percentile of the graph's own images' best matches; 0 turns it off."))
    hops: int = Field(1, ge=0, le=MAX_HOPS, description="How far to walk the concept graph from the findings.")
    max_triplets: int = Field(20, ge=0, le=MAX_TRIPLETS, description="At most this many concept triplets.")
    exclude: Exclude = Field("patient", description=(
        "Leave out the query's own patient's or study's images when the query is an image of the graph (by id, or "
        "a file or vector at cosine >= 0.9999 to it); none: no leakage guard."))
    with_text: bool = Field(False, description="Quote the evidence's report text in citations (when the build kept it).")

    def options(self) -> QueryOptions:
        """The options alone (a query without its input)."""
        return QueryOptions.model_validate(self.model_dump(include=set(QueryOptions.model_fields)))


class ContextQuery(QueryOptions):
    """One query: exactly one input, and the options."""

    image_id: str | None = Field(None, description="An image of the graph, by id (never a path).")
    image: bytes | str | None = Field(None, description="An image file (JPEG, PNG, DICOM): its bytes, or a path "
                                                        "(in process only).", exclude=True)
    embedding: tuple[float, ...] | None = Field(None, description="A vector from the build's encoder.")
    text: str | None = Field(None, description="A question or draft report (a text-only query).")

    @model_validator(mode="after")
    def _one_input(self) -> ContextQuery:
        given = [n for n in INPUTS if getattr(self, n) is not None]
        if len(given) != 1:
            raise InvalidInput(f"give exactly one of image_id, image, embedding or text (got {', '.join(given) or 'none'})",
                               code="E175", fix="send one query input; a question goes with an image query as 'question'")
        return self

    @property
    def kind(self) -> str:
        return next(n for n in INPUTS if getattr(self, n) is not None)

    @classmethod
    def of(cls, options: QueryOptions | None = None, **fields: Any) -> ContextQuery:
        """The input in ``fields`` (and any option overrides) on top of ``options``."""
        base = options.model_dump(include=set(QueryOptions.model_fields)) if options is not None else {}
        return cls.model_validate(base | {k: v for k, v in fields.items() if v is not None or k not in INPUTS})


_MEANS_THE_IMAGE = ("image", "file", "img", "image_file", "picture", "image_bytes")


def closest_field(name: str, fields: list[str], *, image_field: str = "image") -> str | None:
    """The field a caller most likely meant: ``imageId`` -> ``image_id``, ``file`` -> the image field."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("-", "_")
    if snake in fields:
        return snake
    if snake in _MEANS_THE_IMAGE and image_field in fields:
        return image_field
    near = difflib.get_close_matches(snake, fields, n=1, cutoff=0.6)
    return near[0] if near else None


def invalid(exc: ValidationError, model: type[BaseModel], *, image_field: str = "image") -> InvalidInput:
    """A pydantic validation error of ``model`` as medkg's error: the field, what is wrong, and the fix (for an
    unknown field, the closest known one)."""
    first: dict[str, Any] = dict(exc.errors()[0]) if exc.errors() else {}
    fields = list(model.model_fields)
    # the field's path, without pydantic's names for the branches of a union ('constrained-int', "literal['auto']")
    loc = [str(x) for x in first.get("loc", ()) if isinstance(x, int) or x == "body" or x in fields
           or first.get("type") == "extra_forbidden"]
    where = ".".join(loc)
    if first.get("type") == "extra_forbidden":
        name = loc[-1] if loc else ""
        near = closest_field(name, fields, image_field=image_field)
        return InvalidInput(f"unknown field {name!r}" + (f" (did you mean {near!r}?)" if near else ""), code="E1145",
                            where=where, fix="send only the known fields: " + ", ".join(fields))
    field = next((x for x in reversed(loc) if x in fields), None)
    what = str(first.get("msg", "invalid request"))
    return InvalidInput(f"{field}: {what}" if field else what, code="E185", where=where,
                        fix="see the fields' bounds (the service's schema at /docs)")
