"""Evaluation metrics: how well scores and flags match known labels.

Labels are read by :func:`~vae_anomaly.features.labels.binary_labels`
(re-exported here). Pure functions of arrays, used by ``vae-detect evaluate``
(:mod:`vae_anomaly.jobs.evaluate`) and by the report's labelled sections.
"""

from __future__ import annotations

import numpy as np

from ..features.labels import binary_labels  # one reading of labels, re-exported for evaluate and the report

__all__ = ["binary_labels", "classification_metrics"]


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
