"""One exception root for medkg, with codes and categories.

Every message says what was wrong, where (file, line or record id) and how to fix it, and carries a code
(``E101``) that names the mistake in issues and logs, as spaCy's catalogue does. The category decides what a
caller does with it: the CLI's exit code and the HTTP status of the retrieval service. The CLI exits 2 for
anything the user can fix (the message says how) and 1 for a bug in medkg.

=============== ===================================== ========= ======= =========
category        meaning                               codes     exit    HTTP
=============== ===================================== ========= ======= =========
InvalidInput    a value, option or record is wrong    E1xx      2       422 (413 too large)
NotFound        a path, graph, concept or id is absent E2xx      2       404
Conflict        something is in the way (a folder)    E3xx      2       409
Unavailable     a server or optional package is not   E4xx      2       503
                there
KGError         a bug in medkg                        E5xx      1       500
=============== ===================================== ========= ======= =========

A category whose hundred three-digit codes are used up goes on with four digits in the same range: ``E1101``
is invalid input (``E11xx``: the GNN), ``E2101`` not found, and so on.
"""

from __future__ import annotations

from typing import Any


class KGError(Exception):
    """Root of all medkg errors; raised as itself only for medkg's own bugs (category ``internal``)."""

    category = "internal"
    exit_code = 1
    http_status = 500
    default_code = "E500"

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None, code: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        self.code = code or self.default_code
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [f"[{self.code}] {self.what}"]
        if self.where:
            parts.append(f"(at {self.where})")
        msg = " ".join(parts)
        if self.fix:
            msg += f". Fix: {self.fix}"
        return msg

    def as_dict(self) -> dict[str, Any]:
        """For the service and JSON output: code, category, what, where, fix."""
        return {"code": self.code, "category": self.category, "what": self.what, "where": self.where,
                "fix": self.fix}


class InvalidInput(KGError):
    """A value, option or input record that cannot work (bad option value, malformed file, bad record)."""

    category = "invalid_input"
    exit_code = 2
    http_status = 422
    default_code = "E100"


class TooLarge(InvalidInput):
    """An input over a size limit (an upload); the service answers 413."""

    http_status = 413


class Unauthorized(InvalidInput):
    """A request without the service's API key (or with a wrong one); the service answers 401."""

    http_status = 401


class MethodNotAllowed(InvalidInput):
    """A route asked with a method it does not answer; the service answers 405 (with an ``Allow`` header)."""

    http_status = 405


class NotFound(KGError):
    """What was asked for does not exist: a path, a graph folder, a concept, an image id."""

    category = "not_found"
    exit_code = 2
    http_status = 404
    default_code = "E200"


class Conflict(KGError):
    """Something is in the way: an output folder medkg would not overwrite, another writer holding a lock."""

    category = "conflict"
    exit_code = 2
    http_status = 409
    default_code = "E300"


class Unavailable(KGError):
    """A server that does not answer, an optional package or a model that is not installed."""

    category = "unavailable"
    exit_code = 2
    http_status = 503
    default_code = "E400"


class MissingExtraError(Unavailable):
    """An optional dependency group is not installed."""

    def __init__(self, feature: str, extra: str, module: str, *, code: str = "E401"):
        from kg.core.install import install_command

        super().__init__(
            f"{feature} needs medkg[{extra}] (the Python package '{module}' is not installed)",
            fix=install_command(extra), code=code,
        )
        self.extra = extra


CATEGORIES = (InvalidInput, NotFound, Conflict, Unavailable, KGError)
