"""One answer to "what does this column hold?" for NumPy, pandas extension and pyarrow dtypes alike.

Pipelines hand over the same values in several dtypes: a timestamp as
``datetime64[ns, UTC]`` or ``timestamp[us, tz=UTC][pyarrow]``, text as
``object``, ``str``, ``string[pyarrow]``, ``large_string[pyarrow]`` or a
dictionary, decimals from a database as ``decimal128(12, 2)[pyarrow]`` or
as an object column of :class:`decimal.Decimal`. The schema
(:mod:`~vae_anomaly.features.schema`) and the time columns of windows
(:mod:`~vae_anomaly.features.series`) ask this module, so each gets one
answer whichever way the values arrive.
"""

from __future__ import annotations

import datetime
import decimal

import numpy as np
import pandas as pd

__all__ = ["NUMBER_TYPES", "DATETIME_TYPES", "DURATION_TYPES", "NESTED_TYPES", "temporal_kind",
           "values_kind", "nested_type", "is_dictionary", "as_numpy_times"]

# Scalar types of the values in object columns (what database drivers return).
NUMBER_TYPES = (int, float, np.integer, np.floating, decimal.Decimal)  # bool excepted by the callers
DATETIME_TYPES = (datetime.date, datetime.time, np.datetime64)  # datetime.datetime and pd.Timestamp included
DURATION_TYPES = (datetime.timedelta, np.timedelta64)  # pd.Timedelta included
# Values of nested columns: pyarrow gives lists as arrays, structs as dicts, maps as lists of pairs.
NESTED_TYPES = (list, tuple, dict, np.ndarray)


def _arrow_type(dtype):
    """The pyarrow type behind a ``pd.ArrowDtype``, else None."""
    return getattr(dtype, "pyarrow_dtype", None)


def temporal_kind(dtype) -> str | None:
    """``"datetimes"`` (dates, times, timestamps) or ``"durations"`` for such a dtype, else None.

    Examples
    --------
    >>> import pyarrow as pa
    >>> temporal_kind(np.dtype("m8[s]")), temporal_kind(pd.ArrowDtype(pa.duration("ms")))
    ('durations', 'durations')
    >>> temporal_kind(pd.ArrowDtype(pa.date32())), temporal_kind(np.dtype("float64"))
    ('datetimes', None)
    """
    arrow = _arrow_type(dtype)
    if arrow is not None:
        import pyarrow as pa

        if pa.types.is_duration(arrow):
            return "durations"
        return "datetimes" if pa.types.is_temporal(arrow) else None
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "durations"
    return "datetimes" if pd.api.types.is_datetime64_any_dtype(dtype) else None


def values_kind(col: pd.Series) -> str:
    """What a column's values are, in words, whatever their dtype: ``"numbers"``, ``"text"``,
    ``"booleans"``, ``"datetimes"``, ``"durations"``, or ``"<dtype> values"``.

    Examples
    --------
    >>> values_kind(pd.Series([decimal.Decimal("1.5"), None], dtype=object))
    'numbers'
    >>> (values_kind(pd.Series(["a", "b"], dtype="category")),
    ...  values_kind(pd.Series([True, None], dtype=object)))
    ('text', 'booleans')
    """
    dtype = col.dtype
    temporal = temporal_kind(dtype)
    if temporal is not None:
        return temporal
    if is_dictionary(dtype):
        col = col.dropna().astype(object)
    elif pd.api.types.is_bool_dtype(dtype):
        return "booleans"
    elif pd.api.types.is_numeric_dtype(dtype):
        return "numbers"
    inferred = pd.api.types.infer_dtype(col, skipna=True)
    kinds = {"string": "text", "boolean": "booleans", "integer": "numbers", "floating": "numbers",
             "mixed-integer-float": "numbers", "decimal": "numbers", "date": "datetimes",
             "datetime": "datetimes", "datetime64": "datetimes", "time": "datetimes",
             "timedelta": "durations", "timedelta64": "durations"}
    return kinds.get(inferred, f"{dtype} values")


