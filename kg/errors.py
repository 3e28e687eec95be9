"""One exception root for medkg.

Every message says what was wrong, where (file, line or record id) and how to fix it.
The CLI maps :class:`InputError` and :class:`UsageError` to exit code 2, everything
else under :class:`KGError` to exit code 1.
"""

from __future__ import annotations


class KGError(Exception):
    """Root of all medkg errors."""

    exit_code = 1

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.what]
        if self.where:
            parts.append(f"(at {self.where})")
        msg = " ".join(parts)
        if self.fix:
            msg += f". Fix: {self.fix}"
        return msg


class UsageError(KGError):
    """The command was called with arguments that cannot work (missing path, unknown name)."""

    exit_code = 2


class InputError(KGError):
    """A record of the input is bad; in a build it is quarantined unless --strict."""

    exit_code = 2


class MissingExtraError(UsageError):
    """An optional dependency group is not installed."""

    def __init__(self, feature: str, extra: str, module: str):
        super().__init__(
            f"{feature} needs the Python package '{module}', which is not installed",
            fix=f"pip install 'medkg[{extra}]'",
        )
