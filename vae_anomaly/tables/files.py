"""One table file (Parquet, Arrow IPC or CSV, local or on a store): its format, schema and record batches.

The format comes from the suffix, in any case (:data:`SUFFIXES`), or, for
a file with another suffix or none, from its first bytes (``PAR1`` for
Parquet, ``ARROW1`` for Arrow IPC). A local file is opened by its path,
as pyarrow opens it fastest (Parquet without pre-buffering, so memory stays
bounded; Arrow IPC memory-mapped); a file on a store through its
:class:`pyarrow.fs.FileSystem`. Errors are left to the caller to word.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from ..exceptions import InvalidInputError
from .location import Uri
from .unify import pandas_metadata

__all__ = ["SUFFIXES", "table_format", "sniff_format", "source", "inspect_file", "file_batches",
           "csv_batches"]

SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".parq": "parquet", ".csv": "csv",
            ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow"}
_MAGIC = ((b"PAR1", "parquet"), (b"ARROW1", "arrow"))


def table_format(path: str | os.PathLike) -> str:
    """Name the format of ``path`` from its suffix (any case), or ``"dataset"`` for a local directory.

    Returns
    -------
    {"parquet", "dataset", "csv", "arrow"}

    Raises
    ------
    InvalidInputError
        If the suffix is not one of ``.parquet``, ``.pq``, ``.parq``,
        ``.csv``, ``.arrow``, ``.feather`` or ``.ipc``.
    """
    if not isinstance(path, Uri) and Path(path).is_dir():
        return "dataset"
    name = path.name if isinstance(path, Uri) else Path(path).name
    fmt = SUFFIXES.get(os.path.splitext(name)[1].lower())
    if fmt is None:
        raise InvalidInputError(
            f"cannot tell the format of {name!r} from its suffix; use .parquet, .csv, "
            ".arrow/.feather/.ipc or a directory of .parquet files"
        )
    return fmt


def sniff_format(filesystem: pa_fs.FileSystem, path: str) -> str | None:
    """``"parquet"`` or ``"arrow"`` from the first bytes of the file at ``path``, or None."""
    try:
        with filesystem.open_input_file(path) as opened:
            head = opened.read(6)
    except OSError:
        return None
    return next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)


def source(filesystem: pa_fs.FileSystem, path: str):
    """What pyarrow opens: the local path itself, else an input file of the store."""
    if isinstance(filesystem, pa_fs.LocalFileSystem):
        return path
    return filesystem.open_input_file(path)


@contextmanager
def _ipc(filesystem: pa_fs.FileSystem, path: str) -> Iterator[pa.ipc.RecordBatchFileReader]:
    local = isinstance(filesystem, pa_fs.LocalFileSystem)
    with (pa.memory_map(path) if local else filesystem.open_input_file(path)) as opened:
        yield pa.ipc.open_file(opened)


def _index_as_columns(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its pandas metadata as :func:`~vae_anomaly.tables.unify.pandas_metadata` reads it."""
    fixed = pandas_metadata([schema], schema)
    return schema if fixed is schema.metadata else schema.with_metadata(fixed)


def inspect_file(fmt: str, filesystem: pa_fs.FileSystem, path: str) -> tuple[pa.Schema, int | None]:
    """The schema and row count of a file (for CSV: the first megabyte's types, and no count).

    Raises
    ------
    pyarrow.ArrowException, OSError
        If the file cannot be read as ``fmt``.
    """
    if fmt == "parquet":
        with pq.ParquetFile(source(filesystem, path)) as meta:
            return _index_as_columns(meta.schema_arrow), meta.metadata.num_rows
    if fmt == "arrow":
        with _ipc(filesystem, path) as reader:
            return _index_as_columns(reader.schema), reader.count_rows()
    read = pa_csv.ReadOptions(block_size=1 << 20)
    with pa_csv.open_csv(source(filesystem, path), read_options=read) as reader:
        return reader.schema, None


def file_batches(fmt: str, filesystem: pa_fs.FileSystem, path: str, schema: pa.Schema, batch_size: int,
                 columns: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet or Arrow IPC file in batches of at most ``batch_size`` rows, ``schema``'s metadata on.

    Raises
    ------
    pyarrow.ArrowException, OSError
        If the file turns out to be unreadable.
    """
    metadata = schema.metadata
    if fmt == "parquet":
        # pre_buffer would read ahead every row group and hold them all: memory would grow with the file.
        parquet = pq.ParquetFile(source(filesystem, path), pre_buffer=False)
        same = parquet.schema_arrow.metadata == metadata
        for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
            yield batch if same else batch.replace_schema_metadata(metadata)
        return
    with _ipc(filesystem, path) as reader:
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i).replace_schema_metadata(metadata)
            if columns is not None:
                batch = batch.select(columns)
            for start in range(0, batch.num_rows, batch_size):
                yield batch.slice(start, batch_size)


def csv_batches(filesystem: pa_fs.FileSystem, path: str, columns: Sequence[str] | None,
                types: dict[str, pa.DataType], block_size: int) -> Iterator[pa.RecordBatch]:
    """Stream a CSV file block by block: ``types`` as given, other columns as inferred from the first block.

    Raises
    ------
    pyarrow.ArrowException, OSError
        If a value does not convert, or the file is unreadable.
    """
    convert = pa_csv.ConvertOptions(include_columns=columns, strings_can_be_null=True, column_types=types)
    read = pa_csv.ReadOptions(block_size=block_size)
    with pa_csv.open_csv(source(filesystem, path), read_options=read, convert_options=convert) as reader:
        yield from reader
