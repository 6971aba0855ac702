"""Numeric scaling: per-column centre and spread, rank-Gaussian maps, heavy tails.

Pure functions on float64 arrays (``NaN`` for missing values), fitted on the
training rows by :class:`~vae_anomaly.features.encoder.TabularPreprocessor`
and applied column by column when it encodes a table.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_Z", "EDGE_P", "Z_EDGE", "REL_TOL", "robust_center_scale", "robust_spread", "spread_floor",
           "flat", "heavy_tailed", "mean_std", "column_quantiles", "quantile_forward", "quantile_inverse"]

_N_QUANTILES = 1000
# With scaler="robust", a column whose extreme quantiles reach further than this many
# robust spreads from its median is compressed with asinh (log-like in the tails).
_HEAVY_TAIL = 10.0
# Largest magnitude of a scaled value; beyond it every value is equally extreme.
MAX_Z = 1e4
# Keep the CDF away from 0 and 1 so the normal quantile stays finite (|z| <= 4.26).
EDGE_P = 1e-5
Z_EDGE = 4.264890793923841  # ndtri(1 - EDGE_P); a literal so that importing needs no scipy
# Smallest spread relative to a column's level: 1e-6 of its size, about 16 times the rounding of a
# float32 round trip (at most 6e-8 of the value), so re-reading the same values as float32 moves
# them by at most 0.06 spreads.
REL_TOL = 1e-6
_SMALLEST_NORMAL = float(np.finfo(np.float64).tiny)
# Central ranges tried in turn for a robust spread while the narrower ones are 0: the lower tail
# probability of each range and its width on a standard normal (2 * ndtri(1 - p), to 4 digits).
_SPREAD_RANGES = ((0.25, 1.349), (0.10, 2.563), (0.05, 3.290), (0.01, 4.653))


def spread_floor(center: float) -> float:
    """Smallest spread of a column centred at ``center``: ``REL_TOL * |center|``, or ``REL_TOL``
    (absolute) for a column centred at exactly 0, which has no size to be relative to.

    Never below the smallest normal float64 (about 2.2e-308): for a column centred at a
    subnormal value such as 5e-324, ``REL_TOL * |center|`` rounds to 0, and dividing by it
    would turn the column's own value into NaN.

    Examples
    --------
    >>> print(f"{spread_floor(14.62):.4g} {spread_floor(-0.01):.4g} {spread_floor(0.0):.4g}")
    1.462e-05 1e-08 1e-06
    >>> spread_floor(5e-324) > 0
    True
    """
    return max(REL_TOL * abs(center), _SMALLEST_NORMAL) if center != 0 else REL_TOL


def robust_spread(v: np.ndarray, center: float) -> float:
    """Spread of one column's observed values, which a few outliers cannot inflate.

    The interquartile range, scaled to a standard deviation for normal data
    (``/ 1.349``). Where it is 0 (more than half the values equal: an idle
    sensor, zero-inflated counts, quantised readings), the central 80 %,
    90 %, then 98 % range is used, scaled the same way, so up to 1 % of the
    values at either end cannot change it. Where all of them are 0 (the
    column is constant except for under 1 % of its values) and for any
    spread below it, the spread is :func:`spread_floor`: a constant is then
    recognised whatever its unit, and values within float32 rounding of it
    stay within 0.06 spreads.

    Parameters
    ----------
    v : ndarray (n,), float64
        Observed (non-missing) values, n >= 1.
    center : float
        The column's centre (its median).

    Returns
    -------
    float
        Positive spread, in the column's units.

    Examples
    --------
    >>> idle = np.r_[np.full(80, 0.1), np.linspace(0.1, 0.2, 20), [50.0, 70.0, 90.0]]
    >>> round(robust_spread(idle, 0.1), 4)  # the 80 % range; the spikes do not count
    0.0242
    >>> print(f"{robust_spread(np.full(5, 14.62), 14.62):.4g}")
    1.462e-05
    """
    return float(_spreads(v[:, None], np.array([center]))[0])


def _spreads(block: np.ndarray, center: np.ndarray) -> np.ndarray:
    """:func:`robust_spread` of every column of ``block`` (n, d), n >= 1 and no NaN, with centres
    ``center`` (d,): one quantile call per range for all the columns still at 0."""
    s = np.zeros(block.shape[1])
    todo = np.ones(block.shape[1], dtype=bool)
    for p, width in _SPREAD_RANGES:
        lo, hi = np.quantile(block[:, todo], [p, 1.0 - p], axis=0)
        s[todo] = (hi - lo) / width
        todo &= ~(s > 0)
        if not todo.any():
            break
    return np.maximum(s, [spread_floor(x) for x in center])


def robust_center_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and :func:`robust_spread` per column of ``values`` (n, d), ignoring NaN.

    A column with no observed value gets centre 0 and spread 1.
    """
    d = values.shape[1]
    center = np.zeros(d)
    scale = np.ones(d)
    full = _complete_columns(values)
    if full.any():  # columns without NaN in one call per quantile pair: the same numbers, far fewer calls
        block = values[:, full]
        center[full] = np.median(block, axis=0)
        scale[full] = _spreads(block, center[full])
    for j in np.flatnonzero(~full):
        v = values[:, j]
        v = v[~np.isnan(v)]
        if v.size == 0:
            continue
        center[j] = np.median(v)
        scale[j] = robust_spread(v, center[j])
    return center, scale


