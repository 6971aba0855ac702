"""A fitted model as one plain value: what the estimator hands to persistence and gets back.

:class:`FittedState` holds everything a model file stores: the parameters,
the fitted preprocessing, the network's shape and weights (NumPy arrays),
the calibration, the window settings and a training summary. The estimator
builds one (``VAEDetector._fitted_state``) and rebuilds itself from one;
:mod:`vae_anomaly.persistence.modelfile` writes and reads it, and never sees the
estimator; :func:`scorer_from_state` turns it into a
:class:`~vae_anomaly.scoring.scorer.Scorer` without torch on CPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..calibration.tail import TailFit
from ..calibration.thresholds import p_value_tail
from ..features.encoder import TabularPreprocessor
from ..features.series import WindowSpec
from ..scoring.engine import build_engine
from ..scoring.network import NetworkSpec
from ..scoring.scorer import Scorer

__all__ = ["Calibration", "FittedState", "json_params", "scorer_from_state"]


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


@dataclass(frozen=True)
class FittedState:
    """Everything a fitted model is, as plain values.

    Attributes
    ----------
    params : dict
        The estimator's parameters (JSON-able).
    preprocessor : TabularPreprocessor
        Fitted encoder of the input columns.
    network : NetworkSpec
    weights : dict of str to ndarray
        The network's state dict.
    calibration : Calibration
    noise_seed : int
        Seed of the importance samples (``n_samples > 1``).
    n_features_in : int
    feature_names_in : list of str or None
        None when fitted on an unnamed array.
    window : dict or None
        Window settings (:meth:`WindowSpec.to_dict` plus the fitted time
        step and channel dtypes); None for row-wise models.
    training : dict
        ``device``, ``n_iter``, ``best_epoch``, ``n_train_rows``,
        ``fit_time_s``, ``loss_curve``, ``validation_loss_curve``.
    warmup_scores : ndarray (window size - 1, m) or None
        Windowed models: reference scores of warm-up windows
        (:func:`~vae_anomaly.scoring.warmup.warmup_reference`); None for
        row-wise models and files written before they were recorded.

    Raises
    ------
    ValueError
        If ``warmup_scores`` do not have one row per warm-up length.
    """

    params: dict
    preprocessor: TabularPreprocessor
    network: NetworkSpec
    weights: dict
    calibration: Calibration
    noise_seed: int
    n_features_in: int
    feature_names_in: list | None = None
    window: dict | None = None
    training: dict = field(default_factory=dict)
    warmup_scores: np.ndarray | None = None

    def __post_init__(self):
        ws = self.warmup_scores
        if ws is not None and (self.window is None or np.ndim(ws) != 2 or np.size(ws) == 0
                               or len(ws) != int(self.window["size"]) - 1):
            raise ValueError(f"warm-up scores of shape {np.shape(ws)} do not fit the window")

    @property
    def window_spec(self) -> WindowSpec | None:
        """The window settings as a :class:`WindowSpec`, or None."""
        return None if self.window is None else WindowSpec.from_dict(self.window)


def scorer_from_state(state: FittedState, device: str = "cpu") -> Scorer:
    """A :class:`Scorer` for ``state``; on CPU at the latent mean it needs no torch.

    It scores with the score type the threshold was calibrated on
    (``calibration.score_type``), so scores, threshold and p-values come
    from one setting.

    Raises
    ------
    ValueError
        If the weights do not match the network's shape.
    """
    cal = state.calibration
    engine = build_engine(state.network, cal.score_type, int(state.params.get("n_samples", 1)),
                          state.noise_seed, device, weights=state.weights)
    return Scorer(state.preprocessor, engine, cal.feature_baseline, cal.threshold, cal.scores,
                  state.feature_names_in, state.window_spec, state.window, cal.p_value_tail, cal.column_reference,
                  state.warmup_scores)


def json_params(params: dict) -> dict:
    """Estimator parameters as plain JSON data: tuples become lists, NumPy scalars Python numbers,
    and a ``random_state`` that is not an int becomes None.

    Raises
    ------
    TypeError
        If a parameter is not plain data.
    """
    out = {}
    for key, value in params.items():
        value = list(value) if isinstance(value, tuple) else value
        value = value.item() if isinstance(value, (np.integer, np.floating)) else value
        if key == "random_state" and not (value is None or isinstance(value, int)):
            value = None
        json.dumps(value)
        out[key] = value
    return out
