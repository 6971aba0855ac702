"""Write files so that they appear complete or not at all: tables and model files.

:class:`AtomicTableWriter` writes record batches to a temporary file beside
the target and renames it over the target only once everything was written;
:func:`atomic_write_bytes` does the same for a file written in one piece (a
model file). A failed or interrupted run never leaves a partial file, and an
existing file at the target is replaced only by a complete one.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..exceptions import InvalidInputError
from .read import SUFFIXES

__all__ = ["AtomicTableWriter", "StreamTableWriter", "atomic_write_bytes", "check_output_path",
           "output_format", "parquet_options", "temporary_beside"]


def output_format(path: str | os.PathLike) -> str:
    """Format of an output path from its suffix: ``"parquet"``, ``"csv"`` or ``"arrow"``."""
    fmt = SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidInputError(
            f"cannot tell the output format of {Path(path).name!r}; use .parquet, .csv or .arrow"
        )
    return fmt


def check_output_path(path: str | os.PathLike) -> Path:
    """Check that ``path`` can be created: its directory exists and is writable.

    Raises
    ------
    InvalidInputError
        If the directory is missing or not writable, or ``path`` is a directory.
    """
    path = Path(path)
    directory = path.parent
    if path.is_dir():
        raise InvalidInputError(f"output {path} is a directory")
    if not directory.is_dir():
        raise InvalidInputError(f"output directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidInputError(f"output directory {directory} is not writable")
    return path


def parquet_options(schema: pa.Schema) -> dict:
    """Writer options: snappy, and dictionary pages only for non-float columns.

    Trying a dictionary on float columns, whose values rarely repeat, costs
    several times the rest of the write and saves nothing.
    """
    keep_dict = [f.name for f in schema if not pa.types.is_floating(f.type)]
    return {"compression": "snappy", "use_dictionary": keep_dict}


def _open_format_writer(sink, fmt: str, schema: pa.Schema):
    if fmt == "parquet":
        return pq.ParquetWriter(sink, schema, **parquet_options(schema))
    if fmt == "csv":
        return pa_csv.CSVWriter(sink, schema)
    return pa.ipc.new_file(sink, schema)


def temporary_beside(path: str | os.PathLike, directory: bool = False) -> Path:
    """Create a new, empty hidden file (or directory) beside ``path``: ``.NAME.XXXXXXXX.tmp``.

    It is created with mode 0o666 (0o777 for a directory) and the kernel
    applies the process's umask, so it has the permissions any new file
    gets there, and keeps them when renamed into place. The umask is never
    read or changed (changing it is not safe while other threads create
    files).

    Raises
    ------
    OSError
        If nothing can be created in ``path``'s directory; the message names
        ``path``, not the temporary name.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            if directory:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, flags, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def _publish(tmp: str | os.PathLike, path: Path, fsync: bool = True) -> None:
    """Flush ``tmp`` to disk and rename it to ``path``; it already has the usual permissions."""
    if fsync:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, path)


def _discard(tmp: str | os.PathLike | None) -> None:
    if tmp is not None:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Raises
    ------
    OSError
        If the directory cannot be written; the message names ``path``.
    """
    path = Path(path)
    tmp = temporary_beside(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        _publish(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


class AtomicTableWriter:
    """Write record batches to ``path`` so that it appears complete or not at all.

    Batches go to a hidden temporary file in the target's directory. On a
    clean exit from the ``with`` block the file is flushed to disk and
    renamed over ``path``; on any exception it is deleted and an existing
    file at ``path`` is left untouched.

    Parameters
    ----------
    path : str or PathLike
        Target file; its suffix picks the format (``.parquet``, ``.csv``, ``.arrow``).
    schema : pyarrow.Schema, optional
        Schema of the output; if not given, that of the first batch. With a
        schema and no batches an empty table is written.
    fsync : bool, default=True
        Flush the file to disk before the rename.

    Raises
    ------
    InvalidInputError
        If the output directory is missing or not writable, or the suffix
        names no known format.

    Examples
    --------
    >>> import pyarrow as pa, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> with AtomicTableWriter(out) as w:
    ...     w.write(pa.record_batch({"x": [1.0, 2.0]}))
    >>> os.path.exists(out)
    True
    """

    def __init__(self, path: str | os.PathLike, schema: pa.Schema | None = None, fsync: bool = True):
        self.path = check_output_path(path)
        self.format = output_format(self.path)
        self.schema = schema
        self.fsync = fsync
        self.rows = 0
        self._writer = None
        self._tmp: str | None = None

    def __enter__(self) -> AtomicTableWriter:
        try:
            self._tmp = str(temporary_beside(self.path))
        except OSError as exc:
            raise InvalidInputError(f"cannot write to {self.path.parent}: {exc.strerror or exc}") from None
        return self

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one record batch."""
        if self._writer is None:
            self.schema = self.schema or batch.schema
            self._writer = _open_format_writer(self._tmp, self.format, self.schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self._commit()
                return
            except BaseException:
                self._abort()
                raise
        self._abort()

    def _commit(self) -> None:
        if self._writer is None:
            if self.schema is None:
                raise InvalidInputError(f"nothing was written to {self.path.name}")
            self._writer = _open_format_writer(self._tmp, self.format, self.schema)
        self._writer.close()
        self._writer = None
        _publish(self._tmp, self.path, self.fsync)
        self._tmp = None

    def _abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # the file is deleted next; a failing close changes nothing
                pass
            self._writer = None
        _discard(self._tmp)
        self._tmp = None


class StreamTableWriter:
    """Write record batches as CSV to an open binary stream such as stdout.

    Nothing here is atomic: a failure part way leaves the rows written so
    far in the stream. Same interface as :class:`AtomicTableWriter`.
    """

    def __init__(self, stream: BinaryIO, schema: pa.Schema | None = None):
        self.stream = stream
        self.schema = schema
        self.rows = 0
        self._writer = None

    def __enter__(self) -> StreamTableWriter:
        return self

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one record batch as CSV rows (the header comes first)."""
        if self._writer is None:
            self.schema = self.schema or batch.schema
            self._writer = pa_csv.CSVWriter(self.stream, self.schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._writer is None and exc_type is None and self.schema is not None:
            self._writer = pa_csv.CSVWriter(self.stream, self.schema)
        if self._writer is not None:
            self._writer.close()
        self.stream.flush()