def nested_type(col: pd.Series, sample: int = 1000) -> str | None:
    """The type of a column of nested values (lists, structs, maps), as pyarrow spells it, else None.

    A pyarrow-backed column answers from its type. An object column (as
    ``pyarrow.Table.to_pandas`` gives nested columns) is nested when its first
    ``sample`` non-missing values all are lists, tuples, dicts or arrays; its
    type is then inferred from them, or named by their Python types when
    pyarrow cannot infer one.

    Examples
    --------
    >>> nested_type(pd.Series([[1, 2], None, [3]])), nested_type(pd.Series([{"k": 1.5}]))
    ('list<item: int64>', 'struct<k: double>')
    >>> nested_type(pd.Series(["[1, 2]"])) is None
    True
    """
    import pyarrow as pa

    arrow = _arrow_type(col.dtype)
    if arrow is not None:
        return str(arrow) if pa.types.is_nested(arrow) else None
    if not pd.api.types.is_object_dtype(col.dtype):
        return None
    values = col.dropna().iloc[:sample]
    if values.empty or not all(isinstance(v, NESTED_TYPES) for v in values):
        return None
    try:
        return str(pa.array(list(values), from_pandas=True).type)
    except (pa.ArrowException, TypeError, ValueError):
        pass
    try:  # a map: lists of (key, value) pairs
        pairs = [pair for v in values for pair in v]
        if pairs and all(isinstance(pair, tuple) and len(pair) == 2 for pair in pairs):
            keys, items = zip(*pairs, strict=True)
            return str(pa.map_(pa.array(keys).type, pa.array(items, from_pandas=True).type))
    except (pa.ArrowException, TypeError, ValueError):
        pass
    return ", ".join(sorted({type(v).__name__ for v in values}))


def is_dictionary(dtype) -> bool:
    """Whether ``dtype`` is a pandas categorical or a pyarrow dictionary (repeated text, as
    Parquet files often encode it)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    arrow = _arrow_type(dtype)
    if arrow is None:
        return False
    import pyarrow as pa

    return pa.types.is_dictionary(arrow)


def as_numpy_times(col: pd.Series) -> pd.Series | None:
    """``col`` as a NumPy-backed datetime64 (time zone kept) or timedelta64 Series, or None.

    Handles pyarrow timestamps of every unit (with or without a time zone),
    dates and durations, and object columns of ``date``, ``datetime`` or
    ``timedelta`` values (as pandas gives Arrow dates). None when ``col``
    holds anything else, times of day included (they do not order across
    days).

    Raises
    ------
    ValueError, TypeError
        From pandas, if an object column's values cannot be read together
        (time zones mixed within the column, say).

    Examples
    --------
    >>> import pyarrow as pa
    >>> ts = pd.Series([0, 60], dtype=pd.ArrowDtype(pa.timestamp("s", tz="UTC")))
    >>> as_numpy_times(ts).dtype
    datetime64[s, UTC]
    """
    dtype = col.dtype
    arrow = _arrow_type(dtype)
    if arrow is not None:
        import pyarrow as pa

        if not (pa.types.is_timestamp(arrow) or pa.types.is_date(arrow) or pa.types.is_duration(arrow)):
            return None
        values = pa.array(col.array)
        if pa.types.is_date(arrow):
            values = values.cast(pa.timestamp("ms"))
        return pd.Series(values.to_pandas().array, index=col.index, name=col.name)  # by position, not label
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return col
    if not pd.api.types.is_object_dtype(dtype):
        return None
    inferred = pd.api.types.infer_dtype(col, skipna=True)
    if inferred in ("date", "datetime", "datetime64"):
        return pd.to_datetime(col)
    if inferred in ("timedelta", "timedelta64"):
        return pd.to_timedelta(col)
    return None
