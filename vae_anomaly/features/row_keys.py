"""Stable row keys: which column names a row, or a 64-bit hash of the values the model reads.

A verdict on a flagged row ("anomaly", "normal") has to find that row again
when the model is refitted, in another file, after the rows were reordered.
The key is, in this order:

1. a column the user names (``--key order_id``);
2. else the one column the model left out as an identifier, when there is
   exactly one and the data hold it (an order number, a transaction id);
3. else :data:`HASH_KEY`: a 64-bit hash of the row's values in the model's
   columns (:func:`content_keys`), written as 16 hexadecimal digits.

The hash is :func:`pandas.util.hash_pandas_object` (``index=False``) of the
columns in name order, after each is put in one canonical form, so that the
same values give the same key whatever file format, dtype, batch or column
order they arrive in: numbers (integers, floats, booleans) as float64,
times as UTC nanoseconds, text and categories as their text. It is stable
for the same values (a test pins the keys of fixed rows, against a change of
pandas' hash); rows with identical values in the model's columns share a
key, and a verdict on one applies to all of them (the model cannot tell
them apart either).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import InvalidInputError
from .dtypes import temporal_kind

__all__ = ["HASH_KEY", "RowKey", "choose_key", "content_keys", "content_key_array", "key_text"]

#: Name of the hash key column (in the score output, the report and a verdicts file).
HASH_KEY = "row_key"

_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal", "boolean"}
_HEX = np.array([f"{b:02x}".encode() for b in range(256)], dtype="S2").view(np.uint8).reshape(256, 2)


@dataclass(frozen=True)
class RowKey:
    """Which key names the rows of a table.

    Attributes
    ----------
    name : str
        The key's column: a data column, or :data:`HASH_KEY`.
    source : str
        ``"column"`` (named by the user), ``"identifier"`` (the one column
        the model left out as an identifier) or ``"hash"``.
    hashed : tuple of str
        The columns the hash is made of (empty unless ``source == "hash"``).
    """

    name: str
    source: str
    hashed: tuple = ()

    @property
    def is_hash(self) -> bool:
        """Whether the key is the hash of the model's columns (not a data column)."""
        return self.source == "hash"

    def to_dict(self) -> dict:
        """Plain JSON: ``name``, ``source`` and ``hashed``."""
        return {"name": self.name, "source": self.source, "hashed": list(self.hashed)}


def choose_key(key: str | None, identifiers: Mapping[str, str] | Sequence[str], columns: Sequence[str],
               model_columns: Sequence[str], where: str = "the data") -> RowKey:
    """The row key of a table with ``columns``, scored by a model that reads ``model_columns``.

    Parameters
    ----------
    key : str or None
        The column the user named; it must be in ``columns``.
        :data:`HASH_KEY` asks for the hash even where an identifier column is there.
    identifiers : mapping or sequence of str
        The columns the model left out as identifiers.
    columns : sequence of str
        The table's columns.
    model_columns : sequence of str
        The columns the model reads (hashed when no column names the rows).
    where : str
        The table's name, for the error message.

    Raises
    ------
    InvalidInputError
        If ``key`` is not a column of the table.

    Examples
    --------
    >>> choose_key(None, {"id": "text with 5000 distinct values"}, ["id", "a", "b"], ["a", "b"]).name
    'id'
    >>> choose_key(None, {}, ["a", "b"], ["b", "a"])
    RowKey(name='row_key', source='hash', hashed=('a', 'b'))
    """
    if key is not None and key != HASH_KEY:
        if key not in columns:
            raise InvalidInputError(f"key column {key!r} is not in {where}")
        return RowKey(key, "column")
    present = [c for c in identifiers if c in set(columns)]
    if key is None and len(present) == 1:
        return RowKey(present[0], "identifier")
    return RowKey(HASH_KEY, "hash", tuple(sorted(model_columns)))


def _column_hash(col: pd.Series) -> np.ndarray:
    """A 64-bit hash (uint64, n) of each value of ``col`` in its canonical form; 0 where missing."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    missing = col.isna().to_numpy()
    kind = temporal_kind(col.dtype)
    if kind == "datetimes":
        times = pd.to_datetime(col, utc=True, errors="coerce").dt.tz_localize(None)
        values = times.astype("datetime64[ns]").to_numpy().view(np.int64)
    elif kind == "durations":
        values = pd.to_timedelta(col).astype("timedelta64[ns]").to_numpy().view(np.int64)
    elif pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype) or (
            col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in _NUMBER_KINDS):
        values = pd.to_numeric(col.astype(object) if col.dtype == object else col).to_numpy(
            dtype=np.float64, na_value=np.nan) + 0.0  # -0.0 as 0.0
    else:  # text, and anything else, as its text: each distinct value hashed once
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        texts = np.array([v if isinstance(v, str) else str(v) for v in uniques], dtype=object)
        hashed = pd.util.hash_array(texts, categorize=False) if len(texts) else np.empty(0, np.uint64)
        return np.where(codes >= 0, hashed[np.maximum(codes, 0)] if len(texts) else 0, 0).astype(np.uint64)
    hashed = pd.util.hash_array(values, categorize=False)
    hashed[missing] = 0
    return hashed


def content_keys(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The hash key of each row of ``frame``: 16 hexadecimal digits of a 64-bit hash of ``columns``.

    Each column's values are hashed in their canonical form
    (:func:`pandas.util.hash_array`; a missing value, in any column, as 0),
    and the columns' hashes, in name order, are combined by
    :func:`pandas.util.hash_pandas_object` (``index=False``).

    Parameters
    ----------
    frame : DataFrame
        Rows, holding ``columns`` (others are ignored).
    columns : sequence of str
        The columns hashed; taken in name order, so their order in
        ``frame`` does not matter.

    Returns
    -------
    ndarray of str (n,)

    Examples
    --------
    >>> a = pd.DataFrame({"x": [1, 2], "y": ["u", "v"]})
    >>> b = pd.DataFrame({"y": ["v", "u"], "x": [2.0, 1.0]})   # other order, dtype and column order
    >>> content_keys(a, ["x", "y"])[0] == content_keys(b, ["y", "x"])[1]
    True
    >>> len(content_keys(a, ["x", "y"])[0])
    16
    """
    return np.ascontiguousarray(_digits(frame, columns)).view("S16").ravel().astype("U16")


def content_key_array(frame: pd.DataFrame, columns: Sequence[str]) -> pa.Array:
    """:func:`content_keys` as an Arrow string array, made without a Python string per row."""
    digits = np.ascontiguousarray(_digits(frame, columns)).ravel()
    offsets = np.arange(0, digits.size + 1, 16, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(len(frame), pa.py_buffer(offsets), pa.py_buffer(digits)).cast(
        pa.string())


def _digits(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The hash of each row as 16 ASCII hexadecimal digits (uint8, (n, 16))."""
    hashes = pd.DataFrame({i: _column_hash(frame[name].reset_index(drop=True))
                           for i, name in enumerate(sorted(columns))}, index=range(len(frame)))
    hashed = pd.util.hash_pandas_object(hashes, index=False).to_numpy(dtype=np.uint64)
    # Big-endian bytes, each looked up as two hexadecimal digits.
    return _HEX[hashed.astype(">u8").view(np.uint8).reshape(-1, 8)].reshape(-1, 16)


def key_text(value) -> str | None:
    """A key value as the text a user would type: integers plainly (integral floats too), text as it is.

    Examples
    --------
    >>> key_text(123), key_text(123.0), key_text("00123"), key_text(float("nan"))
    ('123', '123', '00123', None)
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)
