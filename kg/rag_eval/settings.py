"""The context settings a `kg eval rag` run compares: ``none`` (the model alone), ``fixed:K`` (the K nearest
images), ``ratio:G`` (MMed-RAG's ratio truncation over the 20 nearest: keep neighbour j while s1/sj < G) and
``auto`` (the k `kg calibrate` chose, with its guarantee)."""

from __future__ import annotations

from dataclasses import dataclass

from graph.retrieve import QueryOptions
from kg.core.errors import InvalidInput

RATIO_CANDIDATES = 20  # MMed-RAG truncates a ranked list; this is its length


@dataclass(frozen=True)
class ContextSetting:
    name: str
    options: QueryOptions | None  # None: no context

    @property
    def uses_context(self) -> bool:
        return self.options is not None


def parse_settings(spec: str, *, hops: int = 1) -> list[ContextSetting]:
    """``none,fixed:7,ratio:1.5,auto`` -> the settings, in that order (``none`` first when it is given)."""
    out: list[ContextSetting] = []
    for raw in (s.strip() for s in spec.split(",")):
        if not raw:
            continue
        head, _, arg = raw.partition(":")
        try:
            if raw == "none":
                out.append(ContextSetting("none", None))
            elif head == "fixed":
                out.append(ContextSetting(raw, QueryOptions(k=int(arg), hops=hops)))
            elif head == "ratio":
                out.append(ContextSetting(raw, QueryOptions(k=RATIO_CANDIDATES, gamma=float(arg), hops=hops)))
            elif raw == "auto":
                out.append(ContextSetting(raw, QueryOptions(k="auto", hops=hops)))
            else:
                raise ValueError(raw)
        except (ValueError, TypeError):
            raise InvalidInput(f"unknown context setting {raw!r}", code="E1170", where="--contexts",
                               fix="use none, fixed:K (1-200), ratio:G (G > 1) or auto, comma-separated") from None
    if len({s.name for s in out}) != len(out) or not out:
        raise InvalidInput(f"--contexts {spec!r} names no setting or one twice", code="E1171", where="--contexts",
                           fix="e.g. --contexts none,fixed:7,ratio:1.5,auto")
    return sorted(out, key=lambda s: s.name != "none")
