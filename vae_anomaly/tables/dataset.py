"""A directory as one Parquet dataset: its files listed, inspected and unified, ready to scan.

Built on :mod:`pyarrow.dataset`: the files that
:func:`~vae_anomaly.tables.discover.list_parquet` keeps, hive partitioning
(keys typed by :func:`~vae_anomaly.tables.unify.partition_schema`), and the
schema of :func:`~vae_anomaly.tables.unify.unify_files` given explicitly,
so every file's rows are cast to it (a column a file lacks is null there).
Scanning the dataset therefore gives, row for row, what
``pyarrow.dataset.dataset(files, schema=..., partitioning="hive")`` gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.fs as pa_fs

from ..exceptions import InvalidInputError
from .discover import describe_skipped, list_parquet
from .unify import TypeChange, pandas_metadata, partition_schema, unify_files

__all__ = ["Directory", "open_directory", "parquet_format", "row_group_pieces"]

_READ_ERRORS = (pa.ArrowException, OSError, UnicodeDecodeError)


def parquet_format() -> pa_ds.ParquetFileFormat:
    """Parquet as every reader here scans it: without pre-buffering, so memory stays bounded."""
    # pre_buffer would read ahead every row group and hold them all: memory would grow with the file.
    return pa_ds.ParquetFileFormat(
        default_fragment_scan_options=pa_ds.ParquetFragmentScanOptions(pre_buffer=False))


@dataclass(frozen=True)
class Directory:
    """What :func:`open_directory` found.

    Attributes
    ----------
    dataset : pyarrow.dataset.FileSystemDataset
        The files with rows, in read order, with the unified schema.
    num_rows : int
    files : list of str
        Paths in the file system of every Parquet file found, 0-row files
        included, in read order.
    skipped : list of (str, str)
        Paths below the directory that are not read, with the reason.
    changes : tuple of TypeChange
        Columns whose type differs between files.
    missing : dict
        Column -> files (with rows) that lack it.
    """

    dataset: pa_ds.FileSystemDataset
    num_rows: int
    files: list[str]
    skipped: list[tuple[str, str]]
    changes: tuple[TypeChange, ...]
    missing: dict[str, tuple[str, ...]]


def open_directory(filesystem: pa_fs.FileSystem, root: str, what: str) -> Directory:
    """List, inspect and unify the Parquet files below ``root`` (reads each file's footer once).

    Parameters
    ----------
    filesystem : pyarrow.fs.FileSystem
    root : str
        The directory, in ``filesystem``.
    what : str
        The directory as messages name it.

    Returns
    -------
    Directory

    Raises
    ------
    InvalidInputError
        If no file below ``root`` is Parquet (what was skipped is named), a
        file's footer is unreadable, or the files cannot be unified.
    """
    files, skipped = list_parquet(filesystem, root)
    if not files:
        why = f": {describe_skipped(skipped, limit=3)}; so it" if skipped else ""
        raise InvalidInputError(f"directory {what}{why} holds no .parquet files")
    base = root.rstrip("/") + "/"
    fmt = parquet_format()
    options = pa_ds.FileSystemFactoryOptions(partition_base_dir=root)
    options.partitioning_factory = pa_ds.HivePartitioning.discover(infer_dictionary=False)
    factory = pa_ds.FileSystemDatasetFactory(filesystem, files, fmt, options)
    discovered = factory.inspect(fragments=0)  # the keys in the paths alone: no file is opened
    entries, scanned = [], []
    for fragment in factory.finish(schema=discovered).get_fragments():
        name = fragment.path[len(base):] if fragment.path.startswith(base) else fragment.path
        try:
            entries.append((name, fragment.physical_schema, fragment.metadata.num_rows))
        except _READ_ERRORS as exc:
            detail = (str(exc).strip() or type(exc).__name__).splitlines()[0]
            raise InvalidInputError(f"{name} in {what} is not a readable Parquet file: {detail}") from None
        if entries[-1][2]:
            scanned.append(fragment.path)
    unified = unify_files(entries, what)
    keys = partition_schema(discovered)
    for name, own, _ in entries:
        both = [key for key in keys.names if key in own.names]
        if both:
            raise InvalidInputError(
                f"cannot read {what} as one table: {name} stores a column {both[0]!r}, which is also a "
                f"partition key in its path ({both[0]}=...); rename the column or the folders")
    schema = pa.schema([f for f in unified.schema if f.name not in keys.names] + list(keys))
    metadata = pandas_metadata([own for _, own, _ in entries], schema)
    schema = schema.with_metadata(metadata) if metadata else schema
    dataset = pa_ds.dataset(scanned, schema=schema, filesystem=filesystem, format=fmt,
                            partition_base_dir=root,
                            partitioning=pa_ds.HivePartitioning(keys) if len(keys) else None)
    return Directory(dataset, sum(rows for _, _, rows in entries), files, skipped,
                     tuple(c for c in unified.changes if c.column not in keys.names),
                     {col: names for col, names in unified.missing.items() if col not in keys.names})


def row_group_pieces(dataset: pa_ds.FileSystemDataset,
                     rows_per_piece: int) -> Iterator[pa_ds.ParquetFileFragment]:
    """Consecutive whole row groups of one file, about ``rows_per_piece`` rows each, in read order.

    Each piece is a picklable fragment that keeps its file's partition keys;
    ``piece.to_table(schema=dataset.schema)`` reads its rows as scanning the
    dataset does.
    """
    for fragment in dataset.get_fragments():
        group, rows = [], 0
        for info in fragment.row_groups:
            group.append(info.id)
            rows += info.num_rows
            if rows >= rows_per_piece:
                yield fragment.subset(row_group_ids=group)
                group, rows = [], 0
        if group and rows:
            yield fragment.subset(row_group_ids=group)
