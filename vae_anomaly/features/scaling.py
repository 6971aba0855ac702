"""Numeric scaling: per-column centre and spread, rank-Gaussian maps, heavy tails.

Pure functions on float64 arrays (``NaN`` for missing values), fitted on the
training rows by :class:`~vae_anomaly.features.encoder.TabularPreprocessor`
and applied column by column when it encodes a table.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_Z", "EDGE_P", "Z_EDGE", "robust_center_scale", "heavy_tailed", "mean_std", "column_quantiles", "quantile_forward",
           "quantile_inverse"]

_N_QUANTILES = 1000
# With scaler="robust", a column whose extreme quantiles reach further than this many
# robust spreads from its median is compressed with asinh (log-like in the tails).
_HEAVY_TAIL = 10.0
# Largest magnitude of a scaled value; beyond it every value is equally extreme.
MAX_Z = 1e4
# Keep the CDF away from 0 and 1 so the normal quantile stays finite (|z| <= 4.26).
EDGE_P = 1e-5
Z_EDGE = 4.264890793923841  # ndtri(1 - EDGE_P); a literal so that importing needs no scipy


def robust_center_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and a robust spread per column; spread falls back to std, then 1."""
    d = values.shape[1]
    center = np.zeros(d)
    scale = np.ones(d)
    for j in range(d):
        v = values[:, j]
        v = v[~np.isnan(v)]
        if v.size == 0:
            continue
        center[j] = np.median(v)
        q25, q75 = np.quantile(v, [0.25, 0.75])
        s = (q75 - q25) / 1.349
        if not s > 0:
            s = v.std()
        if not s > 0:
            s = 1.0
        scale[j] = s
    return center, scale


def heavy_tailed(quantiles: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Columns whose 0.1% or 99.9% quantile lies over ``_HEAVY_TAIL`` robust spreads from the median."""
    if quantiles.size == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = np.quantile(np.linspace(0, 1, quantiles.shape[1]), [0.001, 0.999])
    idx_lo, idx_hi = int(round(lo * (quantiles.shape[1] - 1))), int(round(hi * (quantiles.shape[1] - 1)))
    reach = np.maximum(quantiles[:, idx_hi] - center, center - quantiles[:, idx_lo]) / scale
    return reach > _HEAVY_TAIL


def mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per column, ignoring NaN; a zero std becomes 1."""
    with np.errstate(all="ignore"):
        mean = np.nan_to_num(np.nanmean(values, axis=0)) if values.size else np.zeros(values.shape[1])
        std = np.nan_to_num(np.nanstd(values, axis=0)) if values.size else np.ones(values.shape[1])
    return mean, np.where(std > 0, std, 1.0)


def column_quantiles(values: np.ndarray) -> np.ndarray:
    """Empirical quantiles per column on a fixed grid, shape (n_features, n_quantiles)."""
    probs = np.linspace(0.0, 1.0, _N_QUANTILES)
    out = np.zeros((values.shape[1], _N_QUANTILES))
    for j in range(values.shape[1]):
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
    growing with their distance instead of being clipped.
    """
    from scipy.special import ndtri  # here, not at the top: scoring jobs need no scipy

    probs = np.linspace(0.0, 1.0, q.size)
    # Average the left- and right-continuous interpolations so ties map to their middle.
    up = np.interp(x, q, probs)
    down = 1.0 - np.interp(-x, -q[::-1], probs)
    z = ndtri(np.clip(0.5 * (up + down), EDGE_P, 1.0 - EDGE_P))
    z = np.where(x > q[-1], Z_EDGE + (x - q[-1]) / scale, z)
    z = np.where(x < q[0], -Z_EDGE + (x - q[0]) / scale, z)
    return z


def quantile_inverse(z: np.ndarray, q: np.ndarray, scale: float) -> np.ndarray:
    """Inverse of :func:`quantile_forward`."""
    from scipy.special import ndtr

    probs = np.linspace(0.0, 1.0, q.size)
    x = np.interp(ndtr(z), probs, q)
    x = np.where(z > Z_EDGE, q[-1] + (z - Z_EDGE) * scale, x)
    x = np.where(z < -Z_EDGE, q[0] + (z + Z_EDGE) * scale, x)
    return x
