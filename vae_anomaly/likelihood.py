"""Constants of the numeric likelihoods, shared by the torch model and the NumPy engine.

Each numeric feature ``j`` has a learned log-variance ``v_j`` (the log of
its squared scale). With ``r = (x - mean) / exp(v_j / 2)`` the standardised
residual, the negative log-density of one value is

* Gaussian: ``0.5 * (log(2 pi) + v_j + r**2)``;
* Student-t with ``df`` degrees of freedom:
  ``0.5 * (df + 1) * log1p(r**2 / df) + 0.5 * v_j + log_norm(df)``.

The Student-t grows with the logarithm of ``r**2`` instead of ``r**2``
itself, so one wild value in one column adds a bounded amount to a row's
score rather than drowning the other columns, and heavy-tailed training
rows pull less on the fit.
"""

from __future__ import annotations

import math

__all__ = ["STUDENT_DF", "LIKELIHOODS", "degrees_of_freedom", "student_t_log_norm"]

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
