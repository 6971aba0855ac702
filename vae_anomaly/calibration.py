"""Thresholds, p-values and per-feature baselines from held-out calibration rows.

Pure functions on arrays of anomaly scores (higher = more anomalous), so they
can be tested without fitting anything.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conformal_p_values", "threshold_for_rate", "feature_baselines"]


def conformal_p_values(calibration_scores: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Conformal p-values of ``scores`` against held-out normal scores.

    ``p = (1 + #{calibration >= s}) / (1 + n_cal)``. If the calibration rows
    and a new normal row are exchangeable, ``P(p <= alpha) <= alpha``.

    Parameters
    ----------
    calibration_scores : ndarray (n_cal,)
        Anomaly scores of held-out training rows.
    scores : ndarray (n,)
        Anomaly scores to turn into p-values.

    Returns
    -------
    ndarray (n,)
        Values in ``(0, 1]``, smaller for more anomalous rows.

    Examples
    --------
    >>> conformal_p_values(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.5, 9.0]))
    array([1.  , 0.5 , 0.25])
    """
    cal = np.sort(np.asarray(calibration_scores, dtype=np.float64))
    scores = np.asarray(scores, dtype=np.float64)
    n_at_least = cal.size - np.searchsorted(cal, scores, side="left")
    return (1.0 + n_at_least) / (1.0 + cal.size)


def threshold_for_rate(calibration_scores: np.ndarray, rate: float) -> float:
    """Smallest score threshold flagging at most ``rate`` of the calibration rows.

    A row is flagged when its anomaly score is strictly above the returned
    threshold. With ``rate`` read as a false-positive target this is the
    conformal rule ``p <= rate``, rounded to the calibration grid.

    Parameters
    ----------
    calibration_scores : ndarray (n_cal,)
        Held-out anomaly scores.
    rate : float
        Target fraction flagged, in (0, 1).

    Returns
    -------
    float
        The threshold on the anomaly score.

    Examples
    --------
    >>> threshold_for_rate(np.arange(100.0), 0.05)
    95.0
    """
    cal = np.sort(np.asarray(calibration_scores, dtype=np.float64))
    n = cal.size
    if n == 0:
        raise ValueError("calibration needs at least one score")
    # A new score s has p = (1 + #{cal >= s}) / (n + 1) <= rate exactly when at most
    # k = floor(rate * (n + 1)) - 1 calibration scores reach it, i.e. s > cal[n - 1 - k].
    # Too few rows for the rate (k < 0): fall back to the largest calibration score.
    # Counted rather than floor(rate * (n + 1)) so that float rounding (0.29 * 100 =
    # 28.999...) cannot drop a rank whose p-value equals the rate exactly.
    k = int(np.count_nonzero((1.0 + np.arange(n)) / (1.0 + n) <= rate)) - 1
    k = min(max(k, 0), n - 1)
    return float(cal[n - 1 - k])


def feature_baselines(terms: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Median term of each model feature over the held-out rows where it was observed.

    A missing feature adds its baseline to a row's score, and a column's
    contribution is its term minus its baseline.

    Parameters
    ----------
    terms : ndarray (n_cal, n_features)
        Per-feature negative log-likelihoods (or squared errors) of the held-out rows.
    missing : ndarray of bool (n_cal, n_features)
        True where the feature was missing or padding.

    Returns
    -------
    ndarray (n_features,)
        0 for a feature never observed.

    Examples
    --------
    >>> feature_baselines(np.array([[1.0, 5.0], [3.0, 7.0]]), np.array([[False, True], [False, True]]))
    array([2., 0.])
    """
    observed = ~missing
    return np.array([np.median(terms[observed[:, j], j]) if observed[:, j].any() else 0.0
                     for j in range(terms.shape[1])])
