"""Which columns look like identifiers (order numbers, row numbers, timestamps stored as numbers), and why.

A model of such a column's values flags every later row: IDs and timestamps
grow with time, so the next day's values lie beyond every value seen in
training, and the column is blamed for it. A column looks like one when it
has at least :data:`MIN_VALUES` non-missing values and

- holds integers (floats with integral values too; booleans never), a
  distinct one in every row but at most 1 % (:data:`MIN_DISTINCT_SHARE`:
  an ID table with a few double inserts is still an ID table);
- or holds numbers that never decrease (or never increase) from one row to
  the next and change at least every tenth step (:data:`MIN_CHANGE_SHARE`).
  For windowed models the steps are those within each series in time order;
- or holds text with more distinct values than ``max_categories``.

Continuous measurements are distinct in every row by nature, so being
distinct never marks a column with fractional values. Smaller tables are
never checked: :data:`MIN_VALUES` keeps the rule off the few rows where it
would be chance. docs/concepts.md lists what the rule misses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from numbers import Integral

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError
from ..options import MAX_CATEGORIES
from .dtypes import is_dictionary, values_kind
from .series import WindowSpec, check_key_columns, group_key, time_values

__all__ = ["MIN_VALUES", "MIN_DISTINCT_SHARE", "MIN_CHANGE_SHARE", "WARNING_START", "identifier_reason",
           "identifier_columns", "text_reason", "series_order", "kept_columns", "identifier_warning"]

#: Columns with fewer non-missing values are never taken for identifiers.
MIN_VALUES = 100
#: Integers distinct in at least this share of the non-missing rows are identifiers.
MIN_DISTINCT_SHARE = 0.99
#: A column that only rises (or only falls) is an identifier when its value changes at this share of
#: the steps at least: a sorted timestamp with a few rows per second, not a setting that steps up twice.
MIN_CHANGE_SHARE = 0.1
#: How the estimator's warning about left-out identifiers begins (the CLI's fit summary carries it instead).
WARNING_START = "left out as identifiers"


def text_reason(col: pd.Series, max_categories: int = MAX_CATEGORIES) -> str | None:
    """Why a text column cannot be modelled as categories (too many distinct values), or None.

    Parameters
    ----------
    col : Series
        One column, of any dtype (only text is looked at).
    max_categories : int, default=50
        The most distinct values a text column may have.

    Returns
    -------
    str or None
        For example ``"text with 300 distinct values, more than max_categories=50
        (a distinct value in every row, an id?)"``.
    """
    if pd.api.types.is_numeric_dtype(col.dtype) and not is_dictionary(col.dtype):
        return None
    values = col.dropna()
    if not len(values) or not all(isinstance(v, str) for v in values.head(1000)):
        return None
    n_levels = values.nunique()
    if n_levels <= max_categories:
        return None
    hint = "a distinct value in every row, an id?" if n_levels == len(values) else "an id?"
    return f"text with {n_levels} distinct values, more than max_categories={max_categories} ({hint})"


def _as_floats(col: pd.Series) -> np.ndarray | None:
    """A numeric column as float64 with NaN where missing; None if it holds no numbers, or infinities
    (the schema refuses those by name)."""
    if values_kind(col) != "numbers":
        return None
    try:
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if np.isinf(values).any() else values


def _distinct_integers(col: pd.Series, values: np.ndarray, present: np.ndarray) -> str | None:
    """The first rule: integers, a distinct one in (nearly) every row."""
    kept = values[present]
    if not (pd.api.types.is_integer_dtype(col.dtype) or np.array_equal(kept, np.round(kept))):
        return None
    n = kept.size
    distinct = col.nunique(dropna=True)  # counted on the values themselves: exact for 64-bit IDs
    if distinct < MIN_DISTINCT_SHARE * n:
        return None
    every = "every row" if distinct == n else "nearly every row"
    return f"integer values, a distinct one in {every} ({distinct} of {n}): an identifier?"


def _monotonic(values: np.ndarray, present: np.ndarray, order: np.ndarray | None,
               starts: np.ndarray | None) -> str | None:
    """The second rule: never falling (or never rising) from one row to the next, within each series."""
    series = np.zeros(values.size, dtype=np.int64) if starts is None else np.cumsum(starts)
    if order is not None:
        values, present = values[order], present[order]
    values, series = values[present], series[present]
    steps = np.diff(values)[series[1:] == series[:-1]]  # missing values skipped, series never crossed
    if steps.size < MIN_VALUES // 2:
        return None
    up = not (steps < 0).any()
    if not up and (steps > 0).any():
        return None
    changes = int(np.count_nonzero(steps))
    if changes < MIN_CHANGE_SHARE * steps.size:
        return None
    rows, n_series = values.size, np.unique(series).size
    rises, falls = ("increases", "decreases") if up else ("decreases", "increases")
    if order is None and starts is None:
        if changes == steps.size:
            return f"{rises} with every row ({rows} rows): an ID, row number or timestamp?"
        return (f"never {falls} from one row to the next ({rows} rows, {changes + 1} distinct values): "
                "a timestamp or counter?")
    where = "in time order" + (f" within each of the {n_series} series" if n_series > 1 else "")
    if changes == steps.size:
        return f"{rises} at every step {where} ({rows} rows): a counter or timestamp?"
    return (f"never {falls} {where} ({rows} rows, changing at {changes} of {steps.size} steps): "
            "a counter or timestamp?")


def identifier_reason(col: pd.Series, order: np.ndarray | None = None, starts: np.ndarray | None = None,
                      max_categories: int = MAX_CATEGORIES) -> str | None:
    """Why a column looks like an identifier rather than a measurement or a category, or ``None``.

    Parameters
    ----------
    col : Series
        One column of the training table.
    order : ndarray of int (n,), optional
        Positions that put the rows in time order, series by series (see
        :func:`series_order`); None: the rows' own order.
    starts : ndarray of bool (n,), optional
        In that order, True where a series begins; None: one series.
    max_categories : int, default=50
        Text with more distinct values than this is taken for an ID.

    Returns
    -------
    str or None
        A short reason naming the evidence, such as ``"integer values, a
        distinct one in every row (5000 of 5000): an identifier?"``; None
        for a column with fewer than :data:`MIN_VALUES` non-missing values.

    Examples
    --------
    >>> identifier_reason(pd.Series(np.arange(1000, 1200)))
    'increases with every row (200 rows): an ID, row number or timestamp?'
    >>> identifier_reason(pd.Series(np.random.default_rng(0).normal(size=200))) is None
    True
    """
    if col.notna().sum() < MIN_VALUES:
        return None
    values = _as_floats(col)
    if values is None:
        return text_reason(col, max_categories)
    present = ~np.isnan(values)
    return _monotonic(values, present, order, starts) or _distinct_integers(col, values, present)


def series_order(frame: pd.DataFrame, window: WindowSpec) -> tuple[np.ndarray, np.ndarray]:
    """Positions that sort ``frame`` by series, then time, and where each series begins in that order.

    Rows of a series at the same time keep their order in ``frame`` (the
    sort is stable), so the answer depends on the key columns and the row
    order only, never on the other columns.

    Raises
    ------
    InvalidInputError
        If a time or group column is missing, has missing values, or holds
        neither times nor numbers.
    """
    check_key_columns(frame, window)
    n = len(frame)
    group = window.group_column
    codes = group_key(frame[group]) if group is not None else np.zeros(n, dtype=np.int64)
    keys = [codes] if window.time_column is None else [time_values(frame[window.time_column]), codes]
    order = np.lexsort(keys)
    ordered = codes[order]
    return order, np.r_[np.ones(min(n, 1), dtype=bool), ordered[1:] != ordered[:-1]]


def identifier_columns(frame: pd.DataFrame, names: Iterable[str] | None = None,
                       window: WindowSpec | None = None,
                       max_categories: int = MAX_CATEGORIES) -> dict[str, str]:
    """The columns of ``frame`` that look like identifiers, each with the reason (:func:`identifier_reason`).

    Parameters
    ----------
    frame : DataFrame
        The training table, with string column names.
    names : iterable of str, optional
        The columns to look at; by default all of them.
    window : WindowSpec, optional
        A windowed model's settings: its time and group columns are keys,
        never identifiers, and the other columns are looked at in time order
        within each series.
    max_categories : int, default=50

    Returns
    -------
    dict of str to str
        In the order of ``names``; empty for tables with fewer than
        :data:`MIN_VALUES` rows.
    """
    keys = set(window.key_columns()) if window is not None else set()
    names = [name for name in (frame.columns if names is None else names) if name not in keys]
    if len(frame) < MIN_VALUES or not names:
        return {}
    order = starts = None
    if window is not None and keys:
        order, starts = series_order(frame, window)
    found = {}
    for name in names:
        reason = identifier_reason(frame[name], order, starts, max_categories)
        if reason is not None:
            found[name] = reason
    return found


def kept_columns(columns: Sequence[str], include) -> list[str]:
    """The columns that ``include`` (names, or positions for unnamed arrays) keeps, in its order.

    Raises
    ------
    InvalidInputError
        If a name is not among ``columns``, a position is out of range, or
        an entry is neither.
    """
    columns = [str(c) for c in columns]
    kept = []
    for item in include if include is not None else ():
        if isinstance(item, Integral) and not isinstance(item, (bool, np.bool_)):
            if not 0 <= item < len(columns):
                raise InvalidInputError(f"include_columns holds position {item}, but X has {len(columns)} "
                                        f"columns (positions 0 to {len(columns) - 1})")
            kept.append(columns[item])
        elif isinstance(item, str):
            if item not in columns:
                shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
                raise InvalidInputError(f"include_columns names {item!r}, which is not a column of X "
                                        f"(it has: {shown})")
            kept.append(item)
        else:
            raise InvalidInputError(f"include_columns must hold column names or positions, got {item!r}")
    return kept


def identifier_warning(ignored: dict[str, str]) -> str:
    """The one warning the estimator gives for the columns it left out as identifiers."""
    listed = "; ".join(f"{name!r}: {why}" for name, why in ignored.items())
    return (f"{WARNING_START} ({len(ignored)} column{'s' if len(ignored) > 1 else ''}; keep one with "
            f"include_columns): {listed}")
