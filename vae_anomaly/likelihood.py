"""Constants of the numeric likelihoods, shared by the torch model and the NumPy engine.

Each numeric feature ``j`` has a learned log-variance ``v_j`` (the log of
its squared scale). With ``r = (x - mean) / exp(v_j / 2)`` the standardised
residual, the negative log-density of one value is

* Gaussian: ``0.5 * (log(2 pi) + v_j + r**2)``;
* Student-t with ``df`` degrees of freedom:
  ``0.5 * (df + 1) * log1p(r**2 / df) + 0.5 * v_j + log_norm(df)``.

The Student-t grows with the logarithm of ``r**2`` instead of ``r**2``
itself, so one wild value in one column adds an amount that grows only with
the log of its distance rather than drowning the other columns, and
heavy-tailed training rows pull less on the fit.
"""

from __future__ import annotations

import math

__all__ = ["STUDENT_DF", "LIKELIHOODS", "degrees_of_freedom", "check_degrees_of_freedom", "student_t_log_norm",
           "student_t_constants"]

STUDENT_DF = 4.0
"""Degrees of freedom of the Student-t likelihood: the usual robust choice
(Lange, Little and Taylor, JASA 1989), fixed rather than fitted."""

LIKELIHOODS = ("gaussian", "student-t")


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
    raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {', '.join(LIKELIHOODS)}")


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


def student_t_constants(log_var, inv_var, df: float):
    """Per-feature constants of the Student-t term, for torch tensors and NumPy arrays alike.

    The term is ``log1p(r2 * inv_scale) * half_power + offset`` with ``r2``
    the squared residual; every caller evaluates it in that order.

    Parameters
    ----------
    log_var, inv_var : Tensor or ndarray (d,)
        Log squared scale of each feature and ``exp(-log_var)``.
    df : float

    Returns
    -------
    inv_scale, offset : same type as ``log_var``
    half_power : float
    """
    return inv_var / df, 0.5 * log_var + student_t_log_norm(df), 0.5 * (df + 1.0)
