"""Thresholds, p-values and per-feature baselines from held-out calibration rows.

Conformal p-values and thresholds, carried below ``1 / (n_cal + 1)`` by a
tail fitted to the calibration scores (:mod:`vae_anomaly.calibration.tail`) when the rate
asks for it; the threshold for a share of the rows given to ``fit``
(``contamination``); and whether the held-out rows support a rate. Pure
functions on arrays of anomaly scores (higher = more anomalous), so they can
be tested without fitting anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..exceptions import InvalidInputError
from .tail import CONFORMAL_COUNT, TailFit, fit_tail, tail_quantile, tail_survival

__all__ = ["Threshold", "add_baseline", "choose_threshold", "conformal_p_values", "feature_baselines",
           "p_value_tail", "p_values", "rows_needed", "rule_for_rate", "threshold_for_rate",
           "unsupported_rate_message"]


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


def threshold_for_rate(calibration_scores: np.ndarray, rate: float, tail: TailFit | None = None) -> float:
    """Smallest score threshold flagging at most ``rate`` of the calibration rows, or the tail's quantile.

    A row is flagged when its anomaly score is strictly above the returned
    threshold. With ``rate`` read as a false-positive target this is the
    conformal rule ``p <= rate``, rounded to the calibration grid. With a
    usable ``tail`` and ``rate < tail.junction_rate``, it is instead the
    generalised Pareto quantile (:func:`vae_anomaly.calibration.tail.tail_quantile`),
    raised to ``tail.junction`` if below it. Either way a score is above the
    threshold exactly when its :func:`p_values` (with the same ``tail``) is
    at most ``rate``, apart from a score exactly at it; when the calibration
    set cannot reach the rate (``rate < 1 / (n_cal + 1)``, no tail) this is
    the largest calibration score.

    Parameters
    ----------
    calibration_scores : ndarray (n_cal,)
        Held-out anomaly scores.
    rate : float
        Target fraction flagged, in (0, 1).
    tail : TailFit, optional
        Fitted on ``calibration_scores``.

    Returns
    -------
    float
        The threshold on the anomaly score.

    Raises
    ------
    InvalidInputError
        If ``rate`` is not in (0, 1).

    Examples
    --------
    >>> threshold_for_rate(np.arange(100.0), 0.05)
    95.0
    """
    _check_rate(rate)
    cal = np.sort(np.asarray(calibration_scores, dtype=np.float64))
    n = cal.size
    if n == 0:
        raise ValueError("calibration needs at least one score")
    if tail is not None and tail.usable and rate < tail.junction_rate:
        return max(tail_quantile(tail, rate), tail.junction)
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


def add_baseline(scores: np.ndarray, missing: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Add each missing or padded feature's typical (baseline) term to its row's score.

    A row with holes is then scored on the same footing as a full one; the
    missing value itself never enters the likelihood.
    """
    return scores + missing @ baseline if missing.any() else scores


def p_values(calibration_scores: np.ndarray, scores: np.ndarray, tail: TailFit | None = None) -> np.ndarray:
    """p-values that are conformal where the calibration set resolves them, and from ``tail`` beyond.

    Up to ``tail.junction`` this is :func:`conformal_p_values`; above it,
    ``min(tail_survival(s), tail.junction_rate)``. Both pieces fall as the
    score rises and the second lies below the first, so ``p`` never rises
    with the score; beyond the largest calibration score it keeps falling,
    below ``1 / (n_cal + 1)``.

    Parameters
    ----------
    calibration_scores : ndarray (n_cal,)
        Held-out anomaly scores (the ones ``tail`` was fitted on).
    scores : ndarray (n,)
        Anomaly scores to turn into p-values.
    tail : TailFit, optional
        Without one, or with an unusable one, the p-values are conformal.

    Returns
    -------
    ndarray (n,)
        Values in ``[0, 1]``, smaller for more anomalous rows; 0 only beyond
        the end point of a bounded tail.

    Examples
    --------
    >>> p_values(np.array([1.0, 2.0, 3.0]), np.array([0.0, 9.0]))
    array([1.  , 0.25])
    """
    p = conformal_p_values(calibration_scores, scores)
    if tail is not None and tail.usable:
        scores = np.asarray(scores, dtype=np.float64)
        above = scores > tail.junction
        if above.any():
            p[above] = np.minimum(tail_survival(tail, scores[above]), tail.junction_rate)
    return p


def rule_for_rate(tail: TailFit | None, rate: float) -> str:
    """Which rule sets the threshold for ``rate``: ``"tail"`` below ``tail.junction_rate``, else
    ``"conformal"``."""
    return "tail" if tail is not None and tail.usable and rate < tail.junction_rate else "conformal"


