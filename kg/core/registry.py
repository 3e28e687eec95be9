"""One registry for every pluggable part: extractors, encoders, corpus readers, NaF methods, export formats,
concept indexes, stores and engines are chosen by name.

A spec is ``name`` or ``name:argument`` (``rules:literal``, ``open_clip:hf-hub:org/repo``: everything after the
first colon is the argument). A name may carry a version, ``name.vN``; asking for ``name`` gives the newest.
An unknown name is one error that lists the choices.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kg.core.errors import InvalidInput

T = TypeVar("T")
_VERSIONED = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*)(?:\.v(?P<version>\d+))?$")


@dataclass(frozen=True)
class Spec:
    name: str
    version: int | None
    arg: str | None

    @classmethod
    def parse(cls, spec: str, *, kind: str = "backend") -> Spec:
        head, _, arg = spec.strip().partition(":")
        m = _VERSIONED.match(head)
        if m is None:
            raise InvalidInput(f"{spec!r} is not a {kind} name", code="E101",
                               fix="write name, name:argument or name.vN (lower case letters, digits, - and _)")
        return cls(m["name"], int(m["version"]) if m["version"] else None, arg or None)

    def __str__(self) -> str:
        v = f".v{self.version}" if self.version is not None else ""
        return f"{self.name}{v}" + (f":{self.arg}" if self.arg else "")


class Registry(Generic[T]):
    """Named factories of one kind. ``register`` as a decorator; ``get(spec)`` -> (factory, Spec)."""

    def __init__(self, kind: str, option: str | None = None):
        self.kind = kind
        self.option = option  # the CLI option that names it, for the error message
        self._items: dict[str, dict[int, Callable[..., T]]] = {}

    def register(self, name: str, version: int = 1) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            self.add(name, factory, version=version)
            return factory

        return deco

    def add(self, name: str, factory: Callable[..., T], *, version: int = 1) -> None:
        self._items.setdefault(name, {})[version] = factory

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, spec: str | Spec) -> tuple[Callable[..., T], Spec]:
        s = spec if isinstance(spec, Spec) else Spec.parse(spec, kind=self.kind)
        versions = self._items.get(s.name)
        if not versions:
            opt = f" for {self.option}" if self.option else ""
            raise InvalidInput(f"unknown {self.kind} {s.name!r}", code="E102",
                               fix=f"use one of{opt}: " + ", ".join(self.names()))
        if s.version is None:
            return versions[max(versions)], s
        if s.version not in versions:
            raise InvalidInput(f"{self.kind} {s.name!r} has no version {s.version}", code="E103",
                               fix="use one of: " + ", ".join(f"{s.name}.v{v}" for v in sorted(versions)))
        return versions[s.version], s

    def create(self, spec: str | Spec, *args: Any, **kwargs: Any) -> T:
        """Call the factory with ``(*args, arg, **kwargs)``: the spec's argument (or None) comes last."""
        factory, s = self.get(spec)
        return factory(*args, s.arg, **kwargs)
