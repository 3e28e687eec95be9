"""Rendering a :class:`~graph.retrieve.Context` for a VLM prompt, within a token budget.

Formats (``format=``):

* ``findings`` (default): a header saying how many similar images there are and how similar they are, then one
  line per concept with its polarity mix — how many of them state it present, absent or uncertain and their
  agreement, absent findings as absent ("Pneumothorax: absent in 3 of 5 similar cases (agreement 0.61, cosine
  0.93-0.95)"; "Pulmonary edema: present in 2 of 5 similar cases (...); absent in 2 (...)") — the concepts the
  question names first, then by agreement; then at most 8 triplets, those about the question's concepts first;
* ``findings-per-polarity``: the first layout: a line per concept and polarity in retrieval's order, then every
  triplet;
* ``kg-llava``: KG-LLaVA's prompt, ``The image-specific triplets from the knowledge graph are: t1; t2; …. And
  for the given image, {question}``;
* ``medmkg``: MedMKG's evidence lines, ``Triplet i: (head, relation, tail) = (h, r, t)``;
* ``json``: the findings and triplets as compact JSON with their citation ids.

Items are kept in rank order and the lowest-ranked are dropped until the text fits ``max_tokens``, counted with
the target model's tokenizer when one is given (anything with ``encode``, or a callable), else by words.

A context that abstained (no similar image in the graph, no concept of the graph in the text) renders as a
statement that the graph has nothing to add and why, in every format: never as an empty list a model could read
as "nothing abnormal".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from graph.retrieve.ood import ordinal
from graph.retrieve.records import Context, Finding, Triplet
from kg.core.errors import InvalidInput
from kg.core.registry import Registry

# the format names, for the request models' OpenAPI enum; each is a PromptFormat in PROMPT_FORMATS (a test keeps
# the two the same)
Format = Literal["findings", "findings-per-polarity", "kg-llava", "medmkg", "json"]
FORMATS: tuple[str, ...] = get_args(Format)


class PromptOptions(BaseModel):
    """How the context is written for the model, declared once for the plugin, the service and MCP."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Format = Field("findings", description=(
        "findings (a line per concept, the question's concepts first), findings-per-polarity (a line per concept and "
        "polarity), kg-llava (KG-LLaVA's prompt), medmkg (its evidence lines) or json."))
    max_tokens: int | None = Field(None, ge=1, le=100_000, description=(
        "A budget for the rendered context and question: the lowest-ranked items are dropped to fit (counted with the "
        "model's tokenizer in process, else by words)."))


def _count(tokenizer) -> Callable[[str], int]:
    if tokenizer is None:
        return lambda s: len(s.split())
    if hasattr(tokenizer, "encode"):
        if _takes_special(tokenizer):
            return lambda s: len(tokenizer.encode(s, add_special_tokens=False))
        return lambda s: len(tokenizer.encode(s))
    if callable(tokenizer):
        return lambda s: int(tokenizer(s))
    raise InvalidInput("the tokenizer has no encode() and is not callable", code="E181",
                       fix="pass a transformers tokenizer or a function text -> token count")


def _takes_special(tokenizer) -> bool:
    import inspect

    try:
        return "add_special_tokens" in inspect.signature(tokenizer.encode).parameters or \
            any(p.kind == p.VAR_KEYWORD for p in inspect.signature(tokenizer.encode).parameters.values())
    except (TypeError, ValueError):
        return False


def _span(values) -> str:
    lo, hi = min(values), max(values)
    return f"{hi:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}-{hi:.2f}"


def finding_line(f: Finding) -> str:
    if f.source == "query":  # stated by the query text itself
        return f"{f.concept.name}: {f.polarity.word} (stated in the query)"
    sims = f", cosine {_span(f.similarities)}" if f.similarities else ""
    return f"{f.concept.name}: {f.polarity.word} in {f.cases} of {f.of} similar cases (agreement {f.agreement:.2f}{sims})"


