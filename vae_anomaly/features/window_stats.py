"""Summary statistics of each channel over sliding windows, to the bit of NumPy's NaN-aware reductions.

For every window (a row of a window index, see
:func:`~vae_anomaly.features.windows.window_index`) and every channel this
gives, as long vector operations, the statistics of :data:`SUMMARY_STATS`:
the current reading, the change from the last earlier reading in the window,
and the mean, standard deviation, minimum and maximum of the window's real
readings.

The values are those of ``np.nanmean``, ``np.nanstd`` (``ddof=0``),
``np.nanmin`` and ``np.nanmax`` along the rows of a ``(windows, size)``
array holding NaN at missing readings and padding, to the last bit: missing
readings count as 0 and are left out of the count, and each sum adds the
window's values in the order ``np.sum`` adds a row of ``size`` values
(:func:`~vae_anomaly.features.summation.sum_like_numpy`).
The minimum and maximum do not depend on the order, except for which of
``0.0`` and ``-0.0`` a window holding both gives: windows whose minimum or
maximum is zero are redone with NumPy's own reduction.

What is saved is the cost of a NumPy reduction per window: the statistics
are computed position by position across all windows at once, each window
position a strided view of the series when the windows hold consecutive rows
(whole batches in window order do), in blocks of rows that stay in the CPU
cache.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .summation import sum_like_numpy

__all__ = ["SUMMARY_STATS", "BLOCK_ROWS", "window_statistics"]

#: Statistics of each numeric channel with ``window_features="summary"``, in column order (the
#: second axis of :func:`window_statistics`).
SUMMARY_STATS = ("value", "diff", "mean", "std", "min", "max")

#: Windows per block: a few dozen (channels x BLOCK_ROWS) float64 temporaries stay in cache.
BLOCK_ROWS = 4096


def window_statistics(values: np.ndarray, idx: np.ndarray, max_abs: float) -> np.ndarray:
    """Statistics of each channel over each window.

    Parameters
    ----------
    values : ndarray of float64 (n_channels, n_rows)
        Readings of each channel, rows in window order; NaN where missing.
    idx : ndarray of int (n_windows, size)
        Row of each window position, oldest first; -1 marks padding (see
        :func:`~vae_anomaly.features.windows.window_index`).
    max_abs : float
        The change from the previous reading is clipped to
        ``[-max_abs, max_abs]``.

    Returns
    -------
    ndarray of float64 (n_channels, len(SUMMARY_STATS), n_windows)
        ``value`` is the reading at the window's last position; ``diff``
        its change from the last earlier reading in the window (NaN when
        there is none); ``mean``, ``std``, ``min`` and ``max`` use the real
        readings only (NaN when there are none), and ``std`` is exactly 0
        where they are all equal.

    Examples
    --------
    >>> v = np.array([[1.0, 4.0, np.nan, 2.0]])
    >>> idx = np.array([[-1, -1, 0], [-1, 0, 1], [0, 1, 2], [1, 2, 3]])  # windows of 3 rows
    >>> window_statistics(v, idx, 1e6)[0, SUMMARY_STATS.index("mean")]
    array([1. , 2.5, 2.5, 3. ])
    >>> window_statistics(v, idx, 1e6)[0, SUMMARY_STATS.index("diff")]
    array([nan,  3., nan, -2.])
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    n_channels, n_rows = values.shape
    n_windows, size = idx.shape
    out = np.empty((n_channels, len(SUMMARY_STATS), n_windows))
    if n_windows == 0:
        return out
    first = idx[:, -1] - (size - 1)
    consecutive = (first >= 0) & (idx == first[:, None] + np.arange(size)).all(axis=1)
    # Windows of consecutive rows, row r's window ending at row r (a batch in window order):
    # every window of the series at once, positions as shifted views; the others are redone below.
    if n_windows == n_rows and consecutive.sum() * 2 >= n_rows and np.array_equal(
            first[consecutive] + (size - 1), np.flatnonzero(consecutive)):
        for s in range(0, n_rows - size + 1, BLOCK_ROWS):
            k = min(BLOCK_ROWS, n_rows - size + 1 - s)
            region = values[:, s: s + k + size - 1]
            _statistics(lambda j, s=s, k=k: values[:, s + j: s + j + k], bool(np.isnan(region).any()), size,
                        out[:, :, s + size - 1: s + size - 1 + k], max_abs)
        rest = np.flatnonzero(~consecutive)
    else:
        rest = np.arange(n_windows)
    for s in range(0, rest.size, BLOCK_ROWS):
        rows = rest[s: s + BLOCK_ROWS]
        pad = idx[rows] < 0
        win = values[:, np.where(pad, 0, idx[rows]).T]  # (channels, size, windows): positions contiguous
        win[:, pad.T] = np.nan
        block = np.empty((n_channels, len(SUMMARY_STATS), rows.size))
        _statistics(lambda j, win=win: win[:, j], bool(np.isnan(win).any()), size, block, max_abs)
        out[:, :, rows] = block
    _exact_zero_extremes(values, idx, out)
    return out


def _statistics(position: Callable[[int], np.ndarray], holes: bool, size: int, out: np.ndarray,
                max_abs: float) -> None:
    """Fill ``out`` (channels, len(SUMMARY_STATS), k) from ``position(j)``, the (channels, k) readings
    at window position ``j`` (oldest first; read only); ``holes``: whether any is NaN."""
    value = position(size - 1)
    previous = position(size - 2).copy() if size > 1 else np.full(value.shape, np.nan)
    if holes:  # the last reading earlier in the window where the one just before is missing
        for j in range(size - 3, -1, -1):
            late = np.isnan(previous)
            if not late.any():
                break
            np.copyto(previous, position(j), where=late)
    low, high = position(0).copy(), position(0).copy()
    for j in range(1, size):
        np.fmin(low, position(j), out=low)
        np.fmax(high, position(j), out=high)
    if holes:
        def real(j: int) -> np.ndarray:
            return np.where(np.isnan(position(j)), 0.0, position(j))
        count = sum_like_numpy(lambda j: (~np.isnan(position(j))).astype(np.float64), size, fresh=True)
    else:
        real, count = position, size
    with np.errstate(all="ignore"):  # windows without real readings give NaN, as wanted
        mean = sum_like_numpy(real, size, fresh=holes)
        mean /= count

        def squared(j: int) -> np.ndarray:
            d = np.subtract(real(j), mean)
            if holes:
                np.copyto(d, 0.0, where=np.isnan(position(j)))
            d *= d
            return d

        var = sum_like_numpy(squared, size, fresh=True)
        var /= count
        out[:, 3] = np.where(low == high, 0.0, np.sqrt(var))
        # Two readings within the size limit can differ by more than it: clip, they are extreme anyway.
        out[:, 1] = np.clip(value - previous, -max_abs, max_abs)
    out[:, 0] = value
    out[:, 2] = mean
    out[:, 4] = low
    out[:, 5] = high


def _exact_zero_extremes(values: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
    """Redo with ``np.fmin.reduce``/``np.fmax.reduce`` each minimum and maximum that is zero, whose
    sign depends on the order of comparisons in a window holding both 0.0 and -0.0."""
    for stat, reduce in ((4, np.fmin.reduce), (5, np.fmax.reduce)):
        channel, row = np.nonzero(out[:, stat] == 0.0)
        if channel.size:
            pad = idx[row] < 0
            win = values[channel[:, None], np.where(pad, 0, idx[row])]
            win[pad] = np.nan
            out[channel, stat, row] = reduce(win, axis=1)
