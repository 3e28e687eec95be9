"""The build's output folder: medkg replaces only what it wrote, and only once the new build is complete.

A build writes everything into ``DIR/.medkg-staging/`` first. Only when that is complete does it mark the
staging folder (``.complete``, which lists the parts and the files the previous build owned) and swap its
parts into ``DIR`` one ``os.replace`` at a time, the manifest last; the previous parts wait in
``DIR/.medkg-previous/`` until every new part is in. A build that fails or is killed before the mark leaves the
previous build untouched (the stale staging folder is removed by the next command that opens ``DIR``); one
killed during the swap is finished by the next command that opens ``DIR`` (:func:`recover`), so readers never
see a mix of two builds.

What a build owns is listed in its manifest (``files``); anything else in ``DIR`` — the user's notes, figures,
an earlier GraphML export — is never deleted or overwritten, also when it sits inside one of medkg's folders.
A folder that is not empty and holds no medkg build is refused unless ``force``; even then a path medkg would
write that already exists there is refused, never replaced.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from graph.store.manifest import Manifest, load_manifest
from kg.core.errors import Conflict, InvalidInput, KGError

# The parts of a build, in swap order: the manifest last, so a folder whose manifest is new is complete.
PARTS = ("nodes", "edges", "index", "retrieval", "gnn", "quarantine.jsonl", "report.html", "manifest.json")
# What builds that predate the `files` list wrote.
LEGACY_PARTS = ("nodes", "edges", "index", "quarantine.jsonl", "manifest.json")
STAGING = ".medkg-staging"
PREVIOUS = ".medkg-previous"
LOCK = ".medkg-lock"
COMPLETE = ".complete"
DISPLACED = "medkg-displaced"
HIDDEN = (STAGING, PREVIOUS, LOCK)


class OutputConflict(Conflict):
    """The output folder holds something medkg will not replace."""


def owned_files(out: Path, manifest: Manifest | None) -> set[str]:
    """Relative paths (POSIX) of the files the build in ``out`` wrote."""
    if manifest is None:
        return set()
    if manifest.files is not None:
        return set(manifest.files)
    owned: set[str] = set()
    for part in LEGACY_PARTS:
        p = out / part
        if p.is_file():
            owned.add(part)
        elif p.is_dir():
            owned.update(f.relative_to(out).as_posix() for f in p.rglob("*") if f.is_file())
    return owned


def _top(rel: str) -> str:
    return rel.split("/", 1)[0]


@contextmanager
def locked(out: Path, *, wait_s: float = 0.0) -> Iterator[None]:
    """An exclusive lock on ``out`` for one writer; raises if another build holds it past ``wait_s``."""
    fh = open(out / LOCK, "a+")
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Conflict(f"another medkg command is writing to {out}", code="E305",
                                     fix="wait for it to finish, or choose another --out") from None
                time.sleep(0.05)
        yield
    finally:
        fh.close()


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def _finish(out: Path) -> None:
    """Complete a swap whose staging folder is marked complete (idempotent; safe to repeat after a kill)."""
    staging, previous = out / STAGING, out / PREVIOUS
    plan = json.loads((staging / COMPLETE).read_text(encoding="utf-8"))
    old_owned = set(plan["previousFiles"])
    for part in plan["parts"]:
        src = staging / part
        if not src.exists() and not src.is_symlink():
            continue  # already swapped in
        dst = out / part
        if dst.exists() or dst.is_symlink():
            _move(dst, previous / part)
        os.replace(src, dst)
    # previous parts the new build does not have (a build of an older version wrote more)
    for part in sorted({_top(f) for f in old_owned} - set(plan["parts"])):
        p = out / part
        if (p.exists() or p.is_symlink()) and (p.is_dir() or part in old_owned):
            _move(p, previous / part)
    if previous.is_dir():
        _rescue_foreign(out, previous, old_owned)
        shutil.rmtree(previous)
    shutil.rmtree(staging)


def _rescue_foreign(out: Path, previous: Path, old_owned: set[str]) -> None:
    """Files in the previous parts that the previous build did not write go back where they were."""
    for f in sorted(previous.rglob("*")):
        if f.is_dir() and not f.is_symlink():
            continue
        rel = f.relative_to(previous).as_posix()
        if rel in old_owned:
            continue
        dest = out / rel
        if dest.exists() or dest.is_symlink():
            dest = out / DISPLACED / rel
            if dest.exists():
                dest = dest.with_name(f"{dest.name}.{int(time.time())}")
        _move(f, dest)


def recover(out: Path) -> None:
    """Finish a build that was killed while swapping its parts in, or drop one killed before that.

    Called by every reader of a build folder and by the next build; does nothing when the folder is clean."""
    staging, previous = out / STAGING, out / PREVIOUS
    if not staging.exists() and not previous.exists():
        return
    complete = (staging / COMPLETE).is_file()
    try:
        # a swap in progress takes milliseconds: wait for it; a staging build in progress is not ours to touch
        with locked(out, wait_s=30.0 if complete else 0.0):
            if (staging / COMPLETE).is_file():
                _finish(out)
            else:
                if staging.exists():
                    shutil.rmtree(staging)
                if previous.exists():  # only left when a finished swap was killed while clearing up
                    shutil.rmtree(previous)
    except Conflict:
        if complete:
            raise
    except OSError as exc:
        if complete:
            raise KGError(f"{out} holds a build that was interrupted while being swapped in, and it cannot be "
                          f"finished: {exc}", code="E503", fix=f"make {out} writable and run any kg command on it") from None


def read_manifest(out: Path) -> Manifest:
    """The typed manifest of the build in ``out``, after finishing (or dropping) a build that was killed while
    it was being written there: what every reader of a build folder calls."""
    if out.is_dir():
        recover(out)
    return load_manifest(out)


def _build_in(out: Path) -> Manifest | None:
    """The manifest of the medkg build in ``out`` in any store format, or None where the folder holds none."""
    try:
        return load_manifest(out, any_format=True)
    except KGError:
        return None


class BuildOutput:
    """Writes a build into ``DIR/.medkg-staging`` and swaps it in with :meth:`commit`. Use as a context manager:
    leaving it without commit (an error) removes the staging folder and leaves the previous build as it was."""

    def __init__(self, out: Path, *, force: bool = False):
        self.out = Path(out)
        self.force = force
        self._lock: AbstractContextManager[None] | None = None

    def check(self) -> None:
        """Everything that can be known before any work: a folder, writable, medkg's or empty (or ``force``)."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise InvalidInput(f"--out {out} is a file, not a folder", code="E151", fix="pass a folder path to --out")
        if not out.exists():
            parent = next((p for p in out.absolute().parents if p.exists()), None)
            if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
                raise InvalidInput(f"cannot create the output folder {out}: {parent} is not writable", code="E153",
                                 fix="choose an --out folder you can write to")
            return
        if not os.access(out, os.W_OK | os.X_OK):
            raise InvalidInput(f"cannot write to the output folder {out}", code="E152", fix="choose an --out folder you can write to")
        recover(out)
        manifest = _build_in(out)
        foreign = sorted(p.name for p in out.iterdir() if p.name not in HIDDEN)
        if manifest is None and foreign and not self.force:
            raise Conflict(
                f"output folder {out} is not empty and holds no medkg build ({len(foreign)} "
                f"{'entry' if len(foreign) == 1 else 'entries'}, e.g. {', '.join(foreign[:3])})", code="E303",
                fix="choose a new --out folder, or pass --force to add the build beside what is there "
                    "(medkg never replaces files it did not write)")
        owned = owned_files(out, manifest)
        clashes = [p for p in PARTS if (out / p).exists() and p not in {_top(f) for f in owned}]
        if clashes:
            raise OutputConflict(
                f"{out} holds {', '.join(clashes)}, which medkg did not write and a build would replace", code="E304",
                fix="move that away or choose another --out folder")

    def __enter__(self) -> Path:
        self.check()
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = locked(self.out)
        self._lock.__enter__()
        staging = self.out / STAGING
        if staging.exists():
            shutil.rmtree(staging)  # a build killed before its swap (ours: only medkg writes here)
        staging.mkdir()
        return staging

    def files(self) -> list[str]:
        """The files staged so far, as the manifest lists them."""
        staging = self.out / STAGING
        return sorted(f.relative_to(staging).as_posix() for f in staging.rglob("*") if f.is_file()
                      and f.name != COMPLETE)

    def commit(self) -> None:
        staging = self.out / STAGING
        parts = [p for p in PARTS if (staging / p).exists()]
        extra = sorted({_top(f) for f in self.files()} - set(parts))
        if extra:
            raise KGError(f"internal: the build staged unknown parts {extra}", code="E502", fix="report this to the medkg developers")
        old = owned_files(self.out, _build_in(self.out))
        plan = {"parts": parts, "previousFiles": sorted(old)}
        tmp = staging / (COMPLETE + ".tmp")
        tmp.write_text(json.dumps(plan), encoding="utf-8")
        os.replace(tmp, staging / COMPLETE)
        _finish(self.out)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            staging = self.out / STAGING
            if exc_type is not None and staging.exists() and not (staging / COMPLETE).is_file():
                shutil.rmtree(staging, ignore_errors=True)
        finally:
            if self._lock is not None:
                self._lock.__exit__(exc_type, exc, tb)
