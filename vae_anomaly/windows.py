"""Sliding windows over multivariate series, one window ending at each row.

A window holds the last ``size`` rows of the same group (machine, device),
in time order, ending at the row it belongs to. Rows before a group has
``size`` rows of history get a window whose missing leading positions are
*masked*: they are encoded as missing values, left out of the likelihood, and
the row's ``window_fill`` records how much of its window was real.

With ``features="summary"`` the window is not stacked: each numeric
channel is described by a few cheap statistics of its window instead (the
current value, the change from the previous row, and the window's mean,
standard deviation, minimum and maximum), so the model's width does not grow
with the window and a short fault at one position is not diluted among
``size x channels`` likelihood terms.

Everything here works on plain arrays so it can be tested without a model.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .exceptions import InvalidInputError, SchemaMismatchError
from .preprocessing import Encoded
from .schema import MAX_ABS, check_numeric, require_columns

__all__ = ["WindowSpec", "TIME_KINDS", "time_kind", "time_values", "check_key_columns", "order_rows",
           "group_starts", "window_index", "stack_windows", "window_fill", "median_step", "find_gaps",
           "SUMMARY_STATS", "summary_frame", "summary_name", "summary_owner", "summary_spec",
           "check_summary_frame", "check_channels"]

# Statistics of each numeric channel with features="summary", in column order.
SUMMARY_STATS = ("value", "diff", "mean", "std", "min", "max")


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
    time_kind : {"datetime", "datetime-tz", "number"} or None
        What the time column held at fit (see :func:`time_kind`); a column of
        another kind is refused at score time. None: not recorded (no time
        column, or a file written before it was).
    """

    size: int
    time_column: str | None = None
    group_column: str | None = None
    features: str = "stack"
    channels: tuple = ()
    summarised: tuple = ()
    time_kind: str | None = None

    def key_columns(self) -> list[str]:
        """Columns used for ordering and grouping, never modelled."""
        return [c for c in (self.group_column, self.time_column) if c is not None]

    def to_dict(self) -> dict:
        """JSON-able form, as stored in model files."""
        out = {"size": self.size, "time_column": self.time_column, "group_column": self.group_column}
        if self.features != "stack":
            out.update(features=self.features, channels=list(self.channels), summarised=list(self.summarised))
        if self.time_kind is not None:
            out["time_kind"] = self.time_kind
        return out

    @classmethod
    def from_dict(cls, d: dict) -> WindowSpec:
        """Inverse of :meth:`to_dict` (older files have no ``features`` key: stacked windows)."""
        return cls(int(d["size"]), d.get("time_column"), d.get("group_column"), d.get("features", "stack"),
                   tuple(d.get("channels", ())), tuple(d.get("summarised", ())), d.get("time_kind"))


TIME_KINDS = {"datetime": "datetimes", "datetime-tz": "time-zone-aware datetimes", "number": "numbers"}


