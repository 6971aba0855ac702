"""A fitted network's calibration on its held-out rows, computed in one step and kept as one value.

:func:`calibrate` turns the raw scores and per-feature terms of the held-out
rows into a :class:`Calibration`: per-feature baselines, the sorted anomaly
scores, the warm-up reference of windowed models, the threshold and the rule
that set it, the fitted tail, the warning when the rows cannot support the
rate, and the bins of each column's contributions for the drift check. It
never sees the network or the scorer: what needs them (warm-up scores,
contributions, the scores of every fitted row) comes in as functions, so
this module imports no torch. The estimator stores the value; model files
hold it (:class:`~vae_anomaly.persistence.state.FittedState`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .drift_reference import column_reference
from .missingness import add_missing_evidence, missing_weights
from .tail import TailFit
from .thresholds import (
    add_baseline,
    choose_threshold,
    feature_baselines,
    p_value_tail,
    unsupported_rate_message,
)

__all__ = ["Calibration", "calibrate", "requested_rate"]


@dataclass(frozen=True)
class Calibration:
    """How the threshold and the p-values were set, and the held-out scores behind them.

    Attributes
    ----------
    threshold : float
        Anomaly scores above it are flagged (``inf``: none is).
    method : {"target_fpr", "contamination"}
        What ``rate`` means: a false-positive target, or the share of the
        rows given to ``fit`` that is flagged (files written before model
        format 3: of the held-out rows).
    rate : float
    score_type : {"elbo", "reconstruction"}
        The score the threshold applies to.
    scores : ndarray (n_calibration,)
        Sorted anomaly scores of the held-out rows.
    feature_baseline : ndarray (d_num + d_cat,)
        Median per-feature term on the held-out rows.
    threshold_method : {"auto", "conformal", "tail"}
        The estimator's ``threshold_method`` at fit ("conformal" for older files).
    threshold_rule : {"conformal", "tail", "contamination"}
        The rule that set the threshold.
    tail : TailFit or None
        The tail fitted to ``scores`` (None with ``threshold_method="conformal"``).
    column_edges, column_counts : ndarray (d, 9) and (d, 10), or None
        Bins of the held-out rows' contributions, for the drift check's
        column test (:func:`vae_anomaly.calibration.drift_reference.column_reference`);
        None in files written before model format 3.
    warning : str or None
        Why the held-out rows cannot support the rate, if they cannot.
    warmup_scores : ndarray (window size - 1, m) or None
        Windowed models: sorted scores of the held-out windows cut to 1, 2,
        ..., ``size - 1`` real rows, the calibration of warm-up rows
        (:func:`~vae_anomaly.scoring.warmup.warmup_reference`); None for
        row-wise models and files written before model format 4.
    missing_rate : ndarray (n_columns,) or None
        Each input column's smoothed probability of being missing in the
        training rows (:func:`~vae_anomaly.calibration.missingness.missing_rates`).
        None in files written before model format 6.
    missing_weight : ndarray (n_columns,) or None
        Nats a missing cell adds to its row's pattern evidence, per input
        column (:func:`~vae_anomaly.calibration.missingness.missing_weights`).
        None in files written before model format 6: missing cells add none.
    missing_offset : float
        The pattern evidence training rows carry routinely; a row adds only
        what it exceeds (:func:`~vae_anomaly.calibration.missingness.evidence_offset`).
    """

    threshold: float
    method: str
    rate: float
    score_type: str
    scores: np.ndarray
    feature_baseline: np.ndarray
    threshold_method: str = "conformal"
    threshold_rule: str = "conformal"
    tail: TailFit | None = None
    column_edges: np.ndarray | None = None
    column_counts: np.ndarray | None = None
    warning: str | None = None
    warmup_scores: np.ndarray | None = None
    missing_rate: np.ndarray | None = None
    missing_weight: np.ndarray | None = None
    missing_offset: float = 0.0

    @property
    def offset(self) -> float:
        """``decision_function = score_samples - offset``."""
        return -self.threshold

    @property
    def p_value_tail(self) -> TailFit | None:
        """The tail the p-values use (:func:`vae_anomaly.calibration.thresholds.p_value_tail`)."""
        return p_value_tail(self.threshold_method, self.threshold_rule, self.tail)

    @property
    def column_reference(self) -> tuple | None:
        """``(column_edges, column_counts)``, or None without them."""
        return None if self.column_edges is None else (self.column_edges, self.column_counts)


def requested_rate(contamination, target_fpr: float) -> tuple[str, float]:
    """What ``contamination`` and ``target_fpr`` ask for: ``("target_fpr", target_fpr)`` when
    ``contamination="auto"``, else ``("contamination", float(contamination))``."""
    return ("target_fpr", target_fpr) if contamination == "auto" else ("contamination", float(contamination))


def calibrate(raw: np.ndarray, terms: np.ndarray, missing: np.ndarray, *, score_type: str, contamination,
              target_fpr: float, threshold_method: str, validation_fraction: float,
              contributions: Callable[..., np.ndarray],
              warmup: Callable[..., np.ndarray | None] | None = None,
              fit_scores: Callable[..., np.ndarray] | None = None,
              absent: np.ndarray | None = None, missing_rate: np.ndarray | None = None,
              always_present: np.ndarray | None = None, missing_offset: float = 0.0) -> Calibration:
    """The calibration of a fitted network, from its held-out rows' raw scores and terms.

    The baselines are the features' median terms (:func:`~.thresholds.feature_baselines`);
    the calibration scores are the raw scores with the baselines of missing
    features added (:func:`~.thresholds.add_baseline`) and the evidence of
    the rows' missing cells (:func:`~.missingness.add_missing_evidence`),
    sorted; the threshold follows ``threshold_method``
    (:func:`~.thresholds.choose_threshold`).

    Parameters
    ----------
    raw : ndarray (n_held,)
        Raw anomaly scores of the held-out rows (the engine's).
    terms : ndarray (n_held, d_num + d_cat)
        Their per-feature terms; ``contributions`` may overwrite them.
    missing : ndarray of bool (n_held, d_num + d_cat)
        True where a feature was missing or padding.
    score_type, contamination, target_fpr, threshold_method, validation_fraction
        As the estimator's parameters of the same names.
    contributions : callable ``(terms, missing, baseline, weights) -> ndarray (n_held, n_columns)``
        The held-out rows' per-column contributions, as the scorer computes
        them with the missing-cell ``weights`` (None: no evidence) and
        ``missing_offset``; their bins are kept for the drift check.
    warmup : callable ``(baseline, weights) -> ndarray or None``, optional
        The warm-up reference of a windowed model
        (:func:`~vae_anomaly.scoring.warmup.warmup_reference`); None: no windows.
    fit_scores : callable ``(baseline, weights, scores, warmup_scores) -> ndarray (n,)``, optional
        With a float ``contamination``: the anomaly scores of every row given
        to ``fit``, as ``predict`` scores them; the threshold flags that share
        of them.
    absent : ndarray of bool (n_held, n_columns), optional
        Which of the held-out rows' own input cells are missing
        (:func:`~vae_anomaly.features.rows.own_missing`).
    missing_rate : ndarray (n_columns,), optional
        The columns' probabilities of being missing, learned from the
        training rows (:func:`~.missingness.missing_rates`); with ``absent``,
        missing cells add their evidence to the calibration scores, with
        weights from :func:`~.missingness.missing_weights` (the spread is
        that of the held-out scores before the evidence, from their minimum
        to their ``1 - rate`` quantile, for the ``always_present`` columns).
    always_present : ndarray of bool (n_columns,), optional
        Columns never missing in the training rows.
    missing_offset : float, default=0.0
        The pattern evidence training rows carry routinely
        (:func:`~.missingness.evidence_offset`).

    Returns
    -------
    Calibration
        Its ``warning`` says why the held-out rows cannot support the rate,
        if they cannot; the caller issues it.
    """
    kind, rate = requested_rate(contamination, target_fpr)
    baseline = feature_baselines(terms, missing)
    scores = add_baseline(raw, missing, baseline)
    weights = None
    if missing_rate is not None and scores.size:
        spread = float(np.quantile(scores, 1.0 - rate) - scores.min())
        weights = missing_weights(missing_rate, always_present, spread)
        scores = add_missing_evidence(scores, absent, weights, missing_offset)
    scores = np.sort(scores)
    warmup_scores = None if warmup is None else warmup(baseline, weights)
    fit = None if kind == "target_fpr" else fit_scores(baseline, weights, scores, warmup_scores)
    choice = choose_threshold(scores, rate, threshold_method, fit_scores=fit)
    warning = unsupported_rate_message(choice, scores.size, rate, validation_fraction)
    edges, counts = column_reference(contributions(terms, missing, baseline, weights))
    return Calibration(choice.value, kind, float(rate), score_type, scores, baseline, threshold_method,
                       choice.rule, choice.tail, edges, counts, warning, warmup_scores, missing_rate,
                       weights, float(missing_offset))
