"""A fitted network's held-out rows scored by its engine and calibrated, as ``fit`` does once training ends.

:func:`~vae_anomaly.calibration.held_out.calibrate` works on scores and
terms alone; this module feeds it what needs the engine and the scorer's
arithmetic: the held-out rows' raw scores and terms, their per-column
contributions (:func:`~vae_anomaly.scoring.scorer.column_contributions`), the
warm-up reference of windowed models (:func:`~vae_anomaly.scoring.warmup.warmup_reference`)
and, with a float ``contamination``, every fitted row's score as a
:class:`~vae_anomaly.scoring.scorer.Scorer` would give it.
"""

from __future__ import annotations

import numpy as np

from ..calibration.held_out import Calibration, calibrate
from ..calibration.missingness import add_missing_evidence, evidence_offset, missing_rates, missing_weights
from ..calibration.thresholds import add_baseline
from ..features.encoder import TabularPreprocessor
from ..features.rows import Prepared, missing_mask, own_missing
from ..features.series import WindowSpec
from .engine import Engine
from .scorer import column_contributions
from .warmup import to_full_window, warmup_reference

__all__ = ["calibrate_held_out"]


def calibrate_held_out(engine: Engine, prep: Prepared, held: np.ndarray, fit_rows: np.ndarray,
                       pre: TabularPreprocessor, spec: WindowSpec | None, **settings) -> Calibration:
    """The calibration of a fitted network on the held-out model rows ``held`` of ``prep``.

    The columns' probabilities of being missing are learned from the rows
    the network was trained on (``fit_rows``), never from the held-out rows,
    so that the held-out scores stay exchangeable with new rows' scores.

    Parameters
    ----------
    engine : Engine
        The fitted network's scoring engine.
    prep : Prepared
        Every row given to ``fit``, as model rows.
    held : ndarray of int
        The held-out rows among them.
    fit_rows : ndarray of int
        The rows the network was trained on.
    pre : TabularPreprocessor
        The fitted encoder.
    spec : WindowSpec or None
        The fitted window settings.
    **settings
        ``score_type``, ``contamination``, ``target_fpr``, ``threshold_method``
        and ``validation_fraction``, passed to
        :func:`~vae_anomaly.calibration.held_out.calibrate`.

    Returns
    -------
    Calibration
    """
    held_enc = prep.enc.take(held)
    raw, terms = engine.raw_scores(held_enc, with_terms=True)
    absent = own_missing(prep, pre, spec)
    trained = absent[fit_rows]
    rate = missing_rates(trained)
    offset = evidence_offset(trained, missing_weights(rate))  # never-missing columns add 0 here

    def fit_scores(baseline, weights, scores, warmup):  # as the scorer scores the rows
        raw_all = engine.raw_scores(prep.enc, with_terms=False)[0]
        return to_full_window(add_missing_evidence(add_baseline(raw_all, missing_mask(prep.enc), baseline),
                                                   absent, weights, offset), prep.fill, warmup, scores)

    return calibrate(raw, terms, missing_mask(held_enc),
                     contributions=lambda terms, missing, baseline, weights: column_contributions(
                         terms, missing, baseline, pre, spec, absent[held], weights, offset),
                     warmup=lambda baseline, weights: warmup_reference(
                         engine, baseline, prep, pre, spec, held, absent, weights, offset),
                     fit_scores=fit_scores, absent=absent[held], missing_rate=rate,
                     always_present=~trained.any(axis=0), missing_offset=offset, **settings)