def _as_datetimes(col: pd.Series) -> pd.Series | None:
    """``col`` as datetime64 when it holds datetimes or dates (pandas keeps Arrow dates as
    Python ``date`` objects), else None."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return col
    if not pd.api.types.is_object_dtype(col.dtype):
        return None
    if pd.api.types.infer_dtype(col, skipna=True) in ("date", "datetime", "datetime64"):
        try:
            return pd.to_datetime(col)
        except (ValueError, TypeError) as exc:  # e.g. time zones mixed within the column
            raise InvalidInputError(f"column {col.name!r} (the window's time column) cannot be read as "
                                    f"datetimes: {exc}") from None
    return None


def time_kind(col: pd.Series) -> str:
    """What a time column holds: ``"datetime"``, ``"datetime-tz"`` or ``"number"``.

    Raises
    ------
    InvalidInputError
        If it holds anything else (text, booleans): text would be ordered
        as text, so ``"10:00"`` would come before ``"9:00"``.
    """
    dt = _as_datetimes(col)
    if dt is not None:
        return "datetime-tz" if isinstance(dt.dtype, pd.DatetimeTZDtype) else "datetime"
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return "number"
    text = pd.api.types.is_string_dtype(col.dtype) or pd.api.types.is_object_dtype(col.dtype)
    raise InvalidInputError(
        f"column {col.name!r} (the window's time column) holds {'text' if text else f'{col.dtype} values'}, "
        "not datetimes or numbers; convert it first (for example with pandas.to_datetime), since text "
        "would be ordered as text"
    )


def time_values(col: pd.Series) -> np.ndarray:
    """A time column as numbers that order like it: int64 nanoseconds since the epoch (UTC for
    time-zone-aware datetimes) for datetimes, the values themselves for numbers."""
    return _time_numbers(col)[0]


def _time_numbers(col: pd.Series) -> tuple[np.ndarray, bool]:
    """:func:`time_values` of ``col``, and whether they are datetimes (nanoseconds)."""
    dt = _as_datetimes(col)
    if dt is not None:
        if isinstance(dt.dtype, pd.DatetimeTZDtype):
            dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
        return dt.to_numpy().astype("datetime64[ns]").astype(np.int64), True
    time_kind(col)  # refuses what is neither
    return col.to_numpy(), False


def check_key_columns(frame: pd.DataFrame, spec: WindowSpec) -> None:
    """Refuse a missing time or group column, missing keys, or a time column of another kind than at fit."""
    for col in spec.key_columns():
        if col not in frame.columns:
            raise InvalidInputError(f"column {col!r} (the window's {_role(spec, col)} column) is missing")
        if frame[col].isna().any():
            raise InvalidInputError(f"column {col!r} (the window's {_role(spec, col)} column) has missing values")
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
    """Positions that sort ``frame`` by group, then time (stable).

    Returns
    -------
    ndarray of int (n,)
        ``frame.iloc[order]`` is in window order.
    """
    check_key_columns(frame, spec)
    keys = spec.key_columns()
    if not keys:
        return np.arange(len(frame))
    return np.lexsort([time_values(frame[c]) if c == spec.time_column else _group_key(frame[c])
                       for c in reversed(keys)])


def _group_key(col: pd.Series) -> np.ndarray:
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


def summary_frame(features: pd.DataFrame, idx: np.ndarray, summarised) -> pd.DataFrame:
    """Per-window statistics of each channel, one row per window.

    Parameters
    ----------
    features : DataFrame
        Feature columns of the rows in window order (time and group columns
        left out).
    idx : ndarray of int (n, size)
        From :func:`window_index`; -1 marks padding.
    summarised : collection of str
        Numeric channels that get :data:`SUMMARY_STATS` (named
        ``"<stat>(<channel>)"``, the current value keeping the channel's own
        name); other columns are passed through unchanged.

    Returns
    -------
    DataFrame
        Columns channel by channel in input order. Statistics use the real
        rows of each window only (missing values and padding are skipped); a
        window with one real value has standard deviation 0; ``diff`` is the
        change from the last reading earlier in the window, missing when
        there is none (a series' first row).
    """
    pad = idx < 0
    safe = np.where(pad, 0, idx)
    rows = np.arange(idx.shape[0])
    earlier = np.arange(idx.shape[1] - 1)
    summarised = set(summarised)
    cols = {}
    for name in features.columns:
        col = features[name]
        if name not in summarised:
            cols[name] = col  # passed through with its dtype (a categorical stays categorical)
            continue
        v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        win = v[safe]
        win[pad] = np.nan
        # The change from the last reading earlier in the window, so channels sampled on
        # alternate rows still have one; missing when there is none.
        seen = np.where(np.isnan(win[:, :-1]), -1, earlier)
        last = np.maximum.accumulate(seen, axis=1)[:, -1] if seen.shape[1] else np.full(len(rows), -1)
        previous = np.where(last >= 0, win[rows, np.maximum(last, 0)], np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing windows give NaN, as wanted
            stats = {
                "value": v,
                # Two readings within the size limit can differ by more than it: clip, they are extreme anyway.
                "diff": np.clip(v - previous, -MAX_ABS, MAX_ABS),
                "mean": np.nanmean(win, axis=1),
                "std": np.nanstd(win, axis=1),
                "min": np.nanmin(win, axis=1),
                "max": np.nanmax(win, axis=1),
            }
        for stat in SUMMARY_STATS:
            cols[summary_name(stat, name)] = stats[stat]
    return pd.DataFrame(cols, index=features.index)


def summary_name(stat: str, channel: str) -> str:
    """Column name of one statistic of a channel (the current value keeps the channel's name)."""
    return channel if stat == "value" else f"{stat}({channel})"


def summary_owner(channels, summarised) -> np.ndarray:
    """Channel (index into ``channels``) behind each column of :func:`summary_frame`."""
    summarised = set(summarised)
    return np.array([j for j, c in enumerate(channels) for _ in (SUMMARY_STATS if c in summarised else (0,))],
                    dtype=np.int64)


def window_fill(idx: np.ndarray) -> np.ndarray:
    """Share of each window's positions that hold real rows, (n,)."""
    return (idx >= 0).mean(axis=1)


def median_step(frame_sorted: pd.DataFrame, spec: WindowSpec, starts: np.ndarray) -> float | None:
    """Median time step within groups, in seconds for datetimes, else in the time column's units.

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
    """Steps between consecutive rows: seconds for datetimes, the column's own units for numbers."""
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
    groups = (frame_sorted[spec.group_column].to_numpy() if spec.group_column else np.full(len(times), None))
    return pd.DataFrame({
        "group": groups[big + 1], "before": times[big], "after": times[big + 1], "seconds": steps[big],
        "row": big + 1,
    }, columns=cols)


def summary_spec(features: pd.DataFrame, spec: WindowSpec, numeric) -> WindowSpec:
    """``spec`` with the channels to summarise, after checking the training rows.

    Parameters
    ----------
    features : DataFrame
        The feature columns of the training rows, in the caller's order.
    spec : WindowSpec
        With ``features="summary"``.
    numeric : sequence of str
        The numeric feature columns: they get :data:`SUMMARY_STATS`.

    Raises
    ------
    InvalidInputError
        If a numeric channel holds text or an infinity (naming the caller's
        row), or a column is named like a statistic of a channel
        (``mean(x)`` beside ``x``).
    """
    check_channels(features, numeric)
    taken = set(features.columns)
    for channel in numeric:
        for stat in SUMMARY_STATS[1:]:
            if summary_name(stat, channel) in taken:
                raise InvalidInputError(
                    f"column {summary_name(stat, channel)!r} has the name of the window {stat} of channel "
                    f"{channel!r}; rename it"
                )
    return dataclasses.replace(spec, channels=tuple(features.columns), summarised=tuple(numeric))


def check_summary_frame(summary: pd.DataFrame, spec: WindowSpec, single_row_series: bool = False) -> None:
    """Refuse a channel whose change from the previous reading is never seen in training.

    ``single_row_series`` (every series of the training rows is one row)
    makes the message say so.
    """
    for channel in spec.summarised:
        if summary[channel].isna().all():
            continue  # no readings at all: the preprocessor refuses the column by name
        if summary[summary_name("diff", channel)].isna().all():
            if single_row_series:
                raise InvalidInputError(
                    f"every series has a single row, so no window holds two readings of {channel!r}; windows "
                    "need series of several rows (check the group column)"
                )
            raise InvalidInputError(
                f"channel {channel!r} never has two readings within one window of {spec.size} rows, so its "
                "change between readings is never seen; use a longer window, or stacked windows "
                "(window_features='stack', --window-features stack)"
            )


def check_channels(frame: pd.DataFrame, summarised) -> None:
    """Refuse what the statistics would hide: text in a numeric channel, or an infinite reading.

    A channel that now has a text dtype is a :class:`SchemaMismatchError`;
    text values or infinities are :class:`InvalidInputError` naming the
    column (and for infinities the row of ``frame``).
    """
    require_columns(frame.columns, summarised)
    for name in summarised:
        dtype = frame[name].dtype
        if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
            raise SchemaMismatchError(f"column {name!r} was numeric at fit time but is {dtype} now")
    check_numeric(frame, summarised)
