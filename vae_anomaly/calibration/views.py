"""Which score a model keeps, chosen by how well each ranks the known anomalies, guarded against few labels.

A fit with known anomalies (``VAEDetector.fit``'s ``y``) can score the same
network in more than one way, its *views*: the ELBO with each numeric
feature's learned variance (``"diag"``), or with the full covariance of the
decoder's residuals (``"full"``, :mod:`vae_anomaly.model.residuals`). The
labelled rows are out of training and calibration (Label-Trim), so they can
be compared with the held-out rows, which the network did not see either.

The evidence for a view is, per labelled anomaly, its share of the held-out
rows it outscores (ties count one half); the mean over the labels is their
AUC-ROC against the held-out rows. A few labels over-fit any choice made on
them, so :func:`choose_view` keeps the default view unless another one beats
it with a margin: the one-sided 95 % lower bound ``mean - t * sd / sqrt(k)``
of the per-label gains over the default (paired, ``k`` labels, ``t`` the
quantile of Student's t with ``k - 1`` degrees of freedom) must be above 0.
With 3 labels that bound is 2.9 standard errors below the mean, with 10
labels 1.8: few labels switch only on a large, consistent gain. The
benchmark of the rule (``benchmarks/label_views.py``; chosen on half A of the
ADBench dev sets, confirmed on half B and the synthetic kinds) is in
``benchmarks/results_label_views/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["VIEW_LEVEL", "ViewChoice", "choose_view", "label_shares", "lower_bound"]

#: Confidence of the guard's one-sided lower bound.
VIEW_LEVEL = 0.95


@dataclass(frozen=True)
class ViewChoice:
    """The view a fit chose from its labels, and the evidence.

    Attributes
    ----------
    view : str
        The view kept.
    default : str
        The view kept without strong evidence (``covariance_type``).
    label_auc : dict of str to float
        Each view's AUC-ROC of the labelled anomalies against the held-out rows.
    lower_bound : float
        The guard's lower bound on the mean per-label gain of the best other
        view over ``default`` (``-inf`` with fewer than two labels); the view
        changes only where it is above 0.
    n_labels : int
        Labelled anomalies the evidence comes from.
    level : float
        Confidence of the lower bound.
    """

    view: str
    default: str
    label_auc: dict
    lower_bound: float
    n_labels: int
    level: float = VIEW_LEVEL

    def to_dict(self) -> dict:
        """JSON-able form (the model file's ``training.score_view``); ``-inf`` becomes None."""
        bound = self.lower_bound if math.isfinite(self.lower_bound) else None
        return {"view": self.view, "default": self.default,
                "label_auc": {k: float(v) for k, v in self.label_auc.items()},
                "lower_bound": bound, "n_labels": int(self.n_labels), "level": float(self.level)}

    @classmethod
    def from_dict(cls, d: Mapping) -> ViewChoice:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If a field is missing or of the wrong kind.
        """
        try:
            auc = {str(k): float(v) for k, v in dict(d["label_auc"]).items()}
            bound = -math.inf if d["lower_bound"] is None else float(d["lower_bound"])
            choice = cls(str(d["view"]), str(d["default"]), auc, bound, int(d["n_labels"]),
                         float(d["level"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid score view evidence {d!r}: {exc}") from None
        if choice.view not in auc or choice.default not in auc or choice.n_labels < 1:
            raise ValueError(f"invalid score view evidence {d!r}")
        return choice


def label_shares(labelled: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each labelled row's share of the ``reference`` rows whose anomaly score it exceeds, ties one half.

    Parameters
    ----------
    labelled : ndarray (k,)
        Anomaly scores (higher = more anomalous) of the labelled rows.
    reference : ndarray (n,)
        Anomaly scores of the reference (held-out) rows, n >= 1.

    Returns
    -------
    ndarray (k,)
        Values in [0, 1]; their mean is the AUC-ROC of the labelled rows
        against the reference rows.

    Examples
    --------
    >>> label_shares(np.array([0.5, 3.0]), np.array([0.0, 1.0, 2.0, 3.0]))
    array([0.25 , 0.875])
    """
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    v = np.asarray(labelled, dtype=np.float64)
    below = np.searchsorted(ref, v, side="left")
    upto = np.searchsorted(ref, v, side="right")
    return (below + 0.5 * (upto - below)) / ref.size


def lower_bound(gains: np.ndarray, level: float = VIEW_LEVEL) -> float:
    """One-sided lower confidence bound of the mean of ``k`` paired gains: ``mean - t * sd / sqrt(k)``.

    ``t`` is the ``level`` quantile of Student's t with ``k - 1`` degrees of
    freedom and ``sd`` the sample standard deviation; ``-inf`` for fewer than
    two gains.
    """
    from scipy.stats import t

    gains = np.asarray(gains, dtype=np.float64)
    if gains.size < 2:
        return -math.inf
    quantile = float(t.ppf(level, gains.size - 1))
    return float(gains.mean() - quantile * gains.std(ddof=1) / math.sqrt(gains.size))


def choose_view(labelled: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray], default: str,
                level: float = VIEW_LEVEL) -> ViewChoice:
    """Keep ``default`` unless another view ranks the labelled anomalies better by a clear margin.

    Parameters
    ----------
    labelled : dict of str to ndarray (k,)
        Each view's anomaly scores of the labelled anomalies (higher = more
        anomalous), the rows in the same order in every view.
    reference : dict of str to ndarray (n,)
        Each view's anomaly scores of the held-out rows, same views.
    default : str
        The view kept without strong evidence; one of the views.
    level : float, default=VIEW_LEVEL
        Confidence of the lower bound (:func:`lower_bound`).

    Returns
    -------
    ViewChoice
        The view whose per-label gains over ``default`` have the highest
        lower bound, where that bound is above 0; else ``default``.

    Raises
    ------
    ValueError
        If ``default`` is not a view, the two mappings name different views,
        there is no labelled or no reference row, or a view's arrays differ in
        length from the others'.

    Examples
    --------
    >>> held = {"a": np.arange(100.0), "b": np.arange(100.0)}
    >>> choose_view({"a": np.array([50.0, 60.0, 40.0]), "b": np.array([99.0, 98.0, 97.0])}, held, "a").view
    'b'
    >>> choose_view({"a": np.array([50.0, 60.0, 40.0]), "b": np.array([99.0, 10.0, 45.0])}, held, "a").view
    'a'
    """
    if set(labelled) != set(reference) or default not in labelled:
        raise ValueError(f"views {sorted(labelled)} and {sorted(reference)} must match and hold {default!r}")
    k = {np.size(v) for v in labelled.values()}
    n = {np.size(v) for v in reference.values()}
    if len(k) != 1 or len(n) != 1 or 0 in k or 0 in n:
        raise ValueError(f"every view needs the same labelled ({sorted(k)}) and reference ({sorted(n)}) "
                         "rows, at least one of each")
    shares = {name: label_shares(labelled[name], reference[name]) for name in labelled}
    bounds = {name: lower_bound(u - shares[default], level) for name, u in shares.items() if name != default}
    best = max(sorted(bounds), key=bounds.get, default=None)
    bound = -math.inf if best is None else bounds[best]
    return ViewChoice(best if best is not None and bound > 0 else default, default,
                      {name: float(u.mean()) for name, u in shares.items()}, bound, k.pop(), float(level))
