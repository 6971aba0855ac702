"""How rows form series: the window settings, time kinds, row order, series starts and time gaps.

A series is the rows of one group (machine, device) in time order. This
module puts a table's rows in that order, tells where each series starts,
and measures the time steps between rows, so that windows never cross a
series and gaps in time can be reported. It works on plain DataFrames and
arrays so it can be tested without a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError, SchemaMismatchError
from .dtypes import as_numpy_times, values_kind

__all__ = ["WindowSpec", "requested_window", "TIME_KINDS", "time_kind", "time_values", "check_key_columns",
           "order_rows", "window_order", "group_key", "group_starts", "median_step", "find_gaps"]


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
    features : {"stack", "summary"}
        ``"stack"`` models the flattened window (``size x channels``
        features); ``"summary"`` models per-channel window statistics
        (:data:`SUMMARY_STATS`) instead.
    channels : tuple of str
        With ``"summary"``: the feature columns in input order (set at fit).
    summarised : tuple of str
        With ``"summary"``: the numeric channels that get statistics; other
        channels are passed through as they are (set at fit).
    time_kind : {"datetime", "datetime-tz", "duration", "number"} or None
        What the time column held at fit (see :func:`time_kind`); a column of
        another kind is refused at score time. None: not recorded (no time
        column, or a file written before it was).
    median_step_s : float or None
        Median time step within the training series (:func:`median_step`; set
        at fit), against which time gaps are measured. None: no time column,
        no two distinct times in a series, or not fitted yet.
    channel_dtypes : dict of str to str
        With ``"summary"``: each summarised channel's dtype at fit (its
        statistics are float64); empty otherwise and in files written before
        it was recorded.
    """

    size: int
    time_column: str | None = None
    group_column: str | None = None
    features: str = "stack"
    channels: tuple = ()
    summarised: tuple = ()
    time_kind: str | None = None
    median_step_s: float | None = None
    channel_dtypes: dict = field(default_factory=dict, hash=False)

    def key_columns(self) -> list[str]:
        """Columns used for ordering and grouping, never modelled."""
        return [c for c in (self.group_column, self.time_column) if c is not None]

    def to_dict(self) -> dict:
        """JSON-able form, as stored in model files (``median_step_s`` always, null when None)."""
        out = {"size": self.size, "time_column": self.time_column, "group_column": self.group_column}
        if self.features != "stack":
            out.update(features=self.features, channels=list(self.channels), summarised=list(self.summarised))
        if self.time_kind is not None:
            out["time_kind"] = self.time_kind
        out["median_step_s"] = self.median_step_s
        if self.channel_dtypes:
            out["channel_dtypes"] = dict(self.channel_dtypes)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> WindowSpec:
        """Inverse of :meth:`to_dict` (older files have no ``features`` key: stacked windows; nor
        ``time_kind`` or ``channel_dtypes``)."""
        return cls(int(d["size"]), d.get("time_column"), d.get("group_column"), d.get("features", "stack"),
                   tuple(d.get("channels", ())), tuple(d.get("summarised", ())), d.get("time_kind"),
                   d.get("median_step_s"), dict(d.get("channel_dtypes") or {}))


def requested_window(window: int | None, time_column: str | None, group_column: str | None,
                     features: str) -> WindowSpec | None:
    """The windows that ``VAEDetector``'s parameters ask for, before fit completes them; None for rows.

    Raises
    ------
    ValueError
        If ``time_column`` or ``group_column`` is set without ``window``.
    InvalidInputError
        If ``time_column`` and ``group_column`` are the same column.
    """
    if window is None:
        if time_column is not None or group_column is not None:
            raise ValueError("time_column and group_column need window=<rows per window>")
        return None
    if time_column is not None and time_column == group_column:
        raise InvalidInputError(f"time_column and group_column are both {time_column!r}; "
                                "a series cannot be ordered by the column that defines it")
    features = "stack" if int(window) == 1 else features  # one row: nothing to summarise
    return WindowSpec(int(window), time_column, group_column, features)



TIME_KINDS = {"datetime": "datetimes", "datetime-tz": "time-zone-aware datetimes", "duration": "durations",
              "number": "numbers"}


def _as_times(col: pd.Series) -> pd.Series | None:
    """``col`` as NumPy datetime64 or timedelta64 values when it holds datetimes, dates or durations
    (from NumPy, pandas or pyarrow), else None."""
    try:
        return as_numpy_times(col)
    except (ValueError, TypeError) as exc:  # e.g. time zones mixed within the column
        raise InvalidInputError(f"column {col.name!r} (the window's time column) cannot be read as "
                                f"datetimes: {exc}") from None


