"""Where a table lives: a local path or a URI, turned into a pyarrow file system and a path in it.

Any URI that :meth:`pyarrow.fs.FileSystem.from_uri` understands is accepted
(``s3://``, ``gs://``, ``abfs://``, ``hdfs://``, ``file://``); anything
else is a local path. Credentials and endpoints come only from each store's
standard environment and configuration, read by pyarrow itself (for S3:
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE`` and the files
under ``~/.aws``; for Google Cloud Storage: ``GOOGLE_APPLICATION_CREDENTIALS``;
for Azure: ``AZURE_STORAGE_ACCOUNT_NAME`` and its companions).

pyarrow reads UTF-8 paths only, so a path whose bytes are not UTF-8 is
refused with :func:`not_utf8`, naming it with its bytes escaped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pa_fs

from ..exceptions import InvalidInputError

__all__ = ["Uri", "is_uri", "as_location", "same_location", "split_location", "show_path", "not_utf8"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")  # two letters at least: "C:\x" is a drive


class Uri(str):
    """A URI as the user wrote it, with the ``name`` (last path segment) that messages use."""

    @property
    def name(self) -> str:
        """The last non-empty segment of the URI's path (the bucket for a bare bucket)."""
        rest = self.split("://", 1)[-1].split("?", 1)[0].rstrip("/")
        return rest.rsplit("/", 1)[-1]


def is_uri(location: str | os.PathLike | bytes) -> bool:
    """True if ``location`` starts with a ``scheme://`` (``file://`` included)."""
    return isinstance(location, str) and bool(_SCHEME.match(location))


def show_path(path: str | bytes | os.PathLike) -> str:
    """``path`` for a message: valid UTF-8 as it is, other bytes as backslash escapes (``\\xff``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def not_utf8(path: str | bytes | os.PathLike) -> InvalidInputError:
    """The one-line error for a path that is not UTF-8 (returned, for the caller to raise)."""
    return InvalidInputError(f"the path {show_path(path)} is not valid UTF-8, and pyarrow reads UTF-8 "
                             "paths only; rename it")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def split_location(location: str | bytes | os.PathLike) -> tuple[pa_fs.FileSystem, str]:
    """Turn a user's path or URI into a pyarrow file system and the path inside it.

    Parameters
    ----------
    location : str, bytes or PathLike
        A local path (relative paths are made absolute), or a URI with a
        scheme :meth:`pyarrow.fs.FileSystem.from_uri` knows.

    Returns
    -------
    filesystem : pyarrow.fs.FileSystem
        :class:`pyarrow.fs.LocalFileSystem` for local paths and ``file://``.
    path : str
        The path inside ``filesystem`` (``bucket/key`` for object stores).

    Raises
    ------
    InvalidInputError
        If the path is not UTF-8, the URI's scheme is unknown or malformed,
        or the store cannot be reached to set the file system up (for S3,
        pyarrow asks the bucket for its region); one line each.

    Examples
    --------
    >>> fs, path = split_location("file:///tmp/data.parquet")
    >>> type(fs).__name__, path
    ('LocalFileSystem', '/tmp/data.parquet')
    """
    text = os.fsdecode(location)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise not_utf8(text) from None
    if not is_uri(text):
        return pa_fs.LocalFileSystem(), os.path.abspath(text)
    try:
        return pa_fs.FileSystem.from_uri(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"{text} is not a URI pyarrow can open: {_first_line(exc)}") from None
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInputError(f"cannot reach {text}: {_first_line(exc)}") from None


def user_path(location: str | bytes | os.PathLike, filesystem: pa_fs.FileSystem, path: str) -> Path | Uri:
    """What :attr:`TableReader.path` shows: a :class:`~pathlib.Path` for local files, else a :class:`Uri`."""
    if isinstance(filesystem, pa_fs.LocalFileSystem):
        return Path(os.fsdecode(location)) if not is_uri(os.fsdecode(location)) else Path(path)
    return Uri(os.fsdecode(location))


def as_location(location: str | bytes | os.PathLike) -> Path | Uri:
    """A path or URI as the library keeps it: a :class:`~pathlib.Path` if local, else a :class:`Uri`.

    ``file://`` URIs are local paths. Nothing is opened or reached: ``s3://b/x.parquet`` stays a :class:`Uri`
    (where ``Path`` would collapse it to ``s3:/b/x.parquet``).
    """
    text = os.fsdecode(location)
    if not is_uri(text):
        return Path(text)
    if text.split(":", 1)[0].lower() == "file":
        return Path(split_location(text)[1])
    return Uri(text)


def same_location(a: Path | Uri, b: Path | Uri) -> bool:
    """Whether two locations from :func:`as_location` name one file: one existing local file, or one URI."""
    if isinstance(a, Path) and isinstance(b, Path):
        return a.exists() and b.exists() and a.resolve() == b.resolve()
    return str(a).rstrip("/") == str(b).rstrip("/")
