"""What a drift check compares a batch with: the calibration scores, the threshold and per-column bins.

The column bins are the calibration rows' per-column values (their
contributions, for a fitted model) counted between the calibration
deciles; :mod:`vae_anomaly.calibration.drift` counts a batch the same way. Everything
here is stored in, or derived from, the model file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InvalidInputError

__all__ = ["N_BINS", "DriftReference", "bin_counts", "column_reference", "finite_2d"]

#: Bins per column (at the calibration deciles).
N_BINS = 10


def bin_counts(values: np.ndarray, edges: np.ndarray, n_bins: int) -> np.ndarray:
    """(d, n_bins) counts of each column's values (m, d) between its inner edges (d, n_bins - 1).

    Bin ``i`` holds the values ``v`` with ``edges[i - 1] <= v < edges[i]``.
    Counted as the values below each edge, column by column on a contiguous
    copy: several times faster than a search per value, for a scored batch.
    """
    columns = np.ascontiguousarray(np.asarray(values).T)
    below = np.empty((columns.shape[0], n_bins + 1), dtype=np.int64)
    below[:, 0], below[:, -1] = 0, columns.shape[1]
    for j, column in enumerate(columns):
        for k in range(n_bins - 1):
            below[j, k + 1] = np.count_nonzero(column < edges[j, k])
    return np.diff(below, axis=1)


def finite_2d(values, what: str) -> np.ndarray:
    """``values`` as a float64 (rows, columns) array; ``InvalidInputError`` naming ``what`` unless 2-d and
    finite."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInputError(f"{what} must be a 2-d array (rows, columns), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInputError(f"{what} must be finite, got {x[~np.isfinite(x)][0]!r}")
    return x


def column_reference(column_values, n_bins: int = N_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Per-column bins of the calibration rows' values, to store with the model.

    Parameters
    ----------
    column_values : array-like (n_cal, d)
        One finite value per calibration row and column: their
        contributions (as ``feature_contributions`` gives them), or any other
        per-column values that are then passed for the batch the same way.
    n_bins : int, default=N_BINS
        Bins per column, at equally spaced quantiles.

    Returns
    -------
    edges : ndarray (d, n_bins - 1)
        Inner bin edges: the calibration quantiles ``1/n_bins, ..., 1 - 1/n_bins``.
    counts : ndarray of int64 (d, n_bins)
        Calibration rows in each bin (unequal where values tie).

    Raises
    ------
    InvalidInputError
        A non-finite value, a shape that is not 2-d, no rows, or ``n_bins < 2``.
    """
    x = finite_2d(column_values, "calibration column values")
    if n_bins < 2 or x.shape[0] == 0:
        raise InvalidInputError(f"need n_bins >= 2 and at least one row, got {n_bins!r} and {x.shape[0]}")
    edges = np.ascontiguousarray(np.quantile(x, np.arange(1, n_bins) / n_bins, axis=0).T)
    return edges, bin_counts(x, edges, n_bins)


@dataclass(frozen=True, eq=False)
class DriftReference:
    """What a drift check compares against, all stored in (or derived from) the model file.

    Attributes
    ----------
    calibration_scores : ndarray (n_cal,)
        Held-out anomaly scores.
    threshold : float
        Rows scoring strictly above it are flagged.
    column_edges : ndarray (d, n_bins - 1) or None
        From :func:`column_reference`; ``None`` skips the column test.
    column_counts : ndarray (d, n_bins) or None
        From :func:`column_reference`.
    feature_names : sequence of str or None
        Column names (default ``x0, x1, ...``).
    """

    calibration_scores: np.ndarray
    threshold: float
    column_edges: np.ndarray | None = None
    column_counts: np.ndarray | None = None
    feature_names: tuple = field(default=None)

    def __post_init__(self):
        cal = np.sort(np.asarray(self.calibration_scores, dtype=np.float64).ravel())
        if cal.size == 0 or not np.isfinite(cal).all():
            raise InvalidInputError("a drift reference needs finite calibration scores, at least one")
        object.__setattr__(self, "calibration_scores", cal)
        if (self.column_edges is None) != (self.column_counts is None):
            raise InvalidInputError("column_edges and column_counts go together")
        if self.column_edges is not None:
            d = np.shape(self.column_counts)[0]
            names = (tuple(f"x{j}" for j in range(d)) if self.feature_names is None
                     else tuple(map(str, self.feature_names)))
            if len(names) != d or np.shape(self.column_edges) != (d, np.shape(self.column_counts)[1] - 1):
                raise InvalidInputError(f"column reference shapes {np.shape(self.column_edges)} and "
                                        f"{np.shape(self.column_counts)} do not fit {len(names)} "
                                        "feature names")
            object.__setattr__(self, "feature_names", names)


