"""Warm-up rows on the full-window scale: each short window's score mapped through its own calibration.

The first ``size - 1`` rows of a series have windows with fewer real rows.
Their statistics are noisier (the mean of 2 readings, the spread of 3), so
their raw scores are not comparable with those of full windows: on white
noise a quarter of them would pass a threshold set on full windows. At fit,
the held-out rows' windows are cut to 1, 2, ..., ``size - 1`` real rows
(:func:`~vae_anomaly.features.rows.cut_short`), exactly what those rows
would be at the start of a new series, and scored: one reference per
number of real rows. At scoring time a warm-up row's score is moved to the
full-window score of the same rank (:func:`to_full_window`), so one
threshold and one set of p-values serve every row. This is the split
conformal p-value computed within the category of its window length, as
Mondrian conformal predictors do (Vovk, Gammerman & Shafer, *Algorithmic
Learning in a Random World*, Springer, 2005): on a series like the training
ones, a warm-up row's p-value is then as valid as a full row's.
"""

from __future__ import annotations

import numpy as np

from ..calibration.missingness import add_missing_evidence
from ..calibration.thresholds import add_baseline
from ..features.encoder import TabularPreprocessor
from ..features.rows import Prepared, cut_short, missing_mask
from ..features.series import WindowSpec
from .engine import Engine

__all__ = ["MAX_REFERENCE_ROWS", "warmup_reference", "to_full_window"]

# Held-out rows scored for each number of real rows (evenly spaced among them): bounds the
# fit-time cost and the file size at (size - 1) x this many scores.
MAX_REFERENCE_ROWS = 2000


def warmup_reference(engine: Engine, baseline: np.ndarray, prep: Prepared, pre: TabularPreprocessor,
                     spec: WindowSpec | None, held: np.ndarray,
                     absent: np.ndarray | None = None,
                     missing_weight: np.ndarray | None = None,
                     missing_offset: float = 0.0) -> np.ndarray | None:
    """Sorted scores of the held-out windows cut to 1, ..., ``size - 1`` real rows.

    Parameters
    ----------
    engine : Engine
        The fitted model's scoring engine.
    baseline : ndarray (d_num + d_cat,)
        Per-feature baselines, added for missing and padded features
        (:func:`~vae_anomaly.calibration.thresholds.add_baseline`), as in
        :meth:`~vae_anomaly.scoring.scorer.Scorer.scores`.
    prep : Prepared
        The training rows as model rows.
    pre : TabularPreprocessor
        The fitted encoder.
    spec : WindowSpec or None
        The window settings.
    held : ndarray of int
        The held-out (calibration) model rows.
    absent : ndarray of bool (n_model, n_columns), optional
        The missing cells of each model row's own input row, and
    missing_weight : ndarray (n_columns,), optional
        their columns' weights, and
    missing_offset : float, optional
        the routine evidence: a missing cell adds its evidence
        (:func:`~vae_anomaly.calibration.missingness.add_missing_evidence`)
        as :meth:`~vae_anomaly.scoring.scorer.Scorer.scores` adds it; a
        cut window ends at the same row, so it carries the same evidence.

    Returns
    -------
    ndarray of shape (size - 1, n_reference) or None
        Row ``k - 1`` holds the sorted anomaly scores of windows with ``k``
        real rows. None for row-wise models, windows of one row, or when no
        held-out row has a full window.
    """
    if spec is None or spec.size < 2:
        return None
    full = held[prep.fill[held] == 1.0]
    if full.size == 0:
        return None
    rows = full[np.unique(np.linspace(0, full.size - 1, min(full.size, MAX_REFERENCE_ROWS)).astype(np.int64))]
    levels = []
    for real in range(1, spec.size):
        enc = cut_short(prep, pre, spec, rows, real)
        raw, _ = engine.raw_scores(enc, with_terms=False)
        scores = add_baseline(raw, missing_mask(enc), baseline)
        if absent is not None:
            scores = add_missing_evidence(scores, absent[rows], missing_weight, missing_offset)
        levels.append(np.sort(scores))
    return np.stack(levels)


def to_full_window(scores: np.ndarray, fill: np.ndarray, reference: np.ndarray | None,
                   calibration_scores: np.ndarray) -> np.ndarray:
    """Move warm-up rows' anomaly scores to the full-window score of the same rank.

    A score ``s`` of a window with ``k`` real rows has rank ``u`` among the
    reference scores of such windows (interpolated between them, with the
    ``i``-th smallest at ``(i + 1) / (m + 1)``); it becomes the calibration
    score at rank ``u`` (likewise interpolated). With as many reference as
    calibration scores, the row's conformal p-value against the calibration
    scores is then exactly its p-value among the windows of its own length.
    Past either end of the reference the distance is kept, so more extreme
    rows stay more extreme. Full windows are left unchanged.

    Parameters
    ----------
    scores : ndarray (n,)
        Anomaly scores (higher is more anomalous).
    fill : ndarray (n,)
        Share of each row's window holding real rows (``window_fill``).
    reference : ndarray (size - 1, m) or None
        From :func:`warmup_reference`; None (a row-wise model, or a file
        written before it was recorded) leaves every score as it is.
    calibration_scores : ndarray (n_cal,)
        Sorted held-out scores of full windows.

    Returns
    -------
    ndarray (n,)
        A new array; ``scores`` itself when no row is a warm-up row or
        ``reference`` is None.

    Examples
    --------
    >>> ref = np.array([[10.0, 20.0, 30.0]])  # windows of 1 real row (size 2)
    >>> cal = np.array([1.0, 2.0, 3.0])
    >>> to_full_window(np.array([20.0, 25.0, 40.0, 2.5]), np.array([0.5, 0.5, 0.5, 1.0]), ref, cal)
    array([ 2. ,  2.5, 13. ,  2.5])
    """
    if reference is None or not (np.asarray(fill) < 1.0).any():
        return scores
    out = np.array(scores, dtype=np.float64)
    size = reference.shape[0] + 1
    real = np.rint(np.asarray(fill) * size).astype(np.int64)
    cal = np.asarray(calibration_scores, dtype=np.float64)
    cal_rank = np.arange(1, cal.size + 1) / (cal.size + 1)
    for k in np.unique(real[(real >= 1) & (real < size)]):
        sel = real == k
        ref = reference[k - 1]
        s = out[sel]
        mapped = np.interp(np.interp(s, ref, np.arange(1, ref.size + 1) / (ref.size + 1)), cal_rank, cal)
        mapped = np.where(s > ref[-1], cal[-1] + (s - ref[-1]), mapped)
        out[sel] = np.where(s < ref[0], cal[0] + (s - ref[0]), mapped)
    return out
