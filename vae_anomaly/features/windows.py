"""Sliding windows over a series, one window ending at each row: stacked rows or summary statistics.

A window holds the last ``size`` rows of the same series (see
:mod:`~vae_anomaly.features.series`), in time order, ending at the row it
belongs to. Rows before a series has ``size`` rows of history get a window
whose missing leading positions are *masked*: they are encoded as missing
values, left out of the likelihood, and the row's ``window_fill`` records
how much of its window was real.

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

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError, SchemaMismatchError
from .encoder import Encoded
from .schema import MAX_ABS, NUMERIC, check_numeric, infer_schema, numeric_columns, require_columns
from .series import WindowSpec, check_key_columns, time_kind, window_order
from .window_stats import SUMMARY_STATS, window_statistics

__all__ = ["training_windows", "summary_training_frame", "window_index", "stack_windows", "cut_windows",
           "window_fill", "summary_frame", "summary_name", "summary_owner", "summary_spec",
           "check_summary_frame", "check_channels"]


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
    near = np.flatnonzero(rows - first < size - 1)  # rows whose window reaches before their group
    part = idx[near]
    idx[near] = np.where(part >= first[near, None], part, -1)
    return idx


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
        From :func:`window_index`, or some of its rows (a window's last
        position, ``idx[:, -1]``, is the row it belongs to); -1 marks padding.
    summarised : collection of str
        Numeric channels that get :data:`SUMMARY_STATS` (named
        ``"<stat>(<channel>)"``, the current value keeping the channel's own
        name); other columns are passed through unchanged.

    Returns
    -------
    DataFrame
        One row per row of ``idx``, with the index of the row each window
        belongs to. Columns channel by channel in input order. Statistics use
        the real rows of each window only (missing values and padding are
        skipped); a window whose real values are all equal (one value, or a
        constant channel) has standard deviation exactly 0; ``diff`` is the
        change from the last reading earlier in the window, missing when
        there is none (a series' first row).
    """
    own = idx[:, -1] if idx.shape[1] else np.zeros(0, dtype=np.int64)
    index = features.index[own]
    summarised = [name for name in features.columns if name in set(summarised)]
    values = np.array(numeric_columns(features, summarised)) if summarised else np.empty((0, len(features)))
    names = [summary_name(stat, name) for name in summarised for stat in SUMMARY_STATS]
    block = window_statistics(values, idx, MAX_ABS).reshape(len(names), -1)  # channel by channel
    if len(summarised) == features.shape[1]:  # one float block, no copy
        return pd.DataFrame(block.T, columns=names, index=index, copy=False)
    rows = np.arange(idx.shape[0])
    width, cols = len(SUMMARY_STATS), {}
    for name in features.columns:
        if name in summarised:
            c = summarised.index(name)
            cols.update(zip(names[width * c: width * (c + 1)], block[width * c: width * (c + 1)],
                            strict=True))
            continue
        col = features[name]  # passed through with its dtype (a categorical stays categorical)
        cols[name] = col if own.size == len(col) and (own == rows).all() else col.iloc[own]
    return pd.DataFrame(cols, index=index)


def summary_name(stat: str, channel: str) -> str:
    """Column name of one statistic of a channel (the current value keeps the channel's name)."""
    return channel if stat == "value" else f"{stat}({channel})"


def summary_owner(channels, summarised) -> np.ndarray:
    """Channel (index into ``channels``) behind each column of :func:`summary_frame`."""
    summarised = set(summarised)
    return np.array([j for j, c in enumerate(channels) for _ in (SUMMARY_STATS if c in summarised else (0,))],
                    dtype=np.int64)


def cut_windows(idx: np.ndarray, real: int) -> np.ndarray:
    """Windows of ``idx`` cut to their last ``real`` positions (older ones become padding, -1):
    the windows these rows would have as row number ``real`` (1-based) of a series.

    Examples
    --------
    >>> cut_windows(np.array([[3, 4, 5], [-1, 0, 1]]), 2)
    array([[-1,  4,  5],
           [-1,  0,  1]])
    """
    return np.where(np.arange(idx.shape[1]) >= idx.shape[1] - real, idx, -1)


def window_fill(idx: np.ndarray) -> np.ndarray:
    """Share of each window's positions that hold real rows, (n,)."""
    return (idx >= 0).mean(axis=1)


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


def summary_training_frame(frame: pd.DataFrame, spec: WindowSpec) -> pd.DataFrame:
    """The per-window statistics of ``frame`` (window order), to fit the preprocessor on.

    ``frame``'s key columns must have been checked (:func:`series.check_key_columns`).
    """
    order, starts = window_order(frame, spec)  # one pass over the keys gives both
    ordered = (frame if order is None else frame.iloc[order]).reset_index(drop=True)
    idx = window_index(starts, spec.size)
    return summary_frame(ordered.drop(columns=spec.key_columns()), idx, spec.summarised)


def training_windows(frame: pd.DataFrame, spec: WindowSpec,
                     max_categories: int) -> tuple[WindowSpec, pd.DataFrame]:
    """Check a windowed training table and complete ``spec`` from it.

    Returns
    -------
    spec : WindowSpec
        With the time column's kind and, for summary windows, the channels
        and each summarised channel's dtype (``channel_dtypes``).
    features : DataFrame
        What the preprocessor is fitted on: the feature columns, or for
        summary windows their window statistics (window order).

    Raises
    ------
    InvalidInputError
        If a key column is missing or incomplete, no feature column is left,
        or a channel cannot be summarised; the message names it.
    """
    check_key_columns(frame, spec)
    if spec.time_column is not None:
        spec = dataclasses.replace(spec, time_kind=time_kind(frame[spec.time_column]))
    features = frame.drop(columns=spec.key_columns())
    if features.shape[1] == 0:
        raise InvalidInputError("no feature columns left besides the time and group columns")
    if spec.features != "summary":
        return spec, features
    numeric = [c.name for c in infer_schema(features, max_categories) if c.kind == NUMERIC]
    spec = dataclasses.replace(summary_spec(features, spec, numeric),
                               channel_dtypes={name: str(features[name].dtype) for name in numeric})
    summary = summary_training_frame(frame, spec)
    single = spec.group_column is not None and not frame[spec.group_column].astype(str).duplicated().any()
    check_summary_frame(summary, spec, single_row_series=single)
    return spec, summary