def rows_needed(rate: float) -> int:
    """Fewest held-out rows whose smallest conformal p-value, ``1 / (n + 1)``, is at most ``rate``.

    >>> rows_needed(0.01), rows_needed(1e-4)
    (99, 9999)
    """
    n = max(math.ceil(1.0 / rate) - 2, 1)
    while 1.0 / (1.0 + n) > rate:  # the comparison threshold_for_rate makes, so float rounding agrees
        n += 1
    return n


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold, the rule that set it, and whether the held-out rows support the rate.

    Attributes
    ----------
    value : float
        Anomaly scores strictly above it are flagged; ``inf`` (nothing
        flagged) when the p-values cannot reach the rate.
    rule : {"conformal", "tail", "contamination"}
        ``"contamination"``: a share of the rows given to ``fit``.
    tail : TailFit or None
        The tail fitted to the calibration scores; None for ``method="conformal"``.
    rows_needed : int or None
        Held-out rows that would support the rate (:func:`rows_needed`) when
        these do not; None when they do.
    """

    value: float
    rule: str
    tail: TailFit | None
    rows_needed: int | None


def p_value_tail(method: str, rule: str, tail: TailFit | None) -> TailFit | None:
    """The tail the p-values use: ``tail`` when it set the threshold or was asked for, else None
    (conformal)."""
    return tail if tail is not None and tail.usable and (rule == "tail" or method == "tail") else None


def choose_threshold(calibration_scores: np.ndarray, rate: float, method: str = "auto", *,
                     fit_scores: np.ndarray | None = None) -> Threshold:
    """The threshold for ``rate``, by the conformal rule or from a fitted tail, as ``method`` says.

    ``"conformal"`` fits no tail. ``"auto"`` fits one and uses it for rates
    below ``CONFORMAL_COUNT / (n_cal + 1)``; ``"tail"`` for every rate it
    covers (hand-over at the tail's ``u``). A row is flagged exactly when its
    :func:`p_values` (with :func:`p_value_tail`) is at most ``rate``, up to
    a score exactly at the threshold; so without a usable tail, a rate below
    ``1 / (n_cal + 1)`` flags nothing.

    Parameters
    ----------
    calibration_scores : ndarray (n_cal,)
        Held-out anomaly scores, finite.
    rate : float
        Target false-positive rate in (0, 1); with ``fit_scores``, the share of them to flag.
    method : {"auto", "conformal", "tail"}, default="auto"
    fit_scores : ndarray (n,), optional
        Scores of every row given to ``fit`` (``contamination``): the
        threshold is their ``1 - rate`` quantile, so a share ``rate`` of
        them is flagged, as scikit-learn's ``IsolationForest`` sets
        ``offset_``. The p-values stay calibrated on the held-out rows.

    Returns
    -------
    Threshold

    Raises
    ------
    InvalidInputError
        If the calibration scores are empty or not finite, or ``rate`` is not in (0, 1).
    """
    _check_rate(rate)
    tail = None
    if method != "conformal":
        tail = fit_tail(calibration_scores, conformal_count=CONFORMAL_COUNT if method == "auto" else None)
    if fit_scores is not None:
        return Threshold(float(np.percentile(fit_scores, 100.0 * (1.0 - rate))), "contamination", tail, None)
    n = np.size(calibration_scores)
    rule = rule_for_rate(tail, rate)
    value = threshold_for_rate(calibration_scores, rate, tail)
    supported = 1.0 / (1.0 + n) <= rate
    if not supported and rule == "conformal":
        value = math.inf  # the p-values never reach the rate: flag nothing rather than contradict them
    return Threshold(value, rule, tail, None if supported else rows_needed(rate))


def unsupported_rate_message(threshold: Threshold, n_calibration: int, rate: float,
                             validation_fraction: float | None = None) -> str | None:
    """One line on why ``n_calibration`` held-out rows cannot support ``target_fpr=rate``;
    None if they can.

    Examples
    --------
    >>> t = choose_threshold(np.arange(12.0), 0.01)
    >>> print(unsupported_rate_message(t, 12, 0.01,
    ...                                validation_fraction=0.2))  # doctest: +NORMALIZE_WHITESPACE
    12 held-out rows cannot support target_fpr=0.01: the smallest p-value they give is 1/13 = 0.0769,
    so no row will be flagged. 99 held-out rows would support it (about 495 rows with
    validation_fraction=0.2).
    """
    if threshold.rows_needed is None:
        return None
    n, tail = int(n_calibration), threshold.tail
    text = (f"{n} held-out rows cannot support target_fpr={rate:g}: the smallest p-value they give is "
            f"1/{n + 1} = {1 / (n + 1):.3g}")
    if threshold.rule == "tail":
        text += ("; the threshold and the p-values beyond the largest held-out score are extrapolated from "
                 f"a tail fitted to the top {tail.n_exceedances} of them (shape {tail.shape:.3g}), so the "
                 f"share of normal rows flagged may be several times above or below {rate:g}.")
    else:
        text += ", so no row will be flagged."
    text += f" {threshold.rows_needed} held-out rows would support it"
    if validation_fraction:
        text += (f" (about {math.ceil(threshold.rows_needed / validation_fraction)} rows with "
                 f"validation_fraction={validation_fraction:g})")
    return text + "."


def _check_rate(rate: float) -> None:
    if not 0.0 < rate < 1.0:
        raise InvalidInputError(f"rate must lie in (0, 1), got {rate!r}")
