"""Sliding windows over multivariate series, one window ending at each row.

A window holds the last ``size`` rows of the same group (machine, device),
in time order, ending at the row it belongs to. Rows before a group has
``size`` rows of history get a window whose missing leading positions are
*masked*: they are encoded as missing values, left out of the likelihood, and
the row's ``window_fill`` records how much of its window was real.

Everything here works on plain arrays so it can be tested without a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .exceptions import InvalidInputError
from .preprocessing import Encoded

__all__ = ["WindowSpec", "order_rows", "group_starts", "window_index", "stack_windows", "window_fill",
           "median_step", "find_gaps"]


@dataclass(frozen=True)
class WindowSpec:
    """How rows are windowed.

    Parameters
    ----------
    size : int
        Rows per window, the current row included.
    time_column : str or None
        Column that orders rows within a group; None keeps the input order.
    group_column : str or None
        Column whose values separate independent series; windows never cross
        groups.
    """

    size: int
    time_column: str | None = None
    group_column: str | None = None

    def key_columns(self) -> list[str]:
        """Columns used for ordering and grouping, never modelled."""
        return [c for c in (self.group_column, self.time_column) if c is not None]

    def to_dict(self) -> dict:
        """JSON-able form, as stored in model files."""
        return {"size": self.size, "time_column": self.time_column, "group_column": self.group_column}


def _check_columns(frame: pd.DataFrame, spec: WindowSpec) -> None:
    for col in spec.key_columns():
        if col not in frame.columns:
            raise InvalidInputError(f"column {col!r} (the window's {_role(spec, col)} column) is missing")
        if frame[col].isna().any():
            raise InvalidInputError(f"column {col!r} (the window's {_role(spec, col)} column) has missing values")


def _role(spec: WindowSpec, col: str) -> str:
    return "time" if col == spec.time_column else "group"


def order_rows(frame: pd.DataFrame, spec: WindowSpec) -> np.ndarray:
    """Positions that sort ``frame`` by group, then time (stable).

    Returns
    -------
    ndarray of int (n,)
        ``frame.iloc[order]`` is in window order.
    """
    _check_columns(frame, spec)
    keys = spec.key_columns()
    if not keys:
        return np.arange(len(frame))
    return np.lexsort([_sort_key(frame[c]) for c in reversed(keys)])


def _sort_key(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_datetime64_any_dtype(col.dtype):
        return col.to_numpy()
    return pd.factorize(col.astype(str), sort=True)[0]


def group_starts(frame_sorted: pd.DataFrame, spec: WindowSpec) -> np.ndarray:
    """Boolean (n,): True where a new group begins in sorted rows."""
    n = len(frame_sorted)
    starts = np.zeros(n, dtype=bool)
    if n:
        starts[0] = True
    if spec.group_column is not None and n > 1:
        g = frame_sorted[spec.group_column].astype(str).to_numpy()
        starts[1:] = g[1:] != g[:-1]
    return starts


def window_index(starts: np.ndarray, size: int) -> np.ndarray:
    """Row index of every window position, -1 before the group's first row.

    Parameters
    ----------
    starts : bool ndarray (n,)
        True at the first row of each group (rows already in window order).
    size : int
        Window length.

    Returns
    -------
    ndarray of int (n, size)
        Column ``size - 1`` is the row itself, column 0 the oldest position.

    Examples
    --------
    >>> window_index(np.array([True, False, False, True, False]), 2)
    array([[-1,  0],
           [ 0,  1],
           [ 1,  2],
           [-1,  3],
           [ 3,  4]])
    """
    n = starts.size
    rows = np.arange(n)
    first = np.maximum.accumulate(np.where(starts, rows, 0))  # first row of each row's group
    lags = np.arange(size - 1, -1, -1)  # oldest first
    idx = rows[:, None] - lags[None, :]
    return np.where(idx >= first[:, None], idx, -1)


def stack_windows(enc: Encoded, idx: np.ndarray) -> Encoded:
    """Gather encoded rows into windows; padded positions become missing.

    Features are laid out position-major: all channels of the oldest
    position first, the current row's channels last.
    """
    pad = idx < 0
    safe = np.where(pad, 0, idx)
    num = enc.num[safe]  # (n, size, d_num)
    num[pad] = np.nan
    cat = enc.cat[safe]
    cat[pad] = -1
    n = idx.shape[0]
    return Encoded(num.reshape(n, -1), cat.reshape(n, -1))


def window_fill(idx: np.ndarray) -> np.ndarray:
    """Share of each window's positions that hold real rows, (n,)."""
    return (idx >= 0).mean(axis=1)


def median_step(frame_sorted: pd.DataFrame, spec: WindowSpec, starts: np.ndarray) -> float | None:
    """Median time step within groups, in seconds (None without a time column)."""
    if spec.time_column is None or len(frame_sorted) < 2:
        return None
    steps = _steps_seconds(frame_sorted[spec.time_column])
    within = steps[~starts[1:]]
    within = within[np.isfinite(within)]
    return float(np.median(within)) if within.size else None


def _steps_seconds(times: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(times.dtype):
        values = times.to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9
    else:
        values = pd.to_numeric(times, errors="coerce").to_numpy(dtype=np.float64)
    return np.diff(values)


def find_gaps(frame_sorted: pd.DataFrame, spec: WindowSpec, starts: np.ndarray, step: float | None,
              tolerance: float = 3.0) -> pd.DataFrame:
    """Steps longer than ``tolerance`` times the fitted median step.

    Returns
    -------
    DataFrame
        One row per gap: group, the time before and after it, its length in
        seconds, and ``row``, the position in ``frame_sorted`` of the row
        after the gap.
    """
    cols = ["group", "before", "after", "seconds", "row"]
    if step is None or step <= 0 or len(frame_sorted) < 2:
        return pd.DataFrame(columns=cols)
    steps = _steps_seconds(frame_sorted[spec.time_column])
    big = np.flatnonzero((steps > tolerance * step) & ~starts[1:])
    times = frame_sorted[spec.time_column].to_numpy()
    groups = (frame_sorted[spec.group_column].to_numpy() if spec.group_column else np.full(len(times), None))
    return pd.DataFrame({
        "group": groups[big + 1], "before": times[big], "after": times[big + 1], "seconds": steps[big],
        "row": big + 1,
    }, columns=cols)
