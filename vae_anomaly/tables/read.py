"""Read any supported table whole, or as a stream of record batches: a file, a folder, or a URI.

An input is a Parquet file (``.parquet``, ``.pq``, ``.parq``, any case, or
any file starting with ``PAR1``), a CSV file (``.csv``), an Arrow IPC /
Feather file (``.arrow``, ``.feather``, ``.ipc``), or a directory read
recursively as one Parquet dataset; each may be a local path or a URI
(:mod:`vae_anomaly.tables.location`). :class:`TableReader` reads one
whole, or streams it in record batches so memory stays bounded however
large it is. A directory is read with :mod:`pyarrow.dataset`: what is
skipped is stated in :mod:`vae_anomaly.tables.discover`, how files that
differ become one table in :mod:`vae_anomaly.tables.unify`, and how a CSV
gets the types of its whole file in :mod:`vae_anomaly.tables.csv_types`.

Every problem a user can cause (a missing, empty or unreadable file, a
directory without Parquet files, files that cannot be unified, a path that
is not UTF-8) raises :class:`~vae_anomaly.InvalidInputError` with a
one-line message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.fs as pa_fs

from ..exceptions import InvalidInputError
from ..options import DEFAULT_BATCH_ROWS
from . import csv_types
from .dataset import open_directory, parquet_format, row_group_pieces
from .discover import describe_skipped
from .files import SUFFIXES, csv_batches, file_batches, inspect_file, sniff_format, source, table_format
from .location import not_utf8, split_location, user_path
from .unify import TypeChange

__all__ = ["TableReader", "table_format", "read_table", "iter_frames", "SUFFIXES"]

_KIND_NAMES = {"parquet": "Parquet file", "dataset": "Parquet directory", "csv": "CSV file",
               "arrow": "Arrow IPC file"}
_CSV_COLUMN = re.compile(r"In CSV column #(\d+): ")
_READ_ERRORS = (pa.ArrowException, OSError, UnicodeDecodeError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class TableReader:
    """A table, opened and checked, ready to be read whole or streamed.

    Parameters
    ----------
    path : str, bytes or PathLike
        A Parquet, CSV or Arrow IPC file, or a directory read recursively
        as one Parquet dataset (hive partition keys become columns); a local
        path or a URI such as ``s3://bucket/landing/``.

    Attributes
    ----------
    path : pathlib.Path or Uri
        The input as given (a :class:`~vae_anomaly.tables.location.Uri`, a
        ``str`` with a ``name``, for remote stores).
    filesystem : pyarrow.fs.FileSystem
    format : str
        As returned by :func:`table_format`.
    num_rows : int or None
        Row count when the format records it (not for CSV).
    skipped : list of (str, str)
        For a directory: each path skipped below it, with the reason (the
        rule is in :mod:`vae_anomaly.tables.discover`).
    missing_columns : dict
        For a directory: column -> the files (with rows) that lack it,
        whose rows hold null there.

    Raises
    ------
    InvalidInputError
        If the path does not exist, is empty, is not UTF-8, or cannot be
        read as a table; or the files of a directory cannot be unified.

    Examples
    --------
    >>> reader = TableReader("sample_data/tabular.parquet")   # doctest: +SKIP
    >>> reader.num_rows, reader.column_names[:2]                 # doctest: +SKIP
    (5000, ['id', 'x0'])
    """

    def __init__(self, path: str | bytes | os.PathLike):
        self.filesystem, self._where = split_location(path)
        self.path = user_path(path, self.filesystem, self._where)
        self.skipped: list[tuple[str, str]] = []
        self.missing_columns: dict[str, tuple[str, ...]] = {}
        self._changes: list[TypeChange] = []
        self._whole_csv: pa.Schema | None = None
        self._files = [self._where]
        info = self._file_info()
        self.format = "dataset" if info.type == pa_fs.FileType.Directory else self._file_format()
        if self.format != "dataset" and info.size == 0:
            raise InvalidInputError(f"{self.path.name} is empty (0 bytes)")
        self._csv = csv_types.CsvTypes(self._source, info.size)
        try:
            schema, self.num_rows = self._inspect()
            names = schema.names  # decodes them: a CSV header that is not UTF-8 fails here
        except _READ_ERRORS as exc:
            raise self._unreadable(exc) from None
        self._schema = schema
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise InvalidInputError(
                    f"{self.path.name} has more than one column named {name!r}; rename them")
            seen.add(name)

    # -- opening ---------------------------------------------------------------------------
    def _file_info(self) -> pa_fs.FileInfo:
        try:
            info = self.filesystem.get_file_info(self._where)
        except UnicodeDecodeError as exc:
            raise not_utf8(exc.object) from None
        except OSError as exc:
            raise InvalidInputError(f"cannot open {self.path}: {_first_line(exc)}") from None
        if info.type == pa_fs.FileType.NotFound:
            raise InvalidInputError(f"{self.path} does not exist")
        return info

    def _file_format(self) -> str:
        """The format by suffix, else by the file's first bytes (``PAR1``, ``ARROW1``)."""
        try:
            return table_format(self.path)
        except InvalidInputError:
            found = sniff_format(self.filesystem, self._where)
            if found is None:
                raise
            return found

    def _source(self):
        return source(self.filesystem, self._where)

    def _unreadable(self, exc: BaseException) -> InvalidInputError:
        detail = _first_line(exc)
        found = _CSV_COLUMN.search(detail)
        names = getattr(getattr(self, "_schema", None), "names", [])
        if found and int(found.group(1)) < len(names):
            detail = detail.replace(found.group(0), f"column {names[int(found.group(1))]!r}: ")
        return InvalidInputError(f"{self.path.name} is not a readable {_KIND_NAMES[self.format]}: {detail}")

    def _inspect(self) -> tuple[pa.Schema, int | None]:
        if self.format == "dataset":
            return self._open_dataset()
        return inspect_file(self.format, self.filesystem, self._where)

    def _open_dataset(self) -> tuple[pa.Schema, int]:
        found = open_directory(self.filesystem, self._where, str(self.path))
        self._dataset, self._files, self.skipped = found.dataset, found.files, found.skipped
        self._changes, self.missing_columns = list(found.changes), found.missing
        return found.dataset.schema, found.num_rows

    # -- what it holds ---------------------------------------------------------------------
    @property
    def schema(self) -> pa.Schema:
        """Column names and types as read (for CSV, the types of the whole file: may read it once more)."""
        if self.format != "csv":
            return self._schema
        if self._whole_csv is None:
            try:
                self._csv.infer(self._schema.names)
                first = self._csv.first_block()
            except _READ_ERRORS as exc:
                raise self._unreadable(exc) from None
            self._whole_csv = pa.schema([f.with_type(self._csv.overrides.get(f.name, f.type)) for f in first])
        return self._whole_csv

    @property
    def files(self) -> list[Path] | list[str]:
        """The files read, in the order they are read (one for a file; sorted parts for a directory).

        Local files as :class:`~pathlib.Path`; for a URI, paths inside :attr:`filesystem`.
        """
        if isinstance(self.filesystem, pa_fs.LocalFileSystem):
            return [Path(f) for f in self._files] if self.format == "dataset" else [self.path]
        return list(self._files)

    @property
    def column_names(self) -> list[str]:
        """Names of the columns, in order (a directory's partition keys last)."""
        return list(self._schema.names)

    @property
    def type_changes(self) -> list[TypeChange]:
        """Columns whose type differs between the files of a directory, or the blocks of a CSV file.

        For CSV, as found by the reads made so far (the columns read without
        a type given by the caller); complete after :meth:`read`.
        """
        return self._changes + self._csv.changes

    def notes(self) -> list[str]:
        """One line each for what a user should hear about: skipped paths, type changes, missing columns."""
        lines = [describe_skipped(self.skipped, str(self.path))] if self.skipped else []
        lines += [f"{change.describe()} ({self.path.name})" for change in self.type_changes]
        for column, files in self.missing_columns.items():
            more = f" and {len(files) - 1} more" if len(files) > 1 else ""
            lines.append(f"column {column!r} is missing from {files[0]}{more} in {self.path.name}: "
                         "read as null there")
        return lines

    def require_columns(self, names: Sequence[str], what: str = "column") -> None:
        """Raise naming the first of ``names`` that the table lacks.

        Raises
        ------
        InvalidInputError
            ``"{what} 'x' is not in data.parquet"``.
        """
        have = set(self._schema.names)
        for name in names:
            if name not in have:
                raise InvalidInputError(f"{what} {name!r} is not in {self.path.name}")

    # -- streaming -------------------------------------------------------------------------
    def iter_batches(self, batch_size: int = DEFAULT_BATCH_ROWS, columns: Sequence[str] | None = None,
                     csv_types: dict[str, pa.DataType] | None = None) -> Iterator[pa.RecordBatch]:
        """Yield the table as record batches of at most about ``batch_size`` rows.

        Parameters
        ----------
        batch_size : int
            Rows per batch (for CSV, the block size in bytes sets the batch).
        columns : sequence of str, optional
            Read only these columns, in this order.
        csv_types : dict, optional
            Arrow types to use for these CSV columns instead of inferring them
            (ignored for other formats). The other columns get the types of
            the whole file.

        Yields
        ------
        pyarrow.RecordBatch
            All with one schema; a directory's rows in file order.

        Raises
        ------
        InvalidInputError
            If the table turns out to be unreadable part way through.
        """
        columns = None if columns is None else list(columns)
        try:
            yield from self._batches(int(batch_size), columns, csv_types or {})
        except _READ_ERRORS as exc:
            raise self._unreadable(exc) from None

    def _batches(self, batch_size: int, columns, given) -> Iterator[pa.RecordBatch]:
        if self.format == "dataset":
            metadata = self._schema.metadata
            for batch in self._dataset.to_batches(columns=columns, batch_size=batch_size,
                                                  batch_readahead=2, fragment_readahead=1):
                yield batch.replace_schema_metadata(metadata)
        elif self.format == "csv":
            given = {k: v for k, v in given.items() if k in set(self._schema.names)}
            types = self._csv.column_types(columns or self._schema.names, given)
            yield from csv_batches(self.filesystem, self._where, columns, types, csv_types.CSV_BLOCK_BYTES)
        else:
            yield from file_batches(self.format, self.filesystem, self._where, self._schema, batch_size,
                                    columns)

    # -- pieces, for readers in other processes --------------------------------------------
    def fragments(self, rows_per_piece: int) -> Iterator[pa_ds.ParquetFileFragment]:
        """A Parquet table as picklable pieces of consecutive row groups of one file, in read order.

        Each holds about ``rows_per_piece`` rows (whole row groups); read one
        with ``piece.to_table(schema=reader.schema)`` for the rows of the
        table, partition keys and unified types included.

        Raises
        ------
        InvalidInputError
            If the table is not Parquet, or a file is unreadable.
        """
        if self.format not in ("parquet", "dataset"):
            raise InvalidInputError(f"{self.path.name} is not Parquet")
        dataset = self._dataset if self.format == "dataset" else pa_ds.dataset(
            [self._where], schema=self._schema, filesystem=self.filesystem, format=parquet_format())
        try:
            yield from row_group_pieces(dataset, rows_per_piece)
        except _READ_ERRORS as exc:
            raise self._unreadable(exc) from None

    # -- whole table -----------------------------------------------------------------------
    def read_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """Read the whole table (or ``columns`` of it) as a :class:`pyarrow.Table`, 0 rows allowed.

        Raises
        ------
        InvalidInputError
            If the table is unreadable.
        """
        batches = list(self.iter_batches(columns=columns))
        if batches:
            return pa.Table.from_batches(batches)
        schema = self._schema if columns is None else pa.schema(
            [self._schema.field(c) for c in columns], metadata=self._schema.metadata)
        return schema.empty_table()

    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Read the whole table (or ``columns`` of it) into a DataFrame.

        Returns
        -------
        DataFrame
            One row per row of the table; an unnamed pandas index stored in
            the files (``__index_level_0__``) is its index.

        Raises
        ------
        InvalidInputError
            If the table is unreadable or has no rows.
        """
        batches = [b for b in self.iter_batches(columns=columns) if b.num_rows]
        if not batches:
            raise InvalidInputError(f"{self.path.name} has no rows")
        return exact_integers(pa.Table.from_batches(batches))


def exact_integers(table: pa.Table) -> pd.DataFrame:
    """``table`` as a DataFrame, its integer columns with missing values as pandas' nullable integers.

    ``Table.to_pandas`` turns an integer column with a null into float64,
    which rounds values beyond 2**53 (64-bit IDs, epoch nanoseconds): a
    model would then record the column as float, and a CSV read with the
    model's types would write the rounded values back out. Nullable integers
    keep every value as it is in the file.
    """
    frame = table.to_pandas()
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_integer(field.type) and column.null_count and frame[field.name].dtype.kind == "f":
            exact = pa.table([column], names=["values"]).to_pandas(types_mapper=_NULLABLE_INTEGERS.get)
            frame[field.name] = exact["values"].array  # by position: the frame may carry a stored index
    return frame


_NULLABLE_INTEGERS = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
                      pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
                      pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype()}


def read_table(path: str | os.PathLike, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a whole table file (or directory of Parquet files) into a DataFrame."""
    return TableReader(path).read(columns)


def iter_frames(path: str | os.PathLike, batch_size: int = DEFAULT_BATCH_ROWS,
                columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
    """Stream a table as DataFrames of at most about ``batch_size`` rows."""
    for batch in TableReader(path).iter_batches(batch_size, columns):
        yield batch.to_pandas()