def time_kind(col: pd.Series) -> str:
    """What a time column holds: ``"datetime"``, ``"datetime-tz"``, ``"duration"`` or ``"number"``.

    The same values give the same kind whether their dtype comes from
    NumPy, pandas or pyarrow (a pyarrow timestamp with a time zone is
    ``"datetime-tz"``, as ``datetime64[ns, UTC]`` is).

    Raises
    ------
    InvalidInputError
        If it holds anything else (text, booleans): text would be ordered
        as text, so ``"10:00"`` would come before ``"9:00"``.
    """
    times = _as_times(col)
    if times is not None:
        if pd.api.types.is_timedelta64_dtype(times.dtype):
            return "duration"
        return "datetime-tz" if isinstance(times.dtype, pd.DatetimeTZDtype) else "datetime"
    kind = values_kind(col)
    if kind == "numbers":
        return "number"
    raise InvalidInputError(
        f"column {col.name!r} (the window's time column) holds {kind}, not datetimes or numbers; convert it "
        "first (for example with pandas.to_datetime), since text would be ordered as text"
    )


def time_values(col: pd.Series) -> np.ndarray:
    """A time column as numbers that order like it: int64 nanoseconds since the epoch (UTC for
    time-zone-aware datetimes) for datetimes, int64 nanoseconds for durations, the values
    themselves for numbers."""
    return _time_numbers(col)[0]


def _time_numbers(col: pd.Series) -> tuple[np.ndarray, bool]:
    """:func:`time_values` of ``col``, and whether they are nanoseconds (datetimes, durations)."""
    times = _as_times(col)
    if times is not None:
        if pd.api.types.is_timedelta64_dtype(times.dtype):
            return times.to_numpy().astype("timedelta64[ns]").astype(np.int64), True
        if isinstance(times.dtype, pd.DatetimeTZDtype):
            times = times.dt.tz_convert("UTC").dt.tz_localize(None)
        return times.to_numpy().astype("datetime64[ns]").astype(np.int64), True
    time_kind(col)  # refuses what is neither
    values = col.to_numpy()
    return (col.to_numpy(dtype=np.float64) if values.dtype == object else values), False  # decimals


def check_key_columns(frame: pd.DataFrame, spec: WindowSpec) -> None:
    """Refuse a missing time or group column, missing keys, or a time column of another kind than at fit."""
    for col in spec.key_columns():
        if col not in frame.columns:
            raise InvalidInputError(f"column {col!r} (the window's {_role(spec, col)} column) is missing")
        if frame[col].isna().any():
            raise InvalidInputError(f"column {col!r} (the window's {_role(spec, col)} column) has missing "
                                    "values")
    if spec.time_column is not None:
        kind = time_kind(frame[spec.time_column])
        if spec.time_kind is not None and kind != spec.time_kind:
            raise SchemaMismatchError(
                f"column {spec.time_column!r} (the window's time column) holds {TIME_KINDS[kind]}, but the "
                f"model was fitted on {TIME_KINDS[spec.time_kind]}"
            )


def _role(spec: WindowSpec, col: str) -> str:
    return "time" if col == spec.time_column else "group"


def order_rows(frame: pd.DataFrame, spec: WindowSpec) -> np.ndarray:
    """Positions that sort ``frame`` by group, then time, then content.

    Rows of one group at the same time (two readings logged in the same
    second) are ordered by a hash of their other columns, so the windows,
    and the scores, do not depend on the order the rows arrived in. Without
    a time column the caller's order within a group is kept. The key
    columns must have been checked (:func:`check_key_columns`).

    Returns
    -------
    ndarray of int (n,)
        ``frame.iloc[order]`` is in window order.
    """
    order, _ = window_order(frame, spec)
    return np.arange(len(frame)) if order is None else order


def window_order(frame: pd.DataFrame, spec: WindowSpec) -> tuple[np.ndarray | None, np.ndarray]:
    """:func:`order_rows` and the :func:`group_starts` of the rows in that order, from one pass over the keys.

    Rows already in window order are not sorted (``order`` is None), and
    rows whose times already rise within each group are sorted by group
    alone; both give the positions a full sort by group and time gives.

    Returns
    -------
    order : ndarray of int (n,) or None
        ``frame.iloc[order]`` is in window order; None when ``frame`` is.
    starts : ndarray of bool (n,)
        True where a group begins, in window order.
    """
    n = len(frame)
    codes = group_key(frame[spec.group_column]) if spec.group_column is not None else None
    times = time_values(frame[spec.time_column]) if spec.time_column is not None else None
    order = None
    if codes is not None and n > 1 and (codes[1:] < codes[:-1]).any():
        # a stable sort of small codes is a radix sort
        order = np.argsort(codes.astype(np.min_scalar_type(max(int(codes.max()), 0))), kind="stable")
    if times is not None and n > 1:
        if (_neighbours(np.less, times, codes, order).any()
                or (times.dtype.kind == "f" and np.isnan(times).any())):
            order = np.lexsort([times] if codes is None else [times, codes])
        order = _break_ties(frame, spec, order, times, codes)
    return order, _starts(codes if order is None or codes is None else codes[order], n)


