"""Columns that Arrow's CSV writer cannot hold (lists, structs, maps) turned into JSON text, one value a cell.

Arrow writes numbers, text, booleans, dates and times to CSV, but refuses
nested types (``Unsupported Type: list<...>``). A pass-through column of
lists, structs, maps or unions, or of intervals, is written instead as one
JSON value per cell: a list as a JSON array, a struct as an object of its
fields, a map as an object of its keys (keys that are not text are written
as their JSON text: ``1``, ``true``), a union as its value, an interval as
an object of its parts. A missing cell stays empty. Inside the JSON,
missing values, NaN and infinities are ``null``; decimals are numbers;
dates, times and timestamps are ISO 8601 text; durations are seconds;
bytes are text (UTF-8, other bytes escaped). String and binary views are
written as plain strings and bytes.

Each nested cell is converted in Python, so a nested column costs more to
write than a flat one; the other columns are written by Arrow unchanged.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math

import pyarrow as pa

__all__ = ["csv_batch", "csv_schema", "json_cells"]

_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _is_view(t: pa.DataType) -> bool:
    return bool(getattr(pa.types, "is_string_view", lambda _: False)(t)
                or getattr(pa.types, "is_binary_view", lambda _: False)(t))


def _needs_json(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` is written as JSON text."""
    if isinstance(t, pa.ExtensionType):
        return _needs_json(t.storage_type)
    if pa.types.is_dictionary(t):
        return _needs_json(t.value_type)
    return pa.types.is_nested(t) or pa.types.is_interval(t)


def _csv_type(t: pa.DataType) -> pa.DataType:
    """The type a column of type ``t`` has in the CSV output."""
    if _needs_json(t):
        return pa.string()
    if _is_view(t):
        return pa.string() if pa.types.is_string_view(t) else pa.binary()
    return t


def csv_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with each field that :func:`csv_batch` converts given its CSV type (text or bytes).

    Parameters
    ----------
    schema : pyarrow.Schema
        Schema of the batches to write.

    Returns
    -------
    pyarrow.Schema
        ``schema`` itself when no field needs converting.
    """
    if all(_csv_type(f.type) == f.type for f in schema):
        return schema
    return pa.schema([f.with_type(_csv_type(f.type)) for f in schema], metadata=schema.metadata)


def csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with its nested and interval columns as JSON text and its view columns as plain
    strings or bytes, ready for Arrow's CSV writer.

    Parameters
    ----------
    batch : pyarrow.RecordBatch of n rows
        Rows to write.

    Returns
    -------
    pyarrow.RecordBatch of n rows
        ``batch`` itself when no column needs converting; otherwise the same
        columns, in the same order, with those converted (schema:
        :func:`csv_schema` of ``batch.schema``).
    """
    schema = batch.schema
    if csv_schema(schema) is schema:
        return batch
    arrays = []
    for field, column in zip(schema, batch.columns, strict=True):
        if _needs_json(field.type):
            column = json_cells(column)
        elif _is_view(field.type):
            column = column.cast(_csv_type(field.type))
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=csv_schema(schema))


def json_cells(column: pa.Array) -> pa.Array:
    """Each value of ``column`` as JSON text; missing values stay missing.

    Parameters
    ----------
    column : pyarrow.Array of length n
        Any type; nested types are what it is for.

    Returns
    -------
    pyarrow.Array of length n, string
        One JSON value per cell (see the module's notes), null where
        ``column`` is null.

    Examples
    --------
    >>> json_cells(pa.array([[1, None], None, []])).to_pylist()
    ['[1,null]', None, '[]']
    >>> json_cells(pa.array([{"k": 1.5, "s": "a"}])).to_pylist()
    ['{"k":1.5,"s":"a"}']
    """
    t = column.type
    if isinstance(t, pa.ExtensionType):
        column, t = column.storage, t.storage_type
    if pa.types.is_dictionary(t):
        column, t = column.dictionary_decode(), t.value_type
    texts = [None if v is None else _JSON.encode(_plain(v, t)) for v in column.to_pylist()]
    return pa.array(texts, type=pa.string())


def _plain(value, t: pa.DataType | None):
    """A Python value from ``to_pylist`` as one that JSON holds, following its Arrow type ``t``."""
    if value is None:
        return None
    if t is not None and isinstance(t, pa.ExtensionType):
        t = t.storage_type
    if t is not None and pa.types.is_dictionary(t):
        t = t.value_type
    if t is not None and pa.types.is_map(t):  # a list of (key, value) pairs
        return {_key(k): _plain(v, t.item_type) for k, v in value}
    if t is not None and pa.types.is_struct(t):
        types = {t.field(i).name: t.field(i).type for i in range(t.num_fields)}
        return {str(k): _plain(v, types.get(k)) for k, v in value.items()}
    if t is not None and hasattr(t, "value_type") and not pa.types.is_interval(t):  # list types
        return [_plain(v, t.value_type) for v in value]
    return _scalar(value)


def _scalar(value):
    """A leaf value (or, for unions and intervals, a value whose type is not followed) as JSON holds it."""
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else _scalar(float(value))
    if isinstance(value, (datetime.date, datetime.time)):  # datetime.datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, pa.MonthDayNano):
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    if isinstance(value, dict):
        return {str(k): _scalar(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scalar(v) for v in value]
    if hasattr(value, "isoformat"):  # pandas Timestamp and the like
        return value.isoformat()
    return str(value)


def _key(key) -> str:
    """A map key as the name of a JSON object's member."""
    return key if isinstance(key, str) else _JSON.encode(_scalar(key))
