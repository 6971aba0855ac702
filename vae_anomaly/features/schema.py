"""What each column of a user's table is, and reading numeric columns safely.

Each column is numeric or categorical (:class:`ColumnSpec`, from
:func:`infer_schema`). Numeric columns are read as float64 with ``NaN`` for
missing values; text, infinities and values too large to model are refused
with an error that names the column and the value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError, SchemaMismatchError
from ..options import MAX_CATEGORIES
from .dtypes import (
    DATETIME_TYPES,
    DURATION_TYPES,
    NESTED_TYPES,
    NUMBER_TYPES,
    is_dictionary,
    nested_type,
    temporal_kind,
)
from .frames import as_pandas

__all__ = ["NUMERIC", "CATEGORICAL", "MAX_ABS", "ColumnSpec", "as_frame", "infer_schema", "numeric_block",
           "check_numeric", "require_columns", "json_scalar", "numeric_columns"]

NUMERIC = "numeric"
CATEGORICAL = "categorical"
# Numeric values larger than this in size are refused (see numeric_block).
MAX_ABS = 1e150


@dataclass(frozen=True)
class ColumnSpec:
    """What one input column is and how it is modelled.

    Parameters
    ----------
    name : str
        Column name (``"x0"``, ``"x1"``, ... for array input).
    kind : {"numeric", "categorical"}
        Numeric columns get a Gaussian likelihood, categorical ones a
        categorical likelihood over ``categories``.
    dtype : str
        The column's dtype at fit time, used to restore it in :meth:`sample`
        and to detect a changed dtype at score time.
    categories : tuple or None
        The levels seen at fit time, for categorical columns.
    """

    name: str
    kind: str
    dtype: str
    categories: tuple | None = None

    def to_dict(self) -> dict:
        """Return a JSON-able description of the column."""
        cats = None if self.categories is None else [json_scalar(c) for c in self.categories]
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype, "categories": cats}

    @classmethod
    def from_dict(cls, d: dict) -> ColumnSpec:
        """Rebuild a column description written by :meth:`to_dict`."""
        cats = None if d.get("categories") is None else tuple(d["categories"])
        return cls(name=str(d["name"]), kind=str(d["kind"]), dtype=str(d["dtype"]), categories=cats)


def json_scalar(value):
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def as_frame(X, feature_names=None) -> pd.DataFrame:
    """View ``X`` as a DataFrame with string column names.

    Parameters
    ----------
    X : DataFrame, table or array-like of shape (n_samples, n_features)
        The input table: a pandas DataFrame, a table of another library
        (polars, pyarrow, anything with ``__arrow_c_stream__`` or
        ``__dataframe__``: see :func:`~vae_anomaly.features.frames.as_pandas`,
        whose column names it keeps) or a 2-D array.
    feature_names : sequence of str, optional
        Names to give the columns of a plain array; ``x0``, ``x1``, ... if not
        given.

    Returns
    -------
    DataFrame
        ``X`` itself for a pandas DataFrame, ``X`` converted for another
        table, otherwise a DataFrame wrapping the array.

    Raises
    ------
    InvalidInputError
        If ``X`` is an array that is not 2-D, or an object that claims to be a
        table but yields none.
    """
    X = as_pandas(X)
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise InvalidInputError(f"expected a 2-D table, got an array of shape {arr.shape}")
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=names, copy=False)


def _levels(values: pd.Series) -> tuple:
    """The distinct observed values of a categorical column, sorted when they can be."""
    levels = [json_scalar(v) for v in pd.unique(values.astype(object))]
    try:
        return tuple(sorted(levels))
    except TypeError:  # levels of several types: keep the order of first appearance
        return tuple(levels)


def _kind_of(col: pd.Series, max_categories: int) -> tuple[str, tuple | None]:
    """Decide how a column is modelled, or raise naming why it cannot be.

    A column is modelled the same whatever library its dtype comes from:
    numbers (of any width, decimals included) are numeric; text, pandas
    categoricals and pyarrow dictionaries are categorical, with their
    observed values as levels, sorted; booleans (with or without missing
    values) are categorical with the levels ``(False, True)``.
    """
    name = col.name
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return CATEGORICAL, (False, True)
    temporal = temporal_kind(dtype)
    if temporal is not None:
        _refuse_temporal(name, temporal, dtype)
    if pd.api.types.is_complex_dtype(dtype):
        raise InvalidInputError(f"column {name!r} holds complex numbers, which cannot be modelled")
    dictionary = is_dictionary(dtype)
    if pd.api.types.is_numeric_dtype(dtype) and not dictionary:
        return NUMERIC, None
    values = col.dropna()
    if values.empty:
        raise InvalidInputError(f"column {name!r} has no observed values")
    if not dictionary:  # an object column: what its values are (a dictionary's are its levels)
        types = {type(v) for v in values}
        if all(issubclass(t, (bool, np.bool_)) for t in types):
            return CATEGORICAL, (False, True)
        if all(issubclass(t, NUMBER_TYPES) and not issubclass(t, (bool, np.bool_)) for t in types):
            return NUMERIC, None
        if all(issubclass(t, DURATION_TYPES) for t in types):
            _refuse_temporal(name, "durations", dtype)
        if all(issubclass(t, DATETIME_TYPES) for t in types):
            _refuse_temporal(name, "datetimes", dtype)
        if all(issubclass(t, NESTED_TYPES) for t in types):
            raise InvalidInputError(f"column {name!r} holds nested values ({nested_type(values)}), which "
                                    "cannot be modelled; leave it out, or give each field its own column")
        if not types <= {str}:
            names = ", ".join(sorted(t.__name__ for t in types))
            raise InvalidInputError(f"column {name!r} mixes value types ({names}); give it one type")
    levels = _levels(values)
    if len(levels) > max_categories:
        if all(isinstance(v, str) for v in levels):
            raise InvalidInputError(
                f"column {name!r} has {len(levels)} distinct text values, more than "
                f"max_categories={max_categories}; drop it (an id?) or raise max_categories"
            )
        raise InvalidInputError(
            f"column {name!r} has {len(levels)} categories, more than max_categories={max_categories}"
        )
    return CATEGORICAL, levels


def _refuse_temporal(name, kind: str, dtype) -> None:
    what = "dates or times" if kind == "datetimes" else "durations"
    raise InvalidInputError(f"column {name!r} holds {what} ({dtype}); drop it, or use it as a time column")


def infer_schema(frame: pd.DataFrame, max_categories: int = MAX_CATEGORIES) -> list[ColumnSpec]:
    """Describe how each column of ``frame`` will be modelled.

    Parameters
    ----------
    frame : DataFrame
        Training data.
    max_categories : int, default=50
        Text columns with more distinct values than this are refused.

    Returns
    -------
    list of ColumnSpec
        One entry per column, in order.

    Raises
    ------
    InvalidInputError
        If a column cannot be modelled; the message names it.
    """
    specs = []
    for name in frame.columns:
        col = frame[name]
        kind, cats = _kind_of(col, max_categories)
        specs.append(ColumnSpec(str(name), kind, str(col.dtype), cats))
    return specs


def numeric_block(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Read the named columns as float64, refusing text and infinities.

    Parameters
    ----------
    frame : DataFrame
        The table.
    names : list of str
        Columns to read, all expected to be numeric.

    Returns
    -------
    ndarray of shape (n_samples, len(names)), float64
        ``NaN`` where a value is missing.
    """
    cols = numeric_columns(frame, names)
    out = np.empty((len(frame), len(names)), dtype=np.float64)
    for j, v in enumerate(cols):
        out[:, j] = v
    return out


