"""A generalised Pareto fitted to the upper tail of calibration scores: its survival function and quantiles.

Peaks over threshold (Pickands-Balkema-de Haan; used for anomaly scores by
SPOT, Siffer et al., "Anomaly Detection in Streams with Extreme Value
Theory", KDD 2017): above a high threshold ``u``, the excesses ``s - u`` of
the calibration scores are fitted with a generalised Pareto distribution
(:data:`scipy.stats.genpareto`, maximum likelihood, location fixed at 0). The
tail survival function ``P(S > s) ~ (n_u / n) * GPD_sf(s - u)`` then extends
the conformal p-value below ``1 / (n_cal + 1)``; :mod:`vae_anomaly.calibration.thresholds`
joins the two into one threshold and one p-value per score.

Pure functions on arrays of anomaly scores (higher = more anomalous).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..exceptions import InvalidInputError

__all__ = ["CONFORMAL_COUNT", "MIN_EXCEEDANCES", "MIN_FIXED_EXCEEDANCES", "SHAPE_RANGE", "TAIL_FRACTION",
           "TailFit", "fit_tail", "tail_quantile", "tail_survival"]

#: Rates of at least ``CONFORMAL_COUNT / (n_cal + 1)`` keep the conformal threshold under
#: ``threshold_method="auto"``: the realised false-positive rate of the conformal threshold is
#: then within [0.5, 2] times the target with probability about 0.96 (it is about
#: Gamma(k) / k distributed with k = rate * (n_cal + 1)); below, the fitted tail is steadier.
CONFORMAL_COUNT = 10
#: Share of the calibration scores above the tail's initial threshold ``u``.
TAIL_FRACTION = 0.1
#: Fewest excesses the shape is fitted to (so at least 491 calibration scores).
MIN_EXCEEDANCES = 50
#: With fewer than MIN_EXCEEDANCES but at least this many excesses, the shape is fixed at 0
#: (an exponential tail) and the tail is used only beyond the largest calibration score.
#: From 20 to 49 calibration scores, the top five are used; below 20, no tail is fitted.
MIN_FIXED_EXCEEDANCES = 5
#: Accepted range of the fitted shape xi. A maximum-likelihood fit outside it (wild fits of
#: few or tied excesses) is refitted with xi fixed at the nearer bound.
SHAPE_RANGE = (-0.5, 1.0)


@dataclass(frozen=True)
class TailFit:
    """A generalised Pareto fitted to the upper tail of calibration scores.

    Plain numbers only: ``asdict`` / :meth:`to_dict` give JSON-able data
    and :meth:`from_dict` reads it back.

    Attributes
    ----------
    status : str
        ``"fitted"``; ``"shape_bounded"`` (the fitted shape was outside
        :data:`SHAPE_RANGE` and was fixed at the bound); ``"shape_fixed"``
        (fewer than ``min_exceedances`` but at least
        :data:`MIN_FIXED_EXCEEDANCES` excesses: the shape is fixed at 0 and
        the tail takes over only beyond the largest calibration score); or,
        when no tail could be fitted and every threshold and p-value stays
        conformal, ``"too_few_scores"`` (fewer than 20 scores, or fewer than
        :data:`MIN_FIXED_EXCEEDANCES` in the top ``tail_fraction``) or
        ``"tied_scores"`` (ties at the top leave fewer than that many scores
        above ``u``, or the excesses are all equal).
    n_calibration : int
        Calibration scores the tail was fitted on.
    n_exceedances : int
        Calibration scores strictly above ``u``.
    u : float
        Initial threshold: the ``1 - TAIL_FRACTION`` empirical quantile.
    shape : float or None
        Shape xi of the generalised Pareto (0: exponential tail, > 0: heavy,
        < 0: bounded with end point ``u - scale / shape``).
    scale : float or None
        Scale sigma of the excesses, in score units.
    ks_statistic : float or None
        Kolmogorov-Smirnov distance between the excesses and the fitted
        distribution; about ``1.36 / sqrt(n_exceedances)`` or more is a poor fit.
    ks_p_value : float or None
        Its p-value. The parameters were fitted on the same excesses, so it
        is conservative: a small value reliably flags a poor fit.
    junction : float
        Calibration score at or below which p-values and thresholds are
        conformal; above it they come from the tail.
    junction_count : int
        Calibration scores at or above ``junction`` (the rank from the top).
    """

    status: str
    n_calibration: int
    n_exceedances: int
    u: float
    shape: float | None
    scale: float | None
    ks_statistic: float | None
    ks_p_value: float | None
    junction: float
    junction_count: int

    @property
    def usable(self) -> bool:
        """Whether a tail was fitted (otherwise everything stays conformal)."""
        return self.status in ("fitted", "shape_bounded", "shape_fixed")

    @property
    def junction_rate(self) -> float:
        """Rates at or above this keep the conformal threshold: ``junction_count / (n_cal + 1)``."""
        return self.junction_count / (self.n_calibration + 1.0) if self.usable else 0.0

    def to_dict(self) -> dict:
        """The fit as plain JSON-able data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TailFit:
        """Inverse of :meth:`to_dict`; raises ``InvalidInputError`` naming a missing key."""
        missing = [f for f in cls.__dataclass_fields__ if f not in data]
        if missing:
            raise InvalidInputError(f"tail fit record lacks {missing}")
        return cls(**{f: data[f] for f in cls.__dataclass_fields__})


