"""The choices, defaults and checks that the estimator and the command line share.

One definition of each, imported by both: the CLI holds no copy of a library
default or validator. Importing this module costs nothing (no torch, no
NumPy), so ``vae-detect --help`` stays quick.

The estimator's constructor parameters are checked at fit against a list of
:class:`Constraint` each, any one of which will do; :func:`check_params`
raises :class:`~vae_anomaly.exceptions.InvalidParameterError` in one line
that names the parameter, what it must be and the value.
"""

from __future__ import annotations

import math
import sys

from .exceptions import InvalidParameterError

__all__ = ["SCORE_TYPES", "SCALERS", "LIKELIHOODS", "COVARIANCE_TYPES", "WINDOW_FEATURES",
           "THRESHOLD_METHODS", "MAX_CATEGORIES", "TARGET_FPR", "DEFAULT_BATCH_ROWS", "GAP_TOLERANCE",
           "DEFAULT_PARTITION_ROWS", "check_contamination", "check_target_fpr", "check_gap_tolerance",
           "Constraint", "Interval", "Options", "ARRAY_LIKE", "BOOLEAN", "NONE", "RANDOM_STATE", "STRING",
           "VERBOSE", "check_params"]

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


# ------------------------------------------------------------------------------------------
# the estimator's constructor parameters
# ------------------------------------------------------------------------------------------
def _np():
    """NumPy, imported when a value is checked (at fit, where it is loaded) and not with this module."""
    import numpy

    return numpy


class Constraint:
    """One kind of value that a parameter may take.

    Parameters
    ----------
    description : str
        What the value must be, in the words of the error message (``"a string"``).
    test : callable
        Called with the value; true where the value is of this kind.
    """

    def __init__(self, description: str, test):
        self.description = description
        self._test = test

    def accepts(self, value) -> bool:
        """Whether ``value`` is of this kind."""
        return bool(self._test(value))


def _is_integer(value) -> bool:
    # NumPy's timedelta64 subclasses its integers, but a duration is no count.
    return isinstance(value, int | _np().integer) and not isinstance(value, _np().timedelta64)


class Interval(Constraint):
    """Integers, or real numbers, between two bounds.

    Parameters
    ----------
    kind : {"integer", "real"}
        ``"integer"``: Python and NumPy integers (``True`` and ``False`` count as
        1 and 0). ``"real"``: those, and Python and NumPy floats; never NaN.
    low, high : float or None
        The bounds; None leaves that side unbounded (infinity itself is then
        accepted only where that end is closed).
    closed : {"both", "left", "right", "neither"}
        Which of the bounds belong to the interval.
    """

    def __init__(self, kind: str, low=None, high=None, *, closed: str = "both"):
        if kind not in ("integer", "real") or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"unknown interval kind {kind!r} or closed={closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed
        super().__init__(self._describe(), self._contains)

    def _contains(self, value) -> bool:
        number = _is_integer(value) or self.kind == "real" and isinstance(value, float | _np().floating)
        if not number or value != value:  # NaN is unequal to itself
            return False
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        above = value >= low if self.closed in ("both", "left") else value > low
        below = value <= high if self.closed in ("both", "right") else value < high
        return bool(above and below)

    def _describe(self) -> str:
        noun = "an integer" if self.kind == "integer" else "a real number"
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"{noun} in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"
        if self.kind == "real" and not (left and self.low is None or right and self.high is None):
            noun = "a finite real number"
        if self.low is not None:
            return f"{noun} {'>=' if left else '>'} {self.low}"
        if self.high is not None:
            return f"{noun} {'<=' if right else '<'} {self.high}"
        return noun


class Options(Constraint):
    """One of a few fixed strings (a str subclass such as ``numpy.str_`` is accepted too).

    Parameters
    ----------
    *choices : str
        The strings allowed, in the order the message lists them.
    """

    def __init__(self, *choices: str):
        self.choices = choices
        super().__init__(_either([repr(c) for c in choices]),
                         lambda value: isinstance(value, str) and value in choices)


def _is_sequence(value) -> bool:
    sparse = sys.modules.get("scipy.sparse")  # not imported: then no value is a sparse matrix
    sized = hasattr(value, "__len__") or hasattr(value, "shape") or hasattr(value, "__array__")
    return (sized and not isinstance(value, str | bytes) and not _np().isscalar(value)
            and not (sparse is not None and sparse.issparse(value)))


#: A list, tuple, array, Series or any other sized collection; not a string, a scalar or a sparse matrix.
ARRAY_LIKE = Constraint("a sequence (list, tuple, array)", _is_sequence)
#: ``True`` or ``False``, Python's or NumPy's; not 0 or 1.
BOOLEAN = Constraint("True or False", lambda value: isinstance(value, bool | _np().bool_))
_SEED, _LEVEL = Interval("integer", 0, 2**32 - 1), Interval("integer", 0, None, closed="left")
#: None, a seed in [0, 2**32 - 1] or a ``numpy.random.RandomState`` (not a ``Generator``).
RANDOM_STATE = Constraint(f"None, {_SEED.description} or a numpy.random.RandomState",
                          lambda value: value is None or isinstance(value, _np().random.RandomState)
                          or _SEED.accepts(value))
#: A bool (Python's or NumPy's), or an integer >= 0.
VERBOSE = Constraint(f"a bool or {_LEVEL.description}",
                     lambda value: BOOLEAN.accepts(value) or _LEVEL.accepts(value))
STRING = Constraint("a string", lambda value: isinstance(value, str))
NONE = Constraint("None", lambda value: value is None)


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def check_params(owner: str, params: dict, constraints: dict) -> None:
    """Check each parameter that ``constraints`` names against its constraints.

    Parameters
    ----------
    owner : str
        What the parameters belong to, first in the message (``"VAEDetector"``).
    params : dict
        The parameters' values by name; names that ``constraints`` lacks are not checked.
    constraints : dict of str to list of Constraint
        For each name, the kinds of value allowed: any one of them will do.

    Raises
    ------
    InvalidParameterError
        For the first parameter whose value no constraint accepts, e.g.
        ``VAEDetector: contamination must be 'auto' or a real number in (0, 0.5]; got 0.7``.
        The value is shown as its repr on one line, cut at 80 characters.
    """
    for name, value in params.items():
        allowed = constraints.get(name)
        if allowed is not None and not any(c.accepts(value) for c in allowed):
            shown = " ".join(repr(value).split())
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            wanted = _either([c.description for c in allowed])
            raise InvalidParameterError(f"{owner}: {name} must be {wanted}; got {shown}")
