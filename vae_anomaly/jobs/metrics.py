"""Evaluation metrics: known labels read as booleans, and how well scores and flags match them.

Pure functions of arrays, used by ``vae-detect evaluate``
(:mod:`vae_anomaly.jobs.evaluate`) and by the report's labelled sections.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError

__all__ = ["binary_labels", "classification_metrics"]

_TRUE_TEXT = {"1", "true", "yes", "anomaly", "outlier"}
_FALSE_TEXT = {"0", "false", "no", "normal", "inlier"}


def binary_labels(values: pd.Series | np.ndarray, name: str = "label") -> np.ndarray:
    """Read a label column as booleans: True marks an anomaly.

    Accepts booleans, numbers 0/1, and the words true/false, yes/no,
    anomaly/normal (any case).

    Parameters
    ----------
    values : Series or ndarray
        The label column.
    name : str
        Column name, for error messages.

    Returns
    -------
    ndarray of bool

    Raises
    ------
    InvalidInputError
        If a label is missing or not one of the accepted values.

    Examples
    --------
    >>> binary_labels(np.array([0, 1, 1]))
    array([False,  True,  True])
    """
    s = pd.Series(values)
    if s.isna().any():
        raise InvalidInputError(f"label column {name!r} has {int(s.isna().sum())} missing value(s)")
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        arr = s.to_numpy(dtype=np.float64)
        bad = ~np.isin(arr, (0.0, 1.0))
        if bad.any():
            raise InvalidInputError(f"label column {name!r} should hold 0 or 1 but holds {arr[bad][0]:g}")
        return arr == 1.0
    text = s.astype(str).str.strip().str.lower()
    known = text.isin(_TRUE_TEXT | _FALSE_TEXT)
    if not known.all():
        raise InvalidInputError(
            f"label column {name!r} should hold 0/1 or true/false but holds {s[~known].iloc[0]!r}"
        )
    return text.isin(_TRUE_TEXT).to_numpy()


def _ratio(num: int, den: int) -> float:
    return float(num / den) if den else 0.0


def classification_metrics(labels: np.ndarray, scores: np.ndarray, flags: np.ndarray,
                           threshold: float | None = None) -> dict:
    """Ranking and thresholded metrics of anomaly scores against labels.

    Parameters
    ----------
    labels : ndarray of bool (n,)
        True for known anomalies.
    scores : ndarray (n,)
        Anomaly scores, higher = more anomalous.
    flags : ndarray of bool (n,)
        The model's decisions at its threshold.
    threshold : float, optional
        The threshold behind ``flags``, copied into the result.

    Returns
    -------
    dict
        ``auc_roc`` and ``auc_pr`` (average precision; ``None`` when only one
        class is present), ``precision``, ``recall``, ``f1`` (``None`` for
        0 rows: undefined), the confusion counts ``tp``, ``fp``, ``tn``,
        ``fn``, ``n_rows``, ``n_anomalies`` (labelled), ``n_flagged`` and
        ``threshold``.

    Examples
    --------
    >>> m = classification_metrics(np.array([False, False, True]), np.array([0.1, 0.5, 0.9]),
    ...                            np.array([False, False, True]))
    >>> m["auc_roc"], m["f1"], m["tp"]
    (1.0, 1.0, 1)
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray(labels, dtype=bool)
    flags = np.asarray(flags, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    tp = int(np.count_nonzero(labels & flags))
    fp = int(np.count_nonzero(~labels & flags))
    fn = int(np.count_nonzero(labels & ~flags))
    tn = int(labels.size - tp - fp - fn)
    both_classes = 0 < np.count_nonzero(labels) < labels.size
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rows = labels.size > 0  # with no rows, no ratio is defined
    return {
        "auc_roc": float(roc_auc_score(labels, scores)) if both_classes else None,
        "auc_pr": float(average_precision_score(labels, scores)) if both_classes else None,
        "precision": precision if rows else None,
        "recall": recall if rows else None,
        "f1": f1 if rows else None,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "n_rows": int(labels.size),
        "n_anomalies": int(np.count_nonzero(labels)),
        "n_flagged": int(np.count_nonzero(flags)),
        "threshold": None if threshold is None else float(threshold),
    }
