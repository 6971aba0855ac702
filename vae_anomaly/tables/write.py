"""Write files so that they appear complete or not at all: tables and model files, local or on a store.

:class:`AtomicTableWriter` writes record batches to a temporary file beside
the target and renames it over the target only once everything was written;
:func:`atomic_write_bytes` does the same for a file written in one piece (a
model file). A failed or interrupted run never leaves a partial file, and an
existing file at the target is replaced only by a complete one.

A target may also be a URI on an object store (``s3://``, ``gs://``,
``abfs://``, ``hdfs://``; see :mod:`vae_anomaly.tables.location`). Stores
cannot rename, and pyarrow's output streams to them cannot be aborted:
closing one, even while an exception unwinds or when it is garbage
collected, publishes what was written so far. So the rule there is: the
output is written to a local staging file in the temporary directory
(``TMPDIR``; it needs room for the output), and only once it is complete is
it uploaded, in one call (:func:`pyarrow.fs.copy_files`) that Python
signals cannot cut short. The object appears when the upload completes; an
error or interrupt before that leaves no object, and an existing object is
replaced only by a complete one. A run killed during the upload itself
leaves at most an unfinished multipart upload, which the store never shows
as an object (a bucket lifecycle rule can expire it).

Temporaries that a killed run left behind are removed by the next run that
writes the same output (:mod:`vae_anomaly.tables.temporary`); the writers
report their names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from ..exceptions import InvalidInputError
from .csv_text import csv_batch, csv_schema
from .location import Uri, as_location, split_location
from .targets import check_output_path, check_store_output, output_beside, output_format
from .temporary import hold, release, staging_base, sweep, temporary_beside

__all__ = ["AtomicTableWriter", "StreamTableWriter", "atomic_write_bytes", "check_output_path",
           "output_beside", "output_format", "parquet_options", "remove_leftovers", "temporary_beside"]

Location = Path | Uri


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
    if fmt == "csv":  # nested columns become JSON text (see csv_text)
        return pa_csv.CSVWriter(sink, csv_schema(schema))
    return pa.ipc.new_file(sink, schema)


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


def _upload(local: str | os.PathLike, filesystem: pa_fs.FileSystem, where: str) -> None:
    """Upload the finished staging file ``local`` to ``where`` in one call, which signals do not cut short."""
    pa_fs.copy_files(str(local), where, source_filesystem=pa_fs.LocalFileSystem(),
                     destination_filesystem=filesystem)


def _temporary(path: Location, filesystem: pa_fs.FileSystem | None, where: str) -> tuple[Path, list[str]]:
    """Sweep the temporaries a killed run left for the output, then create this run's one."""
    beside = path if filesystem is None else staging_base(filesystem, where)
    removed = sweep(beside)
    return temporary_beside(beside), removed


def remove_leftovers(path: str | os.PathLike) -> list[str]:
    """Remove the temporaries that earlier, killed runs left for the output ``path``; return their names.

    The writers here do this themselves as they start; a job calls it to
    clear them (and say so) before long work whose output is written at the
    end. See :func:`~vae_anomaly.tables.temporary.sweep` for the rule.

    Raises
    ------
    InvalidInputError
        If ``path`` is a URI that cannot be opened, or its store cannot be reached.
    """
    path = as_location(path)
    if isinstance(path, Path):
        return sweep(path)
    return sweep(staging_base(*split_location(path)))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> list[str]:
    """Write ``data`` to ``path`` through a temporary file and a rename (or, on a store, one upload).

    Returns
    -------
    list of str
        The temporaries that earlier, killed runs left for ``path`` and that
        were removed first (see :mod:`vae_anomaly.tables.temporary`).

    Raises
    ------
    OSError
        If the directory cannot be written (the message names ``path``), or
        the store refuses the upload.
    InvalidInputError
        If a URI cannot be opened, or its store cannot be reached.
    """
    path = as_location(path)
    filesystem, where = check_store_output(path) if isinstance(path, Uri) else (None, str(path))
    tmp, removed = _temporary(path, filesystem, where)
    lock = hold(tmp)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        if filesystem is None:
            _publish(tmp, path)
        else:
            _upload(tmp, filesystem, where)
            _discard(tmp)
    except BaseException:
        _discard(tmp)
        raise
    finally:
        release(lock)
    return removed