def neighbours_line(ctx: Context) -> str:
    """How many similar images the findings come from and how similar they are to the query: "5 similar images of
    the knowledge graph (cosine 0.97-0.99 to this image; the best at the 32nd percentile of the graph's own best matches)"."""
    n = len(ctx.neighbours)
    rank = ctx.match.graph_percentile if ctx.match is not None else None
    where = f"; the best at the {ordinal(round(rank))} percentile of the graph's own best matches" if rank is not None else ""
    return (f"{n} similar image{'s' if n != 1 else ''} of the knowledge graph (cosine {_span([h.score for h in ctx.neighbours])} to this "
            f"image{where})")


def abstention(ctx: Context) -> str:
    return f"The knowledge graph has no context for this query: {ctx.abstained}. Answer without it."


def triplet_text(t: Triplet) -> str:
    return f"{t.head.name.lower()} {t.relation.lower()} {t.tail.name.lower()}"


class PromptFormat:
    """One way to write a context for a model: a header, item lines in rank order (the lowest-ranked are dropped
    to fit a budget) and a footer, joined with the question. Add one with ``PROMPT_FORMATS.add(name, cls)`` and
    its name in :data:`Format`."""

    def items(self, ctx: Context, question: str | None = None) -> tuple[str, list[str], str]:
        raise NotImplementedError

    def join(self, head: str, lines: list[str], foot: str, question: str | None) -> str:
        text = "\n".join([x for x in (head, *lines, foot) if x])
        return text + (f"\n\n{question}" if question else "")

    def abstained(self, ctx: Context, question: str | None) -> str:
        return abstention(ctx) + (f"\n\n{question}" if question else "")


class FindingsFormat(PromptFormat):
    """One line per concept with its polarity mix ("Pulmonary edema: present in 2 of 5 similar cases (agreement
    0.40, cosine 0.93-0.95); absent in 2 (agreement 0.38, cosine 0.93)"), the concepts the question names first, then
    by their best agreement; then at most :data:`PROMPT_TRIPLETS` triplets, those about a concept the question names
    first."""

    def items(self, ctx: Context, question: str | None = None) -> tuple[str, list[str], str]:
        named = _named(ctx, question)
        by_concept: dict[str, list[Finding]] = {}
        for f in ctx.findings:  # most support first, as retrieval ranks them
            by_concept.setdefault(f.concept.cui, []).append(f)
        order = sorted(by_concept.values(), key=lambda fs: (fs[0].concept.cui not in named,
                                                            -max(f.agreement for f in fs)))
        lines = [f"- {concept_line(fs)}" for fs in order]
        triplets = sorted(ctx.triplets, key=lambda t: not ({t.head.cui, t.tail.cui} & named))[:PROMPT_TRIPLETS]
        lines += [f"- {triplet_text(t)}" for t in triplets]
        head = f"Findings of {neighbours_line(ctx)}:" if ctx.neighbours else "Knowledge graph context:"
        return head, lines, ""


class FindingsPerPolarityFormat(PromptFormat):
    """medkg's first layout: a line per (concept, polarity) in retrieval's order, then every triplet."""

    def items(self, ctx: Context, question: str | None = None) -> tuple[str, list[str], str]:
        lines = [f"- {finding_line(f)}" for f in ctx.findings] + [f"- {triplet_text(t)}" for t in ctx.triplets]
        head = f"Findings of {neighbours_line(ctx)}:" if ctx.neighbours else "Knowledge graph context:"
        return head, lines, ""


PROMPT_TRIPLETS = 8  # triplets in the findings format: those about the question's concepts first


def _named(ctx: Context, question: str | None) -> set[str]:
    """The context's concepts the question names (every word of the concept's name is in the question)."""
    if not question:
        return set()
    words = set(re.findall(r"[a-z0-9]+", question.lower()))
    concepts = {f.concept.cui: f.concept.name for f in ctx.findings}
    concepts |= {c.cui: c.name for t in ctx.triplets for c in (t.head, t.tail)}
    return {cui for cui, name in concepts.items() if (ws := set(re.findall(r"[a-z0-9]+", name.lower()))) and ws <= words}


