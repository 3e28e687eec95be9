"""The context settings a `kg eval rag` run compares: ``none`` (the model alone), ``fixed:K`` (the K nearest
images), ``ratio:G`` (MMed-RAG's ratio truncation over the 20 nearest: keep neighbour j while s1/sj < G) and
``auto`` (the k `kg calibrate` chose, with its guarantee); each may name its prompt format after a slash
(``fixed:7/findings-per-polarity``), so one run compares layouts too."""

from __future__ import annotations

from dataclasses import dataclass

from graph.retrieve import QueryOptions
from kg.core.errors import InvalidInput

RATIO_CANDIDATES = 20  # MMed-RAG truncates a ranked list; this is its length


@dataclass(frozen=True)
class ContextSetting:
    name: str
    options: QueryOptions | None  # None: no context
    format: str | None = None  # the prompt format of this setting (``fixed:7/findings-per-polarity``); None: --format

    @property
    def uses_context(self) -> bool:
        return self.options is not None


def parse_settings(spec: str, *, hops: int = 1) -> list[ContextSetting]:
    """``none,fixed:7,ratio:1.5,auto`` -> the settings, in that order (``none`` first when it is given)."""
    out: list[ContextSetting] = []
    from kg.rag.prompt import FORMATS

    for raw in (s.strip() for s in spec.split(",")):
        if not raw:
            continue
        what, _, fmt = raw.partition("/")
        head, _, arg = what.partition(":")
        try:
            if fmt and (fmt not in FORMATS or what == "none"):
                raise ValueError(raw)
            if what == "none":
                options = None
            elif head == "fixed":
                options = QueryOptions(k=int(arg), hops=hops)
            elif head == "ratio":
                options = QueryOptions(k=RATIO_CANDIDATES, gamma=float(arg), hops=hops)
            elif what == "auto":
                options = QueryOptions(k="auto", hops=hops)
            else:
                raise ValueError(raw)
        except (ValueError, TypeError):
            raise InvalidInput(f"unknown context setting {raw!r}", code="E1170", where="--contexts",
                               fix="use none, fixed:K (1-200), ratio:G (G > 1) or auto, each optionally with a "
                                   "prompt format (fixed:7/findings-per-polarity; formats: " + ", ".join(FORMATS)
                                   + "), comma-separated") from None
        out.append(ContextSetting(raw, options, fmt or None))
    if len({s.name for s in out}) != len(out) or not out:
        raise InvalidInput(f"--contexts {spec!r} names no setting or one twice", code="E1171", where="--contexts",
                           fix="e.g. --contexts none,fixed:7,ratio:1.5,auto")
    return sorted(out, key=lambda s: s.name != "none")
