"""Read any supported table file whole, or as a stream of record batches.

Inputs are recognised by their path: a ``.parquet`` file, a directory of
Parquet files, a ``.csv`` file, or an Arrow IPC / Feather file (``.arrow``,
``.feather``, ``.ipc``). :class:`TableReader` reads one whole, or streams it
in record batches so memory stays bounded however large the file is.

Every problem a user can cause (a missing, empty or unreadable file, a
directory without Parquet files) raises
:class:`~vae_anomaly.InvalidInputError` with a one-line message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq

from ..exceptions import InvalidInputError
from ..options import DEFAULT_BATCH_ROWS

__all__ = ["TableReader", "table_format", "read_table", "iter_frames", "SUFFIXES"]

_CSV_BLOCK_BYTES = 32 << 20
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv",
             ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow"}
_KIND_NAMES = {"parquet": "Parquet file", "dataset": "Parquet directory", "csv": "CSV file",
               "arrow": "Arrow IPC file"}
_CSV_COLUMN = re.compile(r"In CSV column #(\d+): ")
_READ_ERRORS = (pa.ArrowException, OSError, UnicodeDecodeError)


def table_format(path: str | os.PathLike) -> str:
    """Name the format of ``path`` from its suffix, or ``"dataset"`` for a directory.

    Returns
    -------
    {"parquet", "dataset", "csv", "arrow"}

    Raises
    ------
    InvalidInputError
        If the suffix is not one of ``.parquet``, ``.pq``, ``.csv``, ``.arrow``,
        ``.feather`` or ``.ipc``.
    """
    path = Path(path)
    if path.is_dir():
        return "dataset"
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInputError(
            f"cannot tell the format of {path.name!r} from its suffix; use .parquet, .csv, "
            ".arrow/.feather/.ipc or a directory of .parquet files"
        )
    return fmt


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class TableReader:
    """A table on disk, opened and checked, ready to be read whole or streamed.

    Parameters
    ----------
    path : str or PathLike
        A Parquet, CSV or Arrow IPC file, or a directory of Parquet files.

    Attributes
    ----------
    format : str
        As returned by :func:`table_format`.
    schema : pyarrow.Schema
        Column names and types (for CSV, as inferred from the first block).
    num_rows : int or None
        Row count when the format records it (not for CSV).

    Raises
    ------
    InvalidInputError
        If the path does not exist, is empty, or cannot be read as a table.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise InvalidInputError(f"{self.path} does not exist")
        self.format = table_format(self.path)
        self._files = self._list_files()
        try:
            schema, self.num_rows = self._inspect()
            names = schema.names  # decodes them: a CSV header that is not UTF-8 fails here
        except _READ_ERRORS as exc:
            raise self._unreadable(exc) from None
        self.schema = schema
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise InvalidInputError(f"{self.path.name} has more than one column named {name!r}; rename them")
            seen.add(name)

    def _unreadable(self, exc: BaseException) -> InvalidInputError:
        detail = _first_line(exc)
        found = _CSV_COLUMN.search(detail)
        names = getattr(getattr(self, "schema", None), "names", [])
        if found and int(found.group(1)) < len(names):
            detail = detail.replace(found.group(0), f"column {names[int(found.group(1))]!r}: ")
        return InvalidInputError(f"{self.path.name} is not a readable {_KIND_NAMES[self.format]}: {detail}")

    def _list_files(self) -> list[Path]:
        if self.format != "dataset":
            if self.path.stat().st_size == 0:
                raise InvalidInputError(f"{self.path.name} is empty (0 bytes)")
            return [self.path]
        files = sorted(p for p in self.path.rglob("*.parquet")
                       if p.is_file() and not any(part.startswith((".", "_"))
                                                  for part in p.relative_to(self.path).parts))
        if not files:
            raise InvalidInputError(f"directory {self.path} holds no .parquet files")
        return files

    def _inspect(self) -> tuple[pa.Schema, int | None]:
        if self.format == "parquet":
            meta = pq.ParquetFile(self.path)
            return meta.schema_arrow, meta.metadata.num_rows
        if self.format == "dataset":
            dataset = self._dataset()
            return dataset.schema, sum(pq.ParquetFile(f).metadata.num_rows for f in self._files)
        if self.format == "arrow":
            with pa.memory_map(str(self.path)) as source:
                reader = pa.ipc.open_file(source)
                return reader.schema, reader.count_rows()
        with pa_csv.open_csv(self.path, read_options=pa_csv.ReadOptions(block_size=1 << 20)) as reader:
            return reader.schema, None

    def _dataset(self) -> pa_ds.Dataset:
        scan = pa_ds.ParquetFragmentScanOptions(pre_buffer=False)
        parquet = pa_ds.ParquetFileFormat(default_fragment_scan_options=scan)
        return pa_ds.dataset([str(f) for f in self._files], format=parquet)

    @property
    def files(self) -> list[Path]:
        """The files read, in the order they are read (one for a file; sorted parts for a directory)."""
        return list(self._files)

    @property
    def column_names(self) -> list[str]:
        """Names of the columns, in file order."""
        return list(self.schema.names)

    def require_columns(self, names: Sequence[str], what: str = "column") -> None:
        """Raise naming the first of ``names`` that the table lacks."""
        have = set(self.schema.names)
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
            from the first block (ignored for other formats).

        Raises
        ------
        InvalidInputError
            If the file turns out to be unreadable part way through.
        """
        columns = None if columns is None else list(columns)
        try:
            yield from self._batches(int(batch_size), columns, csv_types or {})
        except _READ_ERRORS as exc:
            raise self._unreadable(exc) from None

    def _batches(self, batch_size: int, columns, csv_types) -> Iterator[pa.RecordBatch]:
        if self.format == "parquet":
            # pre_buffer would read ahead every row group and hold them all: memory would grow with the file.
            source = pq.ParquetFile(self.path, pre_buffer=False)
            yield from source.iter_batches(batch_size=batch_size, columns=columns)
        elif self.format == "dataset":
            yield from self._dataset().to_batches(columns=columns, batch_size=batch_size,
                                                  batch_readahead=2, fragment_readahead=1)
        elif self.format == "arrow":
            with pa.memory_map(str(self.path)) as source:
                reader = pa.ipc.open_file(source)
                for i in range(reader.num_record_batches):
                    batch = reader.get_batch(i)
                    if columns is not None:
                        batch = batch.select(columns)
                    for start in range(0, batch.num_rows, batch_size):
                        yield batch.slice(start, batch_size)
        else:
            yield from self._csv_batches(columns, csv_types)

    def _csv_batches(self, columns, csv_types) -> Iterator[pa.RecordBatch]:
        known = set(self.schema.names)
        convert = pa_csv.ConvertOptions(
            include_columns=columns,
            strings_can_be_null=True,
            column_types={k: v for k, v in csv_types.items() if k in known},
        )
        read = pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
        with pa_csv.open_csv(self.path, read_options=read, convert_options=convert) as reader:
            yield from reader

    # -- whole table -----------------------------------------------------------------------
    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Read the whole table (or ``columns`` of it) into a DataFrame.

        Raises
        ------
        InvalidInputError
            If the file is unreadable or has no rows.
        """
        batches = [b for b in self.iter_batches(columns=columns) if b.num_rows]
        if not batches:
            raise InvalidInputError(f"{self.path.name} has no rows")
        return pa.Table.from_batches(batches).to_pandas()


def read_table(path: str | os.PathLike, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a whole table file (or directory of Parquet files) into a DataFrame."""
    return TableReader(path).read(columns)


def iter_frames(path: str | os.PathLike, batch_size: int = DEFAULT_BATCH_ROWS,
                columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
    """Stream a table as DataFrames of at most about ``batch_size`` rows."""
    for batch in TableReader(path).iter_batches(batch_size, columns):
        yield batch.to_pandas()
