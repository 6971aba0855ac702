"""The choices, defaults and checks that the estimator and the command line share.

One definition of each, imported by both: the CLI holds no copy of a library
default or validator. Importing this module costs nothing (no torch, no
NumPy), so ``vae-detect --help`` stays quick.
"""

from __future__ import annotations

import math

__all__ = ["SCORE_TYPES", "SCALERS", "LIKELIHOODS", "COVARIANCE_TYPES", "WINDOW_FEATURES",
           "THRESHOLD_METHODS", "MAX_CATEGORIES", "TARGET_FPR", "DEFAULT_BATCH_ROWS", "GAP_TOLERANCE",
           "DEFAULT_PARTITION_ROWS", "check_contamination", "check_target_fpr", "check_gap_tolerance"]

SCORE_TYPES = ("elbo", "reconstruction")
SCALERS = ("robust", "quantile", "standard")
LIKELIHOODS = ("gaussian", "student-t")
#: How the ELBO score treats the numeric residuals: independent, or with their fitted covariance.
COVARIANCE_TYPES = ("diag", "full")
WINDOW_FEATURES = ("summary", "stack")
#: How the threshold is set from the held-out scores: the conformal rule, a fitted tail
#: where the rate is too small for the held-out rows to resolve steadily (auto), or the tail.
THRESHOLD_METHODS = ("auto", "conformal", "tail")

#: Text columns with more distinct values than this are not modelled (an id?).
MAX_CATEGORIES = 50
#: False-positive rate on normal rows that the threshold aims at with ``contamination="auto"``.
TARGET_FPR = 0.01
#: Rows per record batch when streaming: large enough to amortise per-batch overhead,
#: small enough that a few batches in flight stay well under a gigabyte.
DEFAULT_BATCH_ROWS = 65_536
#: A step longer than this many fitted median time steps is reported as a time gap.
GAP_TOLERANCE = 3.0
#: Rows per partition when scoring on a Dask cluster (whole row groups, so a partition may hold more).
DEFAULT_PARTITION_ROWS = 8 * DEFAULT_BATCH_ROWS


def check_contamination(value):
    """``"auto"`` or a rate in (0, 0.5], as given; text is read as a number.

    Raises
    ------
    ValueError
        Naming the value, if it is neither.

    Examples
    --------
    >>> check_contamination("0.05")
    0.05
    """
    if value == "auto":
        return value
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"contamination must be 'auto' or a number in (0, 0.5], got {value!r}") from None
    if not 0.0 < rate <= 0.5:
        raise ValueError(f"contamination must be 'auto' or a number in (0, 0.5], got {value}")
    return rate


def check_target_fpr(value: float) -> float:
    """A false-positive rate in (0, 0.5].

    Raises
    ------
    ValueError
        Naming the value, if it is outside (0, 0.5].
    """
    if not 0.0 < value <= 0.5:
        raise ValueError(f"target_fpr must be in (0, 0.5], got {value}")
    return value


def check_gap_tolerance(value: float) -> float:
    """A finite, positive number of fitted time steps.

    Raises
    ------
    ValueError
        Naming the value, if it is not finite and positive.
    """
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"gap_tolerance must be a positive number of time steps, got {value!r}")
    return value
