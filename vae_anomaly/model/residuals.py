"""Correlations of the decoder's residuals, estimated once the network is trained.

The decoder gives each numeric feature its own variance, so the ELBO
treats the features' residuals around the reconstruction as independent.
When the network cannot reproduce a relation between features, the
residuals of normal rows stay correlated, and a row that breaks the
relation looks no stranger, feature by feature, than a normal one. After
training, :func:`residual_covariance` estimates the residuals' covariance
on the rows the network was fitted on, leaving out the ``trim_fraction``
of them with the highest scores (as training leaves them out of each
minibatch), with the shrinkage of Ledoit and Wolf ("A well-conditioned
estimator for large-dimensional covariance matrices", J. Multivariate
Analysis 88, 2004; :class:`sklearn.covariance.LedoitWolf`). Scores then
use that full covariance for the numeric features
(:func:`vae_anomaly.model.likelihood.correlated_nll_`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .likelihood import LOG_2PI

__all__ = ["MAX_FEATURES", "BUFFERS", "ResidualCovariance", "applies", "residual_covariance", "residual_note"]

#: Most numeric features scored with a full residual covariance. Each scored row costs
#: ``d_num**2`` multiply-adds more (float64, one vector-matrix product per row): about
#: 4 microseconds at 128 features and 1.5 ms at 1,555 on one core of the development
#: machine, against under 1 microsecond at 36. Wider tables keep independent features.
MAX_FEATURES = 256

#: Names of the fitted arrays among the network's weights (``location``, ``precision``, ``offset``).
BUFFERS = ("residual_location", "residual_precision", "residual_offset")


def applies(covariance_type: str, likelihood: str, score_type: str, n_numeric: int) -> bool:
    """Whether a fit with these settings estimates the residual covariance (it may still find none)."""
    return covariance_type == "full" and likelihood == "gaussian" and score_type == "elbo" and n_numeric > 0


@dataclass(frozen=True)
class ResidualCovariance:
    """The fitted Gaussian of the residuals, in the scaled units the network sees.

    Attributes
    ----------
    location : ndarray (d_num,)
        Mean residual of each numeric feature.
    precision : ndarray (d_num, d_num)
        Inverse of the shrunk covariance.
    offset : ndarray (d_num,)
        ``0.5 * (log(2 pi) + log det(covariance) / d_num)`` for every
        feature, so that the terms sum to the negative log-density.
    """

    location: np.ndarray
    precision: np.ndarray
    offset: np.ndarray


def residual_covariance(residuals: np.ndarray, scores: np.ndarray, trim_fraction: float,
                        min_log_var: float) -> ResidualCovariance | None:
    """Fit the residuals' Gaussian on the rows outside the top ``trim_fraction`` of ``scores``.

    The shrunk covariance's eigenvalues are then bounded below by
    ``exp(min_log_var)``: as the decoder's per-feature variances are, but
    in every direction, so no feature or combination of features is
    judged against a spread narrower than that.

    Parameters
    ----------
    residuals : ndarray (n, d_num)
        Each fitted row's numeric values minus the decoder's reconstruction
        at its latent mean, in scaled units; 0 where a value is missing.
    scores : ndarray (n,)
        The same rows' anomaly scores with independent features.
    trim_fraction : float in [0, 0.5)
        Share of the highest-scoring rows left out.
    min_log_var : float
        Log of the smallest variance allowed in any direction (scaled units).

    Returns
    -------
    ResidualCovariance or None
        float64 arrays; None when fewer than two rows are kept or the
        covariance is not finite, and the features then stay independent.

    Raises
    ------
    ValueError
        If the arrays disagree in length.
    """
    from sklearn.covariance import LedoitWolf

    residuals = np.asarray(residuals, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if residuals.ndim != 2 or scores.shape != (residuals.shape[0],):
        raise ValueError(f"residuals {residuals.shape} and scores {scores.shape} do not describe the same "
                         "rows")
    keep = residuals
    if trim_fraction > 0:
        cut = np.quantile(scores, 1.0 - trim_fraction)
        keep = residuals[scores <= cut]
    if keep.shape[0] < 2:
        return None
    lw = LedoitWolf().fit(keep)
    d = residuals.shape[1]
    values, vectors = np.linalg.eigh(lw.covariance_)
    if not np.all(np.isfinite(values)):
        return None
    values = np.maximum(values, np.exp(min_log_var))
    precision = (vectors / values) @ vectors.T
    precision = 0.5 * (precision + precision.T)  # exactly symmetric
    offset = np.full(d, 0.5 * (LOG_2PI + np.log(values).sum() / d))
    return ResidualCovariance(np.asarray(lw.location_, np.float64), precision, offset)


def residual_note(n_numeric: int) -> str:
    """Why a network with ``n_numeric`` numeric features was left with independent ones."""
    if n_numeric > MAX_FEATURES:
        return (f"{n_numeric} numeric features are more than {MAX_FEATURES}, beyond which the covariance "
                "would cost more per row than the network; the features are scored as independent")
    return "too few rows, or residuals without a finite covariance; the features are scored as independent"