def _sorted_scores(calibration_scores) -> np.ndarray:
    cal = np.sort(np.asarray(calibration_scores, dtype=np.float64).ravel())
    if cal.size == 0:
        raise InvalidInputError("calibration needs at least one score")
    if not np.isfinite(cal).all():
        raise InvalidInputError(f"calibration scores must be finite, got {cal[~np.isfinite(cal)][0]!r}")
    return cal


def fit_tail(calibration_scores, *, conformal_count: int | None = CONFORMAL_COUNT,
             tail_fraction: float = TAIL_FRACTION, min_exceedances: int = MIN_EXCEEDANCES) -> TailFit:
    """Fit a generalised Pareto to the excesses over a high quantile of the calibration scores.

    Parameters
    ----------
    calibration_scores : array-like (n_cal,)
        Held-out anomaly scores (higher = more anomalous), finite.
    conformal_count : int or None, default=CONFORMAL_COUNT
        Where conformal p-values hand over to the tail: above the
        ``conformal_count``-th largest calibration score. ``None`` hands over
        at ``u`` (``threshold_method="tail"``: the tail sets every threshold
        it can, i.e. for rates below ``n_exceedances / (n_cal + 1)``). A
        ``"shape_fixed"`` fit always hands over at the largest score.
    tail_fraction : float, default=TAIL_FRACTION
        Share of the calibration scores above ``u``.
    min_exceedances : int, default=MIN_EXCEEDANCES
        Fewest excesses to fit the shape to; with fewer (but at least
        :data:`MIN_FIXED_EXCEEDANCES`) the shape is fixed at 0.

    Returns
    -------
    TailFit
        Its ``status`` says whether a tail was fitted and, if not, why; without
        one, thresholds and p-values stay conformal.

    Raises
    ------
    InvalidInputError
        No calibration scores, a non-finite one, or ``conformal_count < 1``.
    """
    from scipy import stats  # imported on first use: conformal scoring needs no SciPy

    cal = _sorted_scores(calibration_scores)
    if conformal_count is not None and conformal_count < 1:
        raise InvalidInputError(f"conformal_count must be at least 1, got {conformal_count!r}")
    n = cal.size
    n_above = math.ceil(tail_fraction * n)
    if n_above < MIN_FIXED_EXCEEDANCES and n >= 4 * MIN_FIXED_EXCEEDANCES:
        n_above = MIN_FIXED_EXCEEDANCES  # 20 to 49 scores: the top five, at most a quarter of them
    u = float(cal[max(n - n_above - 1, 0)])
    excess = cal[cal > u] - u
    status = "fitted"
    if n_above < MIN_FIXED_EXCEEDANCES or n <= n_above:
        status = "too_few_scores"
    elif excess.size < MIN_FIXED_EXCEEDANCES or excess.max() == excess.min():
        status = "tied_scores"
    elif excess.size < min_exceedances:
        status = "shape_fixed"  # too few excesses to estimate a shape: exponential, beyond the range only
    if status not in ("fitted", "shape_fixed"):
        return TailFit(status, n, int(excess.size), u, None, None, None, None, float(cal[-1]), 1)
    unit = float(excess.mean())  # fit in units of the mean excess: the optimiser sees O(1) numbers
    if status == "shape_fixed":
        shape, _, scale = stats.genpareto.fit(excess / unit, fc=0.0, floc=0)
    else:
        shape, _, scale = stats.genpareto.fit(excess / unit, floc=0)
    lo, hi = SHAPE_RANGE
    if not (np.isfinite(shape) and np.isfinite(scale) and lo <= shape <= hi):
        status = "shape_bounded"
        shape = float(np.clip(np.nan_to_num(shape, nan=0.0), lo, hi))
        _, _, scale = stats.genpareto.fit(excess / unit, fc=shape, floc=0)
    scale = float(scale) * unit
    ks = stats.kstest(excess, stats.genpareto(shape, scale=scale).cdf)
    count = excess.size if conformal_count is None else min(conformal_count, excess.size)
    count = 1 if status == "shape_fixed" else count
    return TailFit(status, n, int(excess.size), u, float(shape), scale, float(ks.statistic),
                   float(ks.pvalue), float(cal[n - count]), int(count))


