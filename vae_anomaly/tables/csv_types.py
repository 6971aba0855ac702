"""CSV column types for the whole file, found block by block in a streaming first pass.

pyarrow's streaming CSV reader infers each column's type from the first
block (``block_size`` bytes) and fails when a later block holds a value of
another type: a column of numbers that turns to text after 32 MB. Reading
the whole file into memory to infer would defeat streaming, so a file
larger than one block is read twice:

1. A first pass reads the columns as text, one block at a time, and infers
   each block's types with pyarrow's own CSV inference (the block written
   back as CSV and read again; a block whose text casts to the number type
   found so far needs no more), then widens them across blocks:
   null to any type; int64 and double to double; timestamps to the finer
   unit, and dates with timestamps to timestamps; binary with anything to
   binary; any other mix to string. A column stops being inferred once it
   is string, and the pass stops early once every column is.
2. The real pass streams the file with those types given as
   ``column_types`` for the columns whose whole-file type differs from the
   first block's.

Memory stays bounded by a few blocks. At score time the model already
knows the types of its columns (``csv_types``); only the other columns are
inferred.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .unify import TypeChange, merge_types

__all__ = ["CSV_BLOCK_BYTES", "CsvTypes", "widen", "whole_file_types", "block_types"]

#: Bytes per CSV block: the unit of streaming and of pyarrow's type inference. Tests make it small.
CSV_BLOCK_BYTES = 32 << 20


def widen(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type that holds the values of a CSV column inferred as ``a`` in one block and ``b`` in another.

    Examples
    --------
    >>> widen(pa.int64(), pa.float64())
    DataType(double)
    >>> widen(pa.int64(), pa.string())
    DataType(string)
    """
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_binary(a) or pa.types.is_binary(b):
        return pa.binary()
    numbers = (pa.int64(), pa.float64())
    if a in numbers and b in numbers:
        return pa.float64()
    if pa.types.is_timestamp(a) or pa.types.is_timestamp(b):
        stamp, other = (a, b) if pa.types.is_timestamp(a) else (b, a)
        if pa.types.is_date32(other):
            return stamp
        if pa.types.is_timestamp(other) and (merged := merge_types(a, b)) is not None:
            return merged
    return pa.string()


def _fits(strings: pa.Array, kind: pa.DataType | None) -> bool:
    """Whether a block's text surely converts to ``kind``, a number type so far (a shortcut, never a guess).

    Arrow's cast from text accepts a subset of what its CSV reader converts
    (the reader also trims spaces), so success settles it; failure leaves
    it to :func:`block_types`.
    """
    if kind not in (pa.int64(), pa.float64()):
        return False
    try:
        pc.cast(strings, kind, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def block_types(batch: pa.RecordBatch) -> list[pa.DataType]:
    """The types pyarrow's CSV reader infers for the text columns of ``batch``, read as one block.

    Parameters
    ----------
    batch : pyarrow.RecordBatch
        String columns (nulls where the file had null values), as read with
        ``column_types`` string.

    Returns
    -------
    list of pyarrow.DataType
        One per column, in order.
    """
    found: list[pa.DataType | None] = [pa.null() if c.null_count == len(c) else None for c in batch.columns]
    todo = [i for i, t in enumerate(found) if t is None]
    if todo:
        sink = io.BytesIO()
        pa_csv.write_csv(batch.select(todo), sink,
                         pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
        text = sink.getvalue()
        again = pa_csv.read_csv(
            io.BytesIO(text),
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True, block_size=len(text) + (1 << 20)),
            parse_options=pa_csv.ParseOptions(ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True))
        for i, field in zip(todo, again.schema, strict=True):
            found[i] = field.type
    return [t if t is not None else pa.null() for t in found]


def whole_file_types(open_source: Callable[[], Any], columns: Sequence[str],
                     block_size: int) -> tuple[dict[str, pa.DataType], list[TypeChange]]:
    """Infer ``columns`` of a CSV file over all its blocks (the first pass of the module docstring).

    Parameters
    ----------
    open_source : callable
        Returns a new source for :func:`pyarrow.csv.open_csv` (a path or a stream).
    columns : sequence of str
        Columns to infer.
    block_size : int
        Bytes per block, as the real pass reads them.

    Returns
    -------
    overrides : dict
        Column -> type, for the columns whose whole-file type differs from
        the first block's (to pass as ``column_types``).
    changes : list of TypeChange
        The columns whose values change type (a column empty in the first
        block is an override, not a change).

    Raises
    ------
    pyarrow.ArrowException, OSError
        If the file cannot be read; the caller words the error.
    """
    if not columns:
        return {}, []
    convert = pa_csv.ConvertOptions(include_columns=list(columns), strings_can_be_null=True,
                                    column_types={c: pa.string() for c in columns})
    firsts: dict[str, pa.DataType] = {}
    types: dict[str, pa.DataType] = {}
    changes: dict[str, TypeChange] = {}
    with pa_csv.open_csv(open_source(), read_options=pa_csv.ReadOptions(block_size=block_size),
                         convert_options=convert) as reader:
        for number, batch in enumerate(reader, start=1):
            todo = [c for c in columns if c not in types or types[c] != pa.string()]
            if not todo:
                break
            todo = [c for c in todo if not _fits(batch.column(c), types.get(c))]
            for col, found in zip(todo, block_types(batch.select(todo)), strict=True):
                if col not in types:
                    firsts[col] = types[col] = found
                    continue
                merged = widen(types[col], found)
                first = firsts[col]
                if col not in changes and not pa.types.is_null(first) and widen(first, found) != first:
                    changes[col] = TypeChange(col, first, found, f"block {number}", merged)
                types[col] = merged
    overrides = {c: t for c, t in types.items() if t != firsts[c]}
    return overrides, [TypeChange(c.column, c.first, c.other, c.where, types[c.column])
                       for c in changes.values()]


class CsvTypes:
    """The whole-file types of one CSV file's columns, inferred when first asked for and remembered.

    Parameters
    ----------
    open_source : callable
        Returns a new source for :func:`pyarrow.csv.open_csv`.
    size : int
        The file's size in bytes: a file of one block needs no first pass.

    Attributes
    ----------
    overrides : dict
        Column -> whole-file type, where it differs from the first block's.
    changes : list of TypeChange
        Columns whose values change type, among those inferred so far.
    """

    def __init__(self, open_source: Callable[[], Any], size: int):
        self._open, self._size = open_source, size
        self.overrides: dict[str, pa.DataType] = {}
        self.changes: list[TypeChange] = []
        self._done: set[str] = set()

    def infer(self, columns: Sequence[str]) -> None:
        """Run the first pass for those of ``columns`` not inferred yet (none for a file of one block)."""
        todo = [c for c in columns if c not in self._done]
        if not todo or self._size <= CSV_BLOCK_BYTES:
            return  # one block: pyarrow's own inference sees the whole file
        overrides, changes = whole_file_types(self._open, todo, CSV_BLOCK_BYTES)
        self.overrides.update(overrides)
        self.changes += changes
        self._done.update(todo)

    def column_types(self, columns: Sequence[str], given: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """``column_types`` to read ``columns`` with: ``given`` as given, the others for the whole file."""
        self.infer([c for c in columns if c not in given])
        return {**{k: v for k, v in self.overrides.items() if k not in given}, **given}

    def first_block(self) -> pa.Schema:
        """The types pyarrow infers from the first block, as the real pass reads it."""
        read = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES)
        with pa_csv.open_csv(self._open(), read_options=read,
                             convert_options=pa_csv.ConvertOptions(strings_can_be_null=True)) as reader:
            return reader.schema
