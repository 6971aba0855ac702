"""The one definition of each likelihood term, its constants and its bounds.

The torch model (training), the torch scoring engine and the NumPy scoring
engine all evaluate the terms below; each function works on torch tensors
and NumPy arrays alike (the engines pass their own ``exp`` or ``log1p``), so
a formula or a bound is written once.

Each numeric feature ``j`` has a learned log-variance ``v_j`` (the log of
its squared scale), bounded below by ``min_log_var``. With
``r = (x - mean) / exp(v_j / 2)`` the standardised residual, the negative
log-density of one value is

* Gaussian: ``0.5 * (log(2 pi) + v_j + r**2)``;
* Student-t with ``df`` degrees of freedom:
  ``0.5 * (df + 1) * log1p(r**2 / df) + 0.5 * v_j + log_norm(df)``.

The Student-t grows with the logarithm of ``r**2`` instead of ``r**2``
itself, so one wild value in one column adds an amount that grows only with
the log of its distance rather than drowning the other columns, and
heavy-tailed training rows pull less on the fit.

The latent posterior is a diagonal Gaussian whose log-variance is clipped to
:data:`LATENT_LOG_VAR_BOUNDS`; its KL divergence to the standard normal prior
is :func:`kl_elements`, summed over latent dimensions (Kingma and Welling,
"Auto-Encoding Variational Bayes", ICLR 2014, appendix B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["LOG_2PI", "STUDENT_DF", "LATENT_LOG_VAR_BOUNDS", "degrees_of_freedom", "check_degrees_of_freedom",
           "student_t_log_norm", "NumericTerms", "numeric_terms", "numeric_nll_", "correlated_nll_",
           "bounded_log_var", "bounded_latent_log_var", "kl_elements"]

LOG_2PI = math.log(2.0 * math.pi)

STUDENT_DF = 4.0
"""Degrees of freedom of the Student-t likelihood: the usual robust choice
(Lange, Little and Taylor, JASA 1989), fixed rather than fitted."""

LATENT_LOG_VAR_BOUNDS = (-12.0, 8.0)
"""Bounds on the encoder's latent log-variance: keeps ``exp`` finite in float32."""


def degrees_of_freedom(likelihood: str) -> float | None:
    """``STUDENT_DF`` for ``"student-t"``, None for ``"gaussian"``.

    Raises
    ------
    ValueError
        For any other name.
    """
    if likelihood == "student-t":
        return STUDENT_DF
    if likelihood == "gaussian":
        return None
    raise ValueError(f"unknown likelihood {likelihood!r}; expected 'gaussian' or 'student-t'")


def student_t_log_norm(df: float) -> float:
    """``-log`` of the Student-t density's normalising constant at unit scale."""
    return math.lgamma(df / 2.0) - math.lgamma((df + 1.0) / 2.0) + 0.5 * math.log(df * math.pi)


def check_degrees_of_freedom(df) -> float | None:
    """``df`` as a float (None stays None: a Gaussian likelihood).

    Raises
    ------
    ValueError
        If ``df`` is not a finite positive number.
    """
    if df is None:
        return None
    if isinstance(df, bool) or not isinstance(df, (int, float)) or not math.isfinite(df) or df <= 0:
        raise ValueError(f"the Student-t degrees of freedom must be a positive number, got {df!r}")
    return float(df)


def bounded_log_var(log_var, min_log_var: float):
    """Each numeric feature's log-variance (d_num,), bounded below: the one place the bound is applied."""
    return log_var.clip(min=min_log_var)


def bounded_latent_log_var(log_var):
    """The latent log-variance (n, k) clipped to :data:`LATENT_LOG_VAR_BOUNDS`."""
    return log_var.clip(min=LATENT_LOG_VAR_BOUNDS[0], max=LATENT_LOG_VAR_BOUNDS[1])


@dataclass(frozen=True)
class NumericTerms:
    """Per-feature constants of the numeric likelihood, computed once per network.

    Attributes
    ----------
    inv_scale : Tensor or ndarray (d_num,)
        Multiplies the squared residual: ``exp(-v)`` (Gaussian) or
        ``exp(-v) / df`` (Student-t).
    offset : Tensor or ndarray (d_num,)
        ``log(2 pi) + v`` (Gaussian, halved with the rest) or
        ``0.5 * v + log_norm(df)`` (Student-t).
    half_power : float or None
        ``0.5 * (df + 1)`` for Student-t; None for Gaussian.
    """

    inv_scale: object
    offset: object
    half_power: float | None


def numeric_terms(log_var, exp, df: float | None) -> NumericTerms:
    """The constants of :func:`numeric_nll_` for bounded log-variances ``log_var`` (d_num,).

    ``exp`` is ``torch.exp`` or ``numpy.exp``; Python-float constants keep
    float32 arrays in float32.
    """
    inv_var = exp(-log_var)
    if df is None:
        return NumericTerms(inv_var, LOG_2PI + log_var, None)
    return NumericTerms(inv_var / df, 0.5 * log_var + student_t_log_norm(df), 0.5 * (df + 1.0))


def numeric_nll_(r2, terms: NumericTerms, log1p_):
    """Turn squared residuals ``r2`` (n, d_num) into negative log-densities, in place.

    Gaussian: ``(r2 * inv_scale + offset) * 0.5``; Student-t:
    ``log1p(r2 * inv_scale) * half_power + offset``. Every caller evaluates
    these operations in this order, so torch and NumPy agree to the last bit
    on the same float32 inputs. ``log1p_`` computes ``log1p`` in place
    (``Tensor.log1p_``, or ``numpy.log1p`` with ``out=``).

    Returns
    -------
    Tensor or ndarray (n, d_num)
        ``r2`` itself, overwritten.
    """
    r2 *= terms.inv_scale
    if terms.half_power is None:
        r2 += terms.offset
        r2 *= 0.5
    else:
        log1p_(r2)
        r2 *= terms.half_power
        r2 += terms.offset
    return r2


def correlated_nll_(r, precision, offset, matvec):
    """Per-feature terms of a Gaussian with full covariance, in place on the residuals ``r``.

    ``r`` (n, d_num) float64 holds each row's residuals minus their fitted
    mean, zero where a value is missing; ``precision`` (d_num, d_num) is the
    inverse covariance and ``offset`` (d_num,) ``0.5 * (log(2 pi) +
    log det(cov) / d_num)``. Feature ``j`` gets ``0.5 * r_j * (precision @
    r)_j + offset_j``: the terms sum to the row's negative log-density (the
    Mahalanobis form), and a feature's term grows with how far its residual
    lies from what the other residuals predict. ``matvec(r, precision)``
    computes ``r @ precision`` row by row (each engine brings its own).

    Returns
    -------
    Tensor or ndarray (n, d_num)
        ``r`` itself, overwritten.
    """
    u = matvec(r, precision)
    r *= u
    r *= 0.5
    r += offset
    return r


def kl_elements(mu, log_var, exp):
    """KL(N(mu, exp(log_var)) || N(0, 1)) per latent dimension, (n, k): sum over ``k`` for a row's term."""
    return 0.5 * (mu * mu + exp(log_var) - 1.0 - log_var)