def tail_survival(tail: TailFit, scores) -> np.ndarray:
    """Estimated share of normal scores above each of ``scores``, from the fitted tail.

    ``(n_exceedances / n_cal) * GPD_sf(s - u)``, valid for ``s >= u``.

    Parameters
    ----------
    tail : TailFit
        A usable fit.
    scores : array-like (n,)
        Anomaly scores.

    Returns
    -------
    ndarray (n,)
        Values in ``[0, n_exceedances / n_cal]``; 0 beyond the end point of a
        bounded tail (``shape < 0``). Scores below ``u`` get the value at ``u``.

    Raises
    ------
    InvalidInputError
        If the fit is not usable.
    """
    from scipy import stats  # imported on first use: conformal scoring needs no SciPy

    _require_usable(tail)
    excess = np.maximum(np.asarray(scores, dtype=np.float64) - tail.u, 0.0)
    return tail.n_exceedances / tail.n_calibration * stats.genpareto.sf(excess, tail.shape, scale=tail.scale)


def _require_usable(tail: TailFit) -> None:
    if not tail.usable:
        raise InvalidInputError(f"no tail was fitted (status {tail.status!r})")


def tail_quantile(tail: TailFit, rate: float) -> float:
    """Score above which the fitted tail puts a share ``rate`` of normal scores.

    The inverse of :func:`tail_survival`:
    ``u + sigma / xi * ((rate * n_cal / n_u) ** -xi - 1)`` (SPOT, eq. 1).

    Parameters
    ----------
    tail : TailFit
        A usable fit.
    rate : float
        Share of normal scores, in ``(0, n_exceedances / n_cal]``.

    Returns
    -------
    float
        At least ``u``.

    Raises
    ------
    InvalidInputError
        If the fit is not usable.
    """
    from scipy import stats  # imported on first use: conformal scoring needs no SciPy

    _require_usable(tail)
    share = tail.n_exceedances / tail.n_calibration
    return float(tail.u + stats.genpareto.isf(min(rate / share, 1.0), tail.shape, scale=tail.scale))