def concept_line(findings: list[Finding]) -> str:
    """A concept's findings, its most supported polarity first, the others after it with their own counts."""
    first, rest = findings[0], findings[1:]
    if first.source == "query" or not rest:
        return finding_line(first)
    more = []
    for f in rest:
        sims = f", cosine {_span(f.similarities)}" if f.similarities else ""
        more.append(f"{f.polarity.word} in {f.cases} (agreement {f.agreement:.2f}{sims})")
    return finding_line(first) + "; " + "; ".join(more)


class MedmkgFormat(PromptFormat):
    def items(self, ctx: Context, question: str | None = None) -> tuple[str, list[str], str]:
        lines = [f"Triplet {i}: (head, relation, tail) = ({t.head.name}, {t.relation}, {t.tail.name})"
                 for i, t in enumerate(ctx.triplets, 1)]
        lines += [f"Finding: ({f.concept.name}, {f.polarity.word}, {f.cases} of {f.of} similar cases, agreement "
                  f"{f.agreement:.2f})" for f in ctx.findings]
        foot = f"Evidence from {neighbours_line(ctx)}." if ctx.neighbours else ""
        return "", lines, foot


class KgLlavaFormat(PromptFormat):
    def items(self, ctx: Context, question: str | None = None) -> tuple[str, list[str], str]:
        foot = f" They come from {neighbours_line(ctx)}." if ctx.neighbours else ""
        return ("The image-specific triplets from the knowledge graph are: ",
                [triplet_text(t) for t in ctx.triplets] or ["none"], foot)

    def join(self, head: str, lines: list[str], foot: str, question: str | None) -> str:
        body = head + "; ".join(lines or ["none"]) + "." + foot
        return body + (f" And for the given image, {question}" if question else "")

    def abstained(self, ctx: Context, question: str | None) -> str:
        return abstention(ctx) + (f" And for the given image, {question}" if question else "")


class JsonFormat(PromptFormat):
    def items(self, ctx: Context, question: str | None = None) -> tuple[str, list[str], str]:
        items = [json.dumps({"finding": f.concept.name, "cui": f.concept.cui, "polarity": f.polarity.value, "cases": f.cases,
                             "of": f.of, "agreement": f.agreement, "similarities": list(f.similarities),
                             "reports": sorted({c.report_id for c in f.citations if c.report_id})})
                 for f in ctx.findings]
        items += [json.dumps({"head": t.head.name, "relation": t.relation, "tail": t.tail.name, "source": t.source})
                  for t in ctx.triplets]
        return "[", items, "]"

    def join(self, head: str, lines: list[str], foot: str, question: str | None) -> str:
        return head + ", ".join(lines) + foot

    def abstained(self, ctx: Context, question: str | None) -> str:
        return json.dumps([{"abstained": ctx.abstained}])


PROMPT_FORMATS: Registry[PromptFormat] = Registry("prompt format", option="format")
PROMPT_FORMATS.add("findings", FindingsFormat)
PROMPT_FORMATS.add("findings-per-polarity", FindingsPerPolarityFormat)
PROMPT_FORMATS.add("kg-llava", KgLlavaFormat)
PROMPT_FORMATS.add("medmkg", MedmkgFormat)
PROMPT_FORMATS.add("json", JsonFormat)


def prompt_format(name: str) -> PromptFormat:
    if name not in FORMATS:
        raise InvalidInput(f"unknown prompt format {name!r}", code="E182", fix="use one of: " + ", ".join(FORMATS))
    factory, _ = PROMPT_FORMATS.get(name)
    return factory()


def render(ctx: Context, *, format: str = "findings", question: str | None = None, max_tokens: int | None = None,
           tokenizer: Any = None) -> str:
    fmt = prompt_format(format)
    if max_tokens is not None and max_tokens < 1:
        raise InvalidInput(f"max_tokens must be at least 1, not {max_tokens}", code="E183", fix="pass a positive budget")
    if ctx.abstained is not None:
        return fmt.abstained(ctx, question)
    head, lines, foot = fmt.items(ctx, question)
    count = _count(tokenizer)
    while True:
        text = fmt.join(head, lines, foot, question)
        if max_tokens is None or count(text) <= max_tokens or not lines:
            return text
        lines = lines[:-1]
