"""Where data lives: a local path or a URL fsspec reads (object storage, ``file://``), behind one pathlib API."""

from __future__ import annotations

from pathlib import Path


def is_url(location: str | Path) -> bool:
    """``s3://bucket/key``, ``gs://...``, ``file:///...``: a location fsspec reads (not a local path)."""
    scheme, sep, _ = str(location).partition("://")
    return bool(sep) and scheme.isidentifier() and len(scheme) > 1


def location(value: str | Path) -> Path:
    """A local path as a :class:`Path`, a URL as a universal_pathlib ``UPath`` (the same API over fsspec), so the
    readers walk an image root in object storage as they walk a folder. URLs need ``pip install 'medkg[remote]'``
    and the protocol's own fsspec package (s3fs, gcsfs, adlfs)."""
    if not is_url(value):
        return Path(value)
    try:
        from upath import UPath
    except ImportError:
        from kg.core.errors import MissingExtraError

        raise MissingExtraError(f"reading {value}", "remote", "universal_pathlib") from None
    try:
        path = UPath(str(value))
        _ = path.fs  # the file system is made now, so a missing fsspec package is said here
        return path  # type: ignore[return-value]  # a UPath offers Path's API over fsspec
    except (ImportError, ValueError) as exc:  # the protocol's fsspec package is missing, or an unknown protocol
        from kg.core.errors import Unavailable

        scheme = str(value).partition("://")[0]
        package = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}.get(scheme)
        raise Unavailable(f"cannot read {scheme}:// locations: {str(exc).splitlines()[0]}", code="E433",
                          fix=f"pip install {package}" if package else f"install the fsspec implementation for {scheme}://"
                          ) from None