def numeric_columns(frame: pd.DataFrame, names: list[str]) -> list[np.ndarray]:
    """The named columns as 1-D float64 arrays (views where possible), checked as in :func:`numeric_block`."""
    cols = [_numeric_column(frame[name], name) for name in names]
    if not all(_in_range(v) for v in cols):
        _refuse_out_of_range(np.column_stack(cols), names)
    return cols


def require_columns(have, names) -> None:
    """Raise :class:`SchemaMismatchError` naming the first of ``names`` (columns seen at fit
    time) that is not in ``have`` (a table's column names)."""
    have = set(have)
    for name in names:
        if name not in have:
            raise SchemaMismatchError(f"column {name!r} is missing (it was present at fit time)")


def check_numeric(frame: pd.DataFrame, names) -> None:
    """Refuse text, infinite or too-large values in the named columns of ``frame``.

    Errors name the column, the value, and for infinities the row position
    in ``frame``; windowed models check the caller's rows this way before
    sorting them into windows.
    """
    numeric_columns(frame, list(names))


def _numeric_column(col: pd.Series, name: str) -> np.ndarray:
    """One column as float64, ``NaN`` where a value is missing; refuses text."""
    if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
        try:
            col = pd.to_numeric(col, errors="raise")
        except (ValueError, TypeError):
            bad = _first_non_numeric(col)
            raise InvalidInputError(
                f"column {name!r} should be numeric but holds {bad!r}"
            ) from None
    try:
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise InvalidInputError(f"column {name!r} should be numeric but has dtype {col.dtype}") from None


def _in_range(v: np.ndarray) -> bool:
    """Whether every non-missing value is finite and at most ``MAX_ABS`` in size (two passes, no copy)."""
    if v.size == 0:
        return True
    lo, hi = np.fmin.reduce(v), np.fmax.reduce(v)  # NaN only when the whole column is missing
    return bool(np.isnan(hi) or (-MAX_ABS <= lo and hi <= MAX_ABS))


def _refuse_out_of_range(out: np.ndarray, names: list[str]) -> None:
    """Raise naming the first column with an infinite value, else the one with the largest value."""
    finite = np.isfinite(out) | np.isnan(out)
    if not finite.all():
        j = int(np.argmin(finite.all(axis=0)))
        i = int(np.argmin(finite[:, j]))
        raise InvalidInputError(
            f"column {names[j]!r} holds an infinite value ({out[i, j]}) at row {i}; "
            "replace it with a finite value or NaN"
        )
    if np.abs(np.nan_to_num(out)).max(initial=0.0) > MAX_ABS:
        j = int(np.argmax(np.abs(np.nan_to_num(out)).max(axis=0)))
        raise InvalidInputError(
            f"column {names[j]!r} holds a value too large to model ({np.nanmax(np.abs(out[:, j])):.3g})"
        )


def _first_non_numeric(col: pd.Series):
    for v in col.dropna():
        try:
            float(v)
        except (TypeError, ValueError):
            return v
    return col.dtype
