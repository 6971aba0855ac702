"""Where an output goes: its format, a check that it can be written, a default name; for paths and URIs.

An output is a local path or a URI on a store (see
:mod:`vae_anomaly.tables.location`); the writers of
:mod:`vae_anomaly.tables.write` check it here before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.fs as pa_fs

from ..exceptions import InvalidInputError
from .location import Uri, as_location, split_location
from .read import SUFFIXES

__all__ = ["output_format", "output_beside", "check_output_path", "check_store_output"]


def output_format(path: str | os.PathLike) -> str:
    """Format of an output path or URI from its suffix: ``"parquet"``, ``"csv"`` or ``"arrow"``.

    Raises
    ------
    InvalidInputError
        If the suffix names none of them.
    """
    name = as_location(path).name
    fmt = SUFFIXES.get(os.path.splitext(name)[1].lower())
    if fmt is None:
        raise InvalidInputError(
            f"cannot tell the output format of {name!r}; use .parquet, .csv or .arrow"
        )
    return fmt


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0]


def output_beside(data: str | os.PathLike, suffix: str) -> Path | Uri:
    """An output named after its input: ``x.parquet`` -> ``x{suffix}``, a directory ``d`` -> ``d{suffix}``.

    ``data`` may be a local path or a URI (``s3://b/landing/`` ->
    ``s3://b/landing{suffix}``; a query string is kept).

    Raises
    ------
    InvalidInputError
        If ``data`` is a whole bucket (no output can be named beside it), or
        its store cannot be reached.
    """
    data = as_location(data)
    if isinstance(data, Path):
        return data.with_name(data.name + suffix) if data.is_dir() else data.with_suffix(suffix)
    text, mark, query = data.partition("?")
    filesystem, where = split_location(data)
    head, _, name = text.rstrip("/").rpartition("/")
    if "/" not in where.strip("/"):
        raise InvalidInputError(f"{data} is a whole bucket; name the output")
    try:
        directory = filesystem.get_file_info(where).type == pa_fs.FileType.Directory
    except OSError as exc:
        raise InvalidInputError(f"cannot reach {data}: {_first_line(exc)}") from None
    stem, ext = os.path.splitext(name)
    return Uri(f"{head}/{name if directory or not ext else stem}{suffix}{mark}{query}")


def check_store_output(location: Uri) -> tuple[pa_fs.FileSystem, str]:
    """The store and path of an output URI, checked as far as a store allows without writing.

    Raises
    ------
    InvalidInputError
        If the URI cannot be opened, its store cannot be reached, it names a
        directory, or its bucket (on HDFS, its directory) does not exist.
    """
    filesystem, where = split_location(location)
    parent, _, _ = where.rstrip("/").rpartition("/")
    try:
        if filesystem.get_file_info(where).type == pa_fs.FileType.Directory:
            raise InvalidInputError(f"output {location} is a directory")
        if parent and filesystem.get_file_info(parent).type == pa_fs.FileType.NotFound:
            top = where.split("/", 1)[0]  # a bucket: the prefixes below it need not exist
            if not top or filesystem.get_file_info(top).type == pa_fs.FileType.NotFound:
                shown = location.split("?", 1)[0].rstrip("/").rpartition("/")[0]
                raise InvalidInputError(f"output directory {shown} does not exist")
    except OSError as exc:
        raise InvalidInputError(f"cannot reach {location}: {_first_line(exc)}") from None
    return filesystem, where


def check_output_path(path: str | os.PathLike) -> Path | Uri:
    """Check that ``path`` can be created: its directory exists and is writable.

    For a URI on a store, that it is not a directory and that its bucket
    (or, on HDFS, its directory) exists; whether the store lets this
    process write is known only once it uploads.

    Returns
    -------
    pathlib.Path or Uri
        ``path`` as :func:`~vae_anomaly.tables.location.as_location` keeps it.

    Raises
    ------
    InvalidInputError
        If the directory is missing or not writable, or ``path`` is a directory.
    """
    path = as_location(path)
    if isinstance(path, Uri):
        check_store_output(path)
        return path
    directory = path.parent
    if path.is_dir():
        raise InvalidInputError(f"output {path} is a directory")
    if not directory.is_dir():
        raise InvalidInputError(f"output directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidInputError(f"output directory {directory} is not writable")
    return path