class AtomicTableWriter:
    """Write record batches to ``path`` so that it appears complete or not at all.

    Batches go to a hidden temporary file in the target's directory. On a
    clean exit from the ``with`` block the file is flushed to disk and
    renamed over ``path``; on any exception it is deleted and an existing
    file at ``path`` is left untouched. For a target on an object store the
    temporary file is a local staging file, uploaded in one call on a clean
    exit (the rule is in this module's docstring). Entering the block first
    removes the temporaries that earlier, killed runs left for the same
    target (:func:`~vae_anomaly.tables.temporary.sweep`).

    Parameters
    ----------
    path : str or PathLike
        Target file, a local path or a URI; its suffix picks the format
        (``.parquet``, ``.csv``, ``.arrow``).
    schema : pyarrow.Schema, optional
        Schema of the output; if not given, that of the first batch. With a
        schema and no batches an empty table is written.
    fsync : bool, default=True
        Flush the file to disk before the rename.
    filesystem : pyarrow.fs.FileSystem, optional
        The store ``path`` is in; ``path`` is then a path inside it (as
        :func:`~vae_anomaly.tables.location.split_location` returns), not a URI.

    Attributes
    ----------
    path : pathlib.Path or Uri
        The target.
    removed : list of str
        Once entered: the names of the temporaries removed for the target.

    Raises
    ------
    InvalidInputError
        If the output directory is missing or not writable, or the suffix
        names no known format.
    OSError
        On leaving the block, if a store refuses the upload.

    Examples
    --------
    >>> import pyarrow as pa, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> with AtomicTableWriter(out) as w:
    ...     w.write(pa.record_batch({"x": [1.0, 2.0]}))
    >>> os.path.exists(out)
    True
    """

    def __init__(self, path: str | os.PathLike, schema: pa.Schema | None = None, fsync: bool = True, *,
                 filesystem: pa_fs.FileSystem | None = None):
        if filesystem is not None and not isinstance(filesystem, pa_fs.LocalFileSystem):
            self.path: Location = Uri(f"{filesystem.type_name}://{path}")
            self._store, self._where = filesystem, str(path)
        else:
            self.path = check_output_path(path)
            self._store, self._where = (None, str(self.path)) if isinstance(self.path, Path) else \
                check_store_output(self.path)
        self.format = output_format(self.path)
        self.schema = schema
        self.fsync = fsync
        self.rows = 0
        self.removed: list[str] = []
        self._writer = None
        self._tmp: str | None = None
        self._lock: int | None = None

    def __enter__(self) -> AtomicTableWriter:
        try:
            tmp, self.removed = _temporary(self.path, self._store, self._where)
        except OSError as exc:
            where = self.path.parent if self._store is None else "the temporary directory"
            raise InvalidInputError(f"cannot write to {where}: {exc.strerror or exc}") from None
        self._tmp, self._lock = str(tmp), hold(tmp)
        return self

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one record batch."""
        if self._writer is None:
            self.schema = self.schema or batch.schema
            self._writer = _open_format_writer(self._tmp, self.format, self.schema)
        self._writer.write_batch(csv_batch(batch) if self.format == "csv" else batch)
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
        if self._store is None:
            _publish(self._tmp, self.path, self.fsync)
        else:
            _upload(self._tmp, self._store, self._where)
            _discard(self._tmp)
        self._tmp = None
        release(self._lock)
        self._lock = None

    def _abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # the file is deleted next; a failing close changes nothing
                pass
            self._writer = None
        _discard(self._tmp)
        self._tmp = None
        release(self._lock)
        self._lock = None


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
            self._writer = pa_csv.CSVWriter(self.stream, csv_schema(self.schema))
        self._writer.write_batch(csv_batch(batch))
        self.rows += batch.num_rows

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._writer is None and exc_type is None and self.schema is not None:
            self._writer = pa_csv.CSVWriter(self.stream, csv_schema(self.schema))
        if self._writer is not None:
            self._writer.close()
        self.stream.flush()
