"""Which files of a directory are read as Parquet, and why each of the others is skipped.

A directory is listed recursively through :mod:`pyarrow.fs` (any file
system: local, S3, GCS, Azure, HDFS). The rule, applied to each file's path
below the directory, in this order:

1. Under a directory whose name starts with ``.`` or ``_`` (``.git``,
   ``_delta_log``, ``_temporary``, ``.spark-staging``): skipped, the
   directory named once.
2. A name starting with ``.`` or ``_`` (``_SUCCESS``, ``_metadata``,
   ``_common_metadata``, ``.part-0.parquet.crc``): skipped.
3. A ``.crc`` suffix (Hadoop checksums): skipped.
4. 0 bytes (a marker, or a write that never happened): skipped.
5. A ``.parquet``, ``.pq`` or ``.parq`` suffix, in any case: read.
6. Any other file is read if it starts with the Parquet magic ``PAR1``
   (Hive and Spark write part files without a suffix), else skipped.

Nothing else is skipped: a file read as Parquet that turns out not to be
one is an error, never a silent loss of rows. Hive partition directories
(``site=north``) are ordinary directories here; their keys become columns
when the files are read.
"""

from __future__ import annotations

import pyarrow.fs as pa_fs

from ..exceptions import InvalidInputError
from .location import not_utf8

__all__ = ["PARQUET_SUFFIXES", "PARQUET_MAGIC", "list_parquet", "describe_skipped"]

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
PARQUET_MAGIC = b"PAR1"


def _is_parquet(filesystem: pa_fs.FileSystem, path: str) -> bool:
    """Whether ``path`` starts with the Parquet magic (one read of four bytes)."""
    try:
        with filesystem.open_input_file(path) as source:
            return source.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
    except OSError:
        return False


def _skip_reason(filesystem: pa_fs.FileSystem, info: pa_fs.FileInfo, parts: list[str]) -> str | None:
    """Why ``info`` is skipped (rules 2 to 6 of the module docstring), or None if it is read."""
    name = parts[-1]
    if name.startswith((".", "_")):
        return "hidden or metadata: name starts with '.' or '_'"
    if name.lower().endswith(".crc"):
        return "checksum"
    if info.size == 0:
        return "empty: 0 bytes"
    if name.lower().endswith(PARQUET_SUFFIXES) or _is_parquet(filesystem, info.path):
        return None
    return "not Parquet: no .parquet, .pq or .parq suffix, no PAR1 magic"


def list_parquet(filesystem: pa_fs.FileSystem, root: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The Parquet files below ``root``, in path order, and what was skipped with the reason.

    Parameters
    ----------
    filesystem : pyarrow.fs.FileSystem
    root : str
        A directory in ``filesystem``.

    Returns
    -------
    files : list of str
        Paths in ``filesystem``, sorted by their path segments below ``root``
        (``a/x`` before ``a-b/x``, as :class:`pathlib.Path` sorts).
    skipped : list of (str, str)
        Each skipped file or hidden directory, as a path relative to
        ``root`` (directories end in ``/``), with the reason.

    Raises
    ------
    InvalidInputError
        If a name below ``root`` is not UTF-8 (named with its bytes escaped),
        or the directory cannot be listed.
    """
    try:
        infos = filesystem.get_file_info(pa_fs.FileSelector(root, recursive=True))
        paths = [info.path for info in infos]
    except UnicodeDecodeError as exc:  # pyarrow decodes each name when asked; exc.object is the whole path
        raise not_utf8(exc.object) from None
    except OSError as exc:
        raise InvalidInputError(f"cannot list {root}: {str(exc).strip().splitlines()[0]}") from None
    base = root.rstrip("/") + "/"
    found: list[tuple[list[str], str]] = []
    skipped: dict[str, str] = {}
    hidden_dirs: dict[str, int] = {}
    for info, path in zip(infos, paths, strict=True):
        if info.type != pa_fs.FileType.File:
            continue
        parts = path[len(base):].split("/") if path.startswith(base) else [path.rsplit("/", 1)[-1]]
        hidden = next((i for i, part in enumerate(parts[:-1]) if part.startswith((".", "_"))), None)
        if hidden is not None:
            where = "/".join(parts[:hidden + 1]) + "/"
            hidden_dirs[where] = hidden_dirs.get(where, 0) + 1
            continue
        reason = _skip_reason(filesystem, info, parts)
        if reason is None:
            found.append((parts, path))
        else:
            skipped["/".join(parts)] = reason
    for where, count in hidden_dirs.items():
        skipped[where] = (f"hidden or metadata directory: name starts with '.' or '_', "
                          f"{count} file{'s' if count != 1 else ''}")
    found.sort(key=lambda item: item[0])
    return [path for _, path in found], sorted(skipped.items())


def describe_skipped(skipped: list[tuple[str, str]], where: str | None = None, limit: int = 5) -> str:
    """One line naming what was skipped (in ``where``): the first ``limit`` paths with their reasons.

    Examples
    --------
    >>> describe_skipped([("_SUCCESS", "hidden or metadata"), ("notes.txt", "not Parquet")], "lake")
    'skipped 2 paths in lake: _SUCCESS (hidden or metadata), notes.txt (not Parquet)'
    """
    shown = ", ".join(f"{path} ({reason})" for path, reason in skipped[:limit])
    more = f" and {len(skipped) - limit} more" if len(skipped) > limit else ""
    place = f" in {where}" if where is not None else ""
    return f"skipped {len(skipped)} path{'s' if len(skipped) != 1 else ''}{place}: {shown}{more}"