def _complete_columns(values: np.ndarray) -> np.ndarray:
    """Boolean (d,): columns of ``values`` (n, d) with at least one row and no NaN."""
    if values.shape[0] == 0:
        return np.zeros(values.shape[1], dtype=bool)
    return ~np.isnan(values).any(axis=0)


def heavy_tailed(quantiles: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Columns whose 0.1% or 99.9% quantile lies over ``_HEAVY_TAIL`` robust spreads from the median."""
    if quantiles.size == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = np.quantile(np.linspace(0, 1, quantiles.shape[1]), [0.001, 0.999])
    idx_lo, idx_hi = int(round(lo * (quantiles.shape[1] - 1))), int(round(hi * (quantiles.shape[1] - 1)))
    reach = np.maximum(quantiles[:, idx_hi] - center, center - quantiles[:, idx_lo]) / scale
    return reach > _HEAVY_TAIL


def mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per column, ignoring NaN.

    A standard deviation below :func:`spread_floor` of the mean (a constant
    column, whose computed deviation is rounding noise) is raised to it.
    """
    with np.errstate(all="ignore"):
        mean = np.nan_to_num(np.nanmean(values, axis=0)) if values.size else np.zeros(values.shape[1])
        std = np.nan_to_num(np.nanstd(values, axis=0)) if values.size else np.ones(values.shape[1])
    floor = np.array([spread_floor(m) for m in mean])
    return mean, np.maximum(std, floor)


def column_quantiles(values: np.ndarray) -> np.ndarray:
    """Empirical quantiles per column on a fixed grid, shape (n_features, n_quantiles)."""
    probs = np.linspace(0.0, 1.0, _N_QUANTILES)
    out = np.zeros((values.shape[1], _N_QUANTILES))
    full = _complete_columns(values)
    if full.any():
        out[full] = np.quantile(values[:, full], probs, axis=0).T
    for j in np.flatnonzero(~full):
        v = values[:, j]
        v = v[~np.isnan(v)]
        if v.size:
            out[j] = np.quantile(v, probs)
    return out


def quantile_forward(x: np.ndarray, q: np.ndarray, scale: float) -> np.ndarray:
    """Rank-Gaussian map of one column, linear beyond the fitted range.

    Inside the fitted range the empirical CDF (interpolated between the
    stored quantiles) is mapped to a normal quantile, so the training values
    span about +-4.3. Past the fitted minimum and maximum the map continues
    linearly with slope ``1 / scale``, so values never seen in training keep
    growing with their distance instead of being clipped. It continues from
    where the range ends, so it never jumps: at +-4.26 when the extreme
    training value is unique, and from the middle of a run of equal
    extreme values otherwise (a plateau at the minimum). A column constant
    within float rounding (see :func:`flat`) has no ranks to map: it is
    scaled as ``(x - median) / scale``, as the robust scaler does.
    """
    from scipy.special import ndtri  # here, not at the top: scoring jobs need no scipy

    q = _merge_subnormal_steps(q)
    if flat(q):
        return (x - q[q.size // 2]) / scale
    z = ndtri(np.clip(_tied_cdf(x, q), EDGE_P, 1.0 - EDGE_P))
    lo, hi = _edges(q)
    z = np.where(x > q[-1], hi + (x - q[-1]) / scale, z)
    z = np.where(x < q[0], lo + (x - q[0]) / scale, z)
    return z


def flat(q: np.ndarray) -> bool:
    """Whether sorted values (or quantiles) ``q`` are equal within ``REL_TOL`` of their size.

    Examples
    --------
    >>> flat(np.array([14.62, 14.62 + 1e-15])), flat(np.array([0.0, 0.0])), flat(np.array([1.0, 1.1]))
    (True, True, False)
    """
    return bool(q[-1] - q[0] <= REL_TOL * max(abs(q[0]), abs(q[-1])))


def _merge_subnormal_steps(q: np.ndarray) -> np.ndarray:
    """``q`` with each step smaller than the smallest normal float64 (about 2.2e-308) made a tie.

    Interpolating across such a step divides by a subnormal number: the slope
    overflows to infinity and values inside the step map to NaN. A tie maps them
    to the middle of the run instead. Quantiles without such steps come back as
    they are (the same array).
    """
    steps = np.diff(q)
    if not ((steps > 0) & (steps < _SMALLEST_NORMAL)).any():
        return q
    q = q.copy()
    for i in range(1, q.size):
        if q[i] - q[i - 1] < _SMALLEST_NORMAL:
            q[i] = q[i - 1]
    return q


def _tied_cdf(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Empirical CDF of ``x`` from the quantiles ``q``; a run of equal quantiles maps to its middle."""
    probs = np.linspace(0.0, 1.0, q.size)
    # Average the left- and right-continuous interpolations so ties map to their middle.
    up = np.interp(x, q, probs)
    down = 1.0 - np.interp(-x, -q[::-1], probs)
    return 0.5 * (up + down)


def _edges(q: np.ndarray) -> tuple[float, float]:
    """Scaled value at the fitted minimum and maximum: -+``Z_EDGE`` unless a run of equal values
    sits there (more than 1/``q.size`` of the rows)."""
    from scipy.special import ndtri

    lo, hi = -Z_EDGE, Z_EDGE
    if q.size > 1 and q[1] == q[0]:
        lo = float(ndtri(np.clip(_tied_cdf(q[:1], q)[0], EDGE_P, 1.0 - EDGE_P)))
    if q.size > 1 and q[-2] == q[-1]:
        hi = float(ndtri(np.clip(_tied_cdf(q[-1:], q)[0], EDGE_P, 1.0 - EDGE_P)))
    return lo, hi


def quantile_inverse(z: np.ndarray, q: np.ndarray, scale: float) -> np.ndarray:
    """Inverse of :func:`quantile_forward`."""
    from scipy.special import ndtr

    q = _merge_subnormal_steps(q)
    if flat(q):
        return q[q.size // 2] + z * scale
    probs = np.linspace(0.0, 1.0, q.size)
    x = np.interp(ndtr(z), probs, q)
    lo, hi = _edges(q)
    x = np.where(z > hi, q[-1] + (z - hi) * scale, x)
    x = np.where(z < lo, q[0] + (z - lo) * scale, x)
    return x