def _break_ties(frame: pd.DataFrame, spec: WindowSpec, order: np.ndarray | None, times: np.ndarray,
                codes: np.ndarray | None) -> np.ndarray | None:
    """``order``, with rows of one group at the same time ordered by a hash of their other columns
    (else their windows, and scores, would depend on the order they arrived in)."""
    if not _neighbours(np.equal, times, codes, order).any():  # no two rows of a group at one time
        return order
    others = frame.drop(columns=spec.key_columns())
    try:
        content = pd.util.hash_pandas_object(others, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists): hashed as text here, refused by name when encoded
        content = pd.util.hash_pandas_object(others.astype(str), index=False).to_numpy()
    return np.lexsort([content, times] if codes is None else [content, times, codes])


def _neighbours(compare, times: np.ndarray, codes: np.ndarray | None, order: np.ndarray | None) -> np.ndarray:
    """(n - 1,): ``compare(later, earlier)`` of the times of neighbouring rows in ``order`` (None:
    as given), False where the two rows are in different groups."""
    t = times if order is None else times[order]
    out = compare(t[1:], t[:-1])
    if codes is not None:
        c = codes if order is None else codes[order]
        out &= c[1:] == c[:-1]
    return out


def group_key(col: pd.Series) -> np.ndarray:
    """Codes that order like the group values: numbers and datetimes by value (whatever their
    dtype's library), anything else as text."""
    if pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_datetime64_any_dtype(col.dtype):
        return pd.factorize(col, sort=True)[0]
    return pd.factorize(col.astype(str), sort=True)[0]


def _starts(codes: np.ndarray | None, n: int) -> np.ndarray:
    starts = np.zeros(n, dtype=bool)
    starts[:1] = True
    if codes is not None:
        starts[1:] = codes[1:] != codes[:-1]
    return starts


def group_starts(frame_sorted: pd.DataFrame, spec: WindowSpec) -> np.ndarray:
    """Boolean (n,): True where a new group begins in sorted rows (groups compared as
    :func:`order_rows` sorts them)."""
    col = frame_sorted[spec.group_column] if spec.group_column is not None else None
    return _starts(None if col is None else group_key(col), len(frame_sorted))


def median_step(frame_sorted: pd.DataFrame, spec: WindowSpec, starts: np.ndarray) -> float | None:
    """Median time step within groups, in seconds for datetimes and durations, else in the time
    column's units.

    Steps of zero (rows that share a timestamp) are left out, so repeated
    timestamps do not make every later step look like a gap. None without a
    time column, or when no two rows of a group have different times.
    """
    if spec.time_column is None or len(frame_sorted) < 2:
        return None
    steps = _steps(frame_sorted[spec.time_column])
    within = steps[~starts[1:]]
    within = within[np.isfinite(within) & (within > 0)]
    return float(np.median(within)) if within.size else None


def _steps(times: pd.Series) -> np.ndarray:
    """Steps between consecutive rows: seconds for datetimes and durations, the column's own units for
    numbers."""
    values, nanoseconds = _time_numbers(times)
    return np.diff(values) / 1e9 if nanoseconds else np.diff(values.astype(np.float64))


def find_gaps(frame_sorted: pd.DataFrame, spec: WindowSpec, starts: np.ndarray, step: float | None,
              tolerance: float = 3.0) -> pd.DataFrame:
    """Steps longer than ``tolerance`` times the fitted median step.

    Returns
    -------
    DataFrame
        One row per gap: group, the time before and after it, its length in
        seconds (in the time column's units for a numeric time column), and
        ``row``, the position in ``frame_sorted`` of the row after the gap.
    """
    cols = ["group", "before", "after", "seconds", "row"]
    if step is None or step <= 0 or len(frame_sorted) < 2:
        return pd.DataFrame(columns=cols)
    steps = _steps(frame_sorted[spec.time_column])
    big = np.flatnonzero((steps > tolerance * step) & ~starts[1:])
    times = frame_sorted[spec.time_column].to_numpy()
    groups = (frame_sorted[spec.group_column].iloc[big + 1].to_numpy() if spec.group_column
              else np.full(big.size, None))
    return pd.DataFrame({
        "group": groups, "before": times[big], "after": times[big + 1], "seconds": steps[big],
        "row": big + 1,
    }, columns=cols)
