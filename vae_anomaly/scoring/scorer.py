"""Scores, flags, p-values and contributions of table rows, from what a fitted model holds.

A :class:`Scorer` holds the fitted preprocessing, a scoring engine (NumPy on
CPU, torch on a GPU or for importance-weighted scores), the per-feature
baselines and the calibration. ``VAEDetector`` scores through one, and
``vae-detect score`` loads one straight from the model file
(:func:`vae_anomaly.persistence.modelfile.load_scorer`), so a scoring job imports
neither torch nor scikit-learn and gets the same numbers as the estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..calibration import thresholds as calibration
from ..calibration.drift import DRIFT_ALPHA, DriftReport, check_drift
from ..calibration.drift_reference import DriftReference
from ..calibration.held_out import Calibration
from ..calibration.missingness import add_missing_evidence, cell_evidence
from ..calibration.thresholds import add_baseline
from ..features import windows
from ..features.encoder import TabularPreprocessor
from ..features.frames import as_pandas
from ..features.rows import (
    Ordered,
    Prepared,
    aggregate,
    contribution_columns,
    feature_owner,
    missing_mask,
    own_missing,
    prepare,
)
from ..features.schema import as_frame, require_columns
from ..features.series import WindowSpec
from .engine import Engine
from .warmup import to_full_window

__all__ = ["ScoreDetails", "Scorer", "column_contributions", "stacked_size"]


def stacked_size(spec: WindowSpec | None) -> int:
    """Window positions laid side by side in a model row (1 without stacked windows)."""
    return 1 if spec is None or spec.features != "stack" else spec.size


def column_contributions(terms: np.ndarray, missing: np.ndarray, baseline: np.ndarray,
                         preprocessor: TabularPreprocessor, spec: WindowSpec | None,
                         absent: np.ndarray | None = None,
                         missing_weight: np.ndarray | None = None, missing_offset: float = 0.0) -> np.ndarray:
    """Per-input-column excess of model rows' terms over the baselines, plus missing-cell evidence.

    ``terms`` (n, d_num + d_cat) is overwritten. Each model feature's excess
    goes to the input column it encodes: summed over a stacked window's
    positions, and from a summary window's statistics back to their channel.
    A missing or padded feature's excess is 0; with ``absent`` (n, n_columns),
    ``missing_weight`` and ``missing_offset``, a row's own missing cell then
    adds its share of what the row's holes add to its score
    (:func:`~vae_anomaly.calibration.missingness.cell_evidence`), so that a
    column can lead a row's contributions because it is missing.
    """
    out = _excess_by_column(terms, missing, baseline, preprocessor, spec)
    if absent is None or missing_weight is None or not absent.any():
        return out
    return out + cell_evidence(absent, missing_weight, missing_offset)


def _excess_by_column(terms: np.ndarray, missing: np.ndarray, baseline: np.ndarray,
                      preprocessor: TabularPreprocessor, spec: WindowSpec | None) -> np.ndarray:
    excess = np.subtract(terms, baseline, out=terms)
    if missing.any():
        np.copyto(excess, 0.0, where=missing)
    size = stacked_size(spec)
    owner = feature_owner(preprocessor, size)
    if spec is not None and spec.features == "summary":  # statistics back to the channel they describe
        owner = windows.summary_owner(spec.channels, spec.summarised)[owner]
        return aggregate(excess, owner, len(spec.channels))
    if size == 1:  # one model feature per column: a reordering, often none
        order = np.empty_like(owner)
        order[owner] = np.arange(owner.size)
        return excess if np.array_equal(order, np.arange(order.size)) else excess[:, order]
    return aggregate(excess, owner, len(preprocessor.schema_))


@dataclass
class ScoreDetails:
    """Per-row results of :meth:`VAEDetector.score_details`.

    Attributes
    ----------
    anomaly_score : ndarray (n,)
        Higher is more anomalous (``-score_samples``).
    is_anomaly : ndarray of bool (n,)
        ``anomaly_score > threshold_``.
    p_value : ndarray (n,)
        p-values against the calibration scores: conformal, or from the
        fitted tail beyond the scores the tail covers (see
        :func:`vae_anomaly.calibration.thresholds.p_values`).
    contributions : ndarray (n, n_features)
        Per-column contributions, as in :meth:`VAEDetector.feature_contributions`.
    feature_names : list of str
        Column names of ``contributions``.
    window_fill : ndarray (n,)
        Share of each row's window holding real rows (1.0 without windows);
        below 1 for the first rows of a series.
    """

    anomaly_score: np.ndarray
    is_anomaly: np.ndarray
    p_value: np.ndarray
    contributions: np.ndarray
    feature_names: list
    window_fill: np.ndarray

    def top_feature(self) -> np.ndarray:
        """Name of the column with the largest contribution in each row."""
        names = np.asarray(self.feature_names, dtype=object)
        if self.contributions.shape[0] == 0:
            return names[:0]
        return names[np.argmax(self.contributions, axis=1)]


class Scorer:
    """Scores, flags, p-values and contributions from a fitted model.

    Attribute names follow the estimator's fitted attributes, so code that
    reads them works with either.

    Built by :func:`vae_anomaly.persistence.state.scorer_from_state`, for
    the estimator (``VAEDetector.scorer``) and for model files alike.

    Parameters
    ----------
    preprocessor : TabularPreprocessor
        Fitted encoder of the feature columns.
    engine : Engine
        Raw scores and per-feature terms of encoded rows.
    calibration : Calibration
        Baselines, threshold, calibration scores, the tail the p-values use
        (``p_value_tail``), the drift check's column bins and the warm-up
        reference (:class:`~vae_anomaly.calibration.held_out.Calibration`).
    window_spec : WindowSpec or None
        The fitted window settings; None for row-wise models.
    feature_names_in : sequence of str or None
        Input columns in fit order (None when fitted on an unnamed array).
    ignored_columns : dict of str to str, optional
        Input columns left out at fit because they look like identifiers,
        with the reasons: scoring neither needs nor reads them.
    """

    def __init__(self, preprocessor: TabularPreprocessor, engine: Engine, calibration: Calibration,
                 window_spec: WindowSpec | None = None, feature_names_in=None, ignored_columns=None):
        self.preprocessor_ = preprocessor
        self.engine = engine
        self.feature_baseline_ = np.asarray(calibration.feature_baseline, dtype=np.float64)
        self.threshold_ = float(calibration.threshold)
        self.calibration_scores_ = np.asarray(calibration.scores, dtype=np.float64)
        if feature_names_in is not None:
            self.feature_names_in_ = np.asarray(feature_names_in, dtype=object)
        self.window_spec_ = window_spec
        self.ignored_columns_ = dict(ignored_columns or {})
        self.p_value_tail_ = calibration.p_value_tail
        self.column_reference_ = calibration.column_reference
        warmup = calibration.warmup_scores
        self.warmup_scores_ = None if warmup is None else np.asarray(warmup, dtype=np.float64)
        self.missing_rate_ = calibration.missing_rate
        self.missing_weight_ = calibration.missing_weight
        self.missing_offset_ = float(calibration.missing_offset)

    @property
    def window_config_(self) -> dict | None:
        """The window settings as model files store them (``window_spec_.to_dict()``), or None."""
        return None if self.window_spec_ is None else self.window_spec_.to_dict()

    # -- model rows ------------------------------------------------------------------------
    def prepare(self, frame: pd.DataFrame | None, context: pd.DataFrame | None = None,
                ordered: Ordered | None = None) -> Prepared:
        """Encoded (and windowed) model rows of a checked frame, or of rows already in window order."""
        return prepare(frame, self.preprocessor_, self.window_spec_, context, ordered=ordered)

    def column_names(self) -> list[str]:
        """The input columns the model reads, in fit order: those it was fitted on, less those left out
        as identifiers (``ignored_columns_``); empty when it was fitted on an unnamed array."""
        names = [str(c) for c in getattr(self, "feature_names_in_", ())]
        return [name for name in names if name not in self.ignored_columns_]

    def model_columns(self, X) -> pd.DataFrame:
        """The columns of ``X`` that the model reads (:meth:`column_names`); other DataFrame columns
        are dropped.

        A table of another library (polars, pyarrow, ...) comes back as a
        pandas DataFrame (:func:`~vae_anomaly.features.frames.as_pandas`).
        """
        X = as_pandas(X)
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            names = self.column_names()
            require_columns(X.columns, names)
            X = X[names]
        return X

    # -- scores ----------------------------------------------------------------------------
    def scores(self, prep: Prepared, with_terms: bool, missing: np.ndarray | None = None,
               absent: np.ndarray | None = None):
        """Anomaly scores (n_model,) of model rows, and their per-feature terms when asked.

        A missing or padded feature adds its typical term (:func:`add_baseline`),
        and a missing cell of a row's own input row its column's evidence
        (:func:`~vae_anomaly.calibration.missingness.add_missing_evidence`);
        warm-up rows' scores then move to the full-window scale
        (:func:`~vae_anomaly.scoring.warmup.to_full_window`). ``missing``
        (``missing_mask(prep.enc)``) and ``absent`` (:meth:`absent`) are
        passed when the caller has them already. Rows stay in model order.
        """
        scores, terms = self.engine.raw_scores(prep.enc, with_terms)
        missing = missing_mask(prep.enc) if missing is None else missing
        scores = add_baseline(scores, missing, self.feature_baseline_)
        if self.missing_weight_ is not None:
            scores = add_missing_evidence(scores, self.absent(prep) if absent is None else absent,
                                          self.missing_weight_, self.missing_offset_)
        scores = to_full_window(scores, prep.fill, self.warmup_scores_, self.calibration_scores_)
        return scores, terms

    def absent(self, prep: Prepared) -> np.ndarray:
        """Bool (n_model, n_columns): the missing cells of each model row's own input row."""
        return own_missing(prep, self.preprocessor_, self.window_spec_)

    def contributions(self, prep: Prepared, terms: np.ndarray, missing: np.ndarray | None = None,
                      absent: np.ndarray | None = None) -> np.ndarray:
        """Per-input-column excess over the baseline, plus each missing cell's evidence (model order).

        ``terms`` is overwritten (callers drop it); ``missing`` and ``absent``
        as for :meth:`scores`.
        """
        missing = missing_mask(prep.enc) if missing is None else missing
        if self.missing_weight_ is not None and absent is None:
            absent = self.absent(prep)
        return column_contributions(terms, missing, self.feature_baseline_, self.preprocessor_,
                                    self.window_spec_, absent, self.missing_weight_, self.missing_offset_)

    def feature_names(self) -> list[str]:
        """Input columns (sensor channels for windowed models), as contributions name them."""
        return contribution_columns(self.preprocessor_, self.window_spec_)

    def p_values(self, scores: np.ndarray) -> np.ndarray:
        """p-values (n,) of anomaly scores (n,) against the calibration scores (and tail, if in use)."""
        # Looking up the scores in sorted order is 2-3x faster than in row order (cache, branches).
        order = np.argsort(scores)
        p_value = np.empty_like(scores)
        p_value[order] = calibration.p_values(self.calibration_scores_, scores[order], self.p_value_tail_)
        return p_value

    def details(self, prep: Prepared) -> ScoreDetails:
        """Everything the CLI writes for each row of ``prep``, in the caller's order."""
        missing = missing_mask(prep.enc)
        absent = None if self.missing_weight_ is None else self.absent(prep)
        scores, terms = self.scores(prep, with_terms=True, missing=missing, absent=absent)
        contributions = self.contributions(prep, terms, missing, absent)
        fill = prep.fill
        if self.window_spec_ is not None:  # model rows are in window order: put them back in the caller's
            scores, contributions, fill = scores[prep.back], contributions[prep.back], fill[prep.back]
        return ScoreDetails(
            anomaly_score=scores,
            is_anomaly=scores > self.threshold_,
            p_value=self.p_values(scores),
            contributions=contributions,
            feature_names=self.feature_names(),
            window_fill=fill,
        )

    def score_details(self, X, context: pd.DataFrame | None = None) -> ScoreDetails:
        """Results for a DataFrame holding the model's columns (extra columns are ignored).

        A model fitted on an unnamed array also takes an array with the same
        columns.

        See :meth:`VAEDetector.score_details`. scikit-learn's input
        validation does not run here; the fitted preprocessor still checks
        every column (missing columns, changed kinds, text in numeric
        columns, infinities) and raises with the column named.
        """
        X = as_pandas(X)
        if isinstance(X, pd.DataFrame):
            frame = self.model_columns(X)
        else:  # an unnamed array holds every fitted column, the left-out ones too
            frame = as_frame(np.asarray(X))
            ignored = [name for name in self.ignored_columns_ if name in frame.columns]
            frame = frame.drop(columns=ignored) if ignored else frame
        if context is not None:
            context = self.model_columns(context)
        return self.details(self.prepare(frame, context))

    # -- drift -----------------------------------------------------------------------------
    def drift_reference(self) -> DriftReference:
        """What a batch is compared with: calibration scores, threshold and (if stored) column bins."""
        edges, counts = self.column_reference_ if self.column_reference_ is not None else (None, None)
        return DriftReference(self.calibration_scores_, self.threshold_, edges, counts,
                              None if edges is None else self.feature_names())

    def drift(self, X, context: pd.DataFrame | None = None, alpha: float = DRIFT_ALPHA) -> DriftReport:
        """Whether the rows of ``X``, as one batch, still look like the calibration rows.

        Compares the batch's flagged share, its score distribution and each
        column's contributions with those of the held-out rows
        (:func:`vae_anomaly.calibration.drift.check_drift`).

        Parameters
        ----------
        X : DataFrame or array-like (n, n_features)
            As for :meth:`score_details`.
        context : DataFrame, optional
            Earlier rows of the same series, for windowed models.
        alpha : float, default=DRIFT_ALPHA
            Significance level of the three tests together.

        Returns
        -------
        DriftReport
            ``columns`` is None when the model holds no column reference
            (files written before model format 3): the column test is then
            unavailable and only the score tests run.
        """
        return self.drift_of(self.score_details(X, context), alpha)

    def drift_of(self, found: ScoreDetails, alpha: float = DRIFT_ALPHA) -> DriftReport:
        """:meth:`drift` of rows already scored (``found`` from :meth:`details`)."""
        columns = None if self.column_reference_ is None else found.contributions
        return check_drift(self.drift_reference(), found.anomaly_score, columns, alpha=alpha)
