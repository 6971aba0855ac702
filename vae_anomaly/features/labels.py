"""Known anomalies: a label column, or the ``y`` given to ``fit``, read as one boolean per row.

One reading of labels serves every command and the estimator
(:func:`binary_labels`): True marks a known anomaly. ``vae-detect evaluate``
and the report need a label on every row; ``vae-detect fit --label-column``
and ``VAEDetector.fit`` read a missing label as "not known". What
``fit`` does with its ``y`` (:func:`fit_labels`) follows the convention of
PyOD and ADBench, 1 for a known anomaly and 0 for every other row, and reads
nothing else as labels: scikit-learn hands every estimator's ``fit`` class
targets (``[0, 1, 2, 0, ...]``) through its checks and pipelines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError

__all__ = ["binary_labels", "fit_labels"]

_TRUE_TEXT = {"1", "true", "yes", "anomaly", "outlier"}
_FALSE_TEXT = {"0", "false", "no", "normal", "inlier"}


def _unreadable(s: pd.Series, missing: np.ndarray) -> tuple[np.ndarray | None, int, str]:
    """``s`` read as booleans (missing values False), or None with the position of the first value
    that is not a label and what a label of that column would hold."""
    if s.dtype == object:  # numbers held as Python objects or text ("1", 1.0) read as numbers
        try:
            s = pd.to_numeric(s)
        except (ValueError, TypeError):
            pass
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.fillna(False).to_numpy(dtype=bool), -1, ""
    if pd.api.types.is_numeric_dtype(s.dtype) and np.asarray(s).dtype.kind != "c":
        arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isin(arr, (0.0, 1.0)) & ~missing
        return (None, int(np.argmax(bad)), "0 or 1") if bad.any() else (arr == 1.0, -1, "")
    text = s.astype(str).str.strip().str.lower()
    known = text.isin(_TRUE_TEXT | _FALSE_TEXT).to_numpy() | missing
    if not known.all():
        return None, int(np.argmin(known)), "0/1 or true/false"
    return text.isin(_TRUE_TEXT).to_numpy() & ~missing, -1, ""


def _shown(value) -> str:
    """A label value as an error message shows it: numbers plainly, text quoted."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (complex, np.complexfloating)):
        return str(complex(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"{float(value):g}"
    return repr(value)


def binary_labels(values: pd.Series | np.ndarray, name: str = "label", missing_ok: bool = False,
                  first_row: int | None = None) -> np.ndarray:
    """Read a label column as booleans: True marks an anomaly.

    Accepts booleans, numbers 0/1, and the words true/false, yes/no,
    anomaly/normal (any case).

    Parameters
    ----------
    values : Series or ndarray
        The label column.
    name : str
        Column name, for error messages.
    missing_ok : bool, default=False
        Read a missing label (empty, NaN, None) as False, "not known to be
        an anomaly", instead of raising.
    first_row : int, optional
        Number of the first row of ``values``; given, an error names the
        row of the value at fault.

    Returns
    -------
    ndarray of bool

    Raises
    ------
    InvalidInputError
        If a label is missing (unless ``missing_ok``) or not one of the
        accepted values.

    Examples
    --------
    >>> binary_labels(np.array([0, 1, 1]))
    array([False,  True,  True])
    >>> binary_labels(pd.Series([1, None, 0]), missing_ok=True)
    array([ True, False, False])
    """
    s = pd.Series(values).reset_index(drop=True)
    missing = s.isna().to_numpy()
    if missing.any() and not missing_ok:
        raise InvalidInputError(f"label column {name!r} has {int(missing.sum())} missing value(s)")
    known, i, valid = _unreadable(s, missing)
    if known is None:
        at = "" if first_row is None else f" at row {first_row + i}"
        raise InvalidInputError(f"label column {name!r} should hold {valid} but holds {_shown(s.iloc[i])}"
                                + at)
    return known


def fit_labels(y, n_rows: int) -> tuple[np.ndarray | None, str | None]:
    """The ``y`` given to ``fit``, read as the known anomalies among its ``n_rows`` rows.

    ``y`` is read as labels when, missing values aside, it holds nothing but
    0 and 1 (as integers, floats or booleans; or the words
    :func:`binary_labels` accepts): 1 marks a known anomaly; 0 and missing
    values mark every other row. scikit-learn's outlier convention, -1 for
    an outlier and 1 for an inlier, would be read backwards, so it raises.
    Any other ``y`` (class numbers 0, 1, 2, ...; 1 and 2; scores; other
    text) is not read as labels: the reason comes back, for ``fit`` to warn
    and go on as with ``y=None``, as scikit-learn's outlier detectors ignore
    ``y``.

    Parameters
    ----------
    y : array-like of shape (n_rows,) or None
        A list, an array, a pandas Series or a one-column frame.
    n_rows : int
        Rows of ``X``.

    Returns
    -------
    known : ndarray of bool (n_rows,) or None
        True for the known anomalies; None without labels.
    why : str or None
        Why ``y`` was not read as labels, when it was not.

    Raises
    ------
    InvalidInputError
        If ``y`` is not one value per row, or holds -1 and otherwise only 0
        and 1.

    Examples
    --------
    >>> fit_labels([0, 1, None, 0], 4)
    (array([False,  True, False, False]), None)
    >>> fit_labels([0, 1, 2], 3)[1].split(":")[0]
    'y holds 2 at row 2'
    """
    if y is None:
        return None, None
    values = y.iloc[:, 0] if isinstance(y, pd.DataFrame) and y.shape[1] == 1 else y
    values = values if isinstance(values, pd.Series) else np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise InvalidInputError(f"y must hold one value per row, shape ({n_rows},), got shape {values.shape}")
    if len(values) != n_rows:
        raise InvalidInputError(f"y holds {len(values)} value(s) for {n_rows} row(s) of X")
    s = pd.Series(values).reset_index(drop=True)
    known, i, _ = _unreadable(s, s.isna().to_numpy())
    if known is not None:
        return known, None
    numbers = pd.to_numeric(s, errors="coerce")
    given = numbers[s.notna()]
    if given.notna().all() and given.isin((-1, 0, 1)).all():
        raise InvalidInputError(
            f"y holds -1 at row {int(np.argmax((numbers == -1).to_numpy()))}: fit reads y as 1 for a known "
            "anomaly and 0 for every other row (the convention of PyOD and ADBench), not as scikit-learn's "
            "-1 for an outlier and 1 for an inlier; pass (y == -1).astype(int)")
    return None, (f"y holds {_shown(s.iloc[i])} at row {i}: fit reads y as labels only when it holds 1 (a "
                  "known anomaly) and 0 or missing values (the other rows)")
