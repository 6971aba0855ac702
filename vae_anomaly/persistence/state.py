"""A fitted model as one plain value, and the one mapping between it and the estimator's attributes.

:class:`FittedState` holds everything a model file stores: the parameters,
the fitted preprocessing, the network's shape and weights (NumPy arrays),
the calibration (with the warm-up reference), the window settings and a
training summary. ``VAEDetector.fit`` produces one and ``VAEDetector.load``
reads one; both set the estimator's fitted attributes from it with
:func:`fitted_attributes`, and :func:`state_of` reads them back (to save, and
to score). :mod:`vae_anomaly.persistence.modelfile` writes and reads it and
never sees the estimator; :func:`scorer_from_state` is the one way to build a
:class:`~vae_anomaly.scoring.scorer.Scorer`, without torch on CPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..calibration.held_out import Calibration, requested_rate
from ..calibration.views import ViewChoice
from ..features.encoder import TabularPreprocessor
from ..features.rows import contribution_columns
from ..features.series import WindowSpec
from ..scoring.engine import build_engine
from ..scoring.network import NetworkSpec, module_weights
from ..scoring.scorer import Scorer

__all__ = ["Calibration", "FittedState", "fitted_attributes", "json_params", "scorer_from_state", "state_of"]


@dataclass(frozen=True)
class FittedState:
    """Everything a fitted model is, as plain values.

    Attributes
    ----------
    params : dict
        The estimator's parameters (made JSON-able by :func:`json_params`
        when written).
    preprocessor : TabularPreprocessor
        Fitted encoder of the input columns.
    network : NetworkSpec
    weights : dict of str to ndarray
        The network's state dict.
    calibration : Calibration
        Threshold, held-out scores, baselines, tail, drift bins and, for
        windowed models, the warm-up reference
        (:class:`~vae_anomaly.calibration.held_out.Calibration`).
    noise_seed : int
        Seed of the importance samples (``n_samples > 1``).
    n_features_in : int
    feature_names_in : list of str or None
        None when fitted on an unnamed array.
    window : WindowSpec or None
        The fitted window settings (with the median time step and the
        channels' dtypes); None for row-wise models.
    training : dict
        ``device``, ``n_iter``, ``best_epoch``, ``n_train_rows``,
        ``fit_time_s``, ``loss_curve``, ``validation_loss_curve``;
        ``n_labelled_anomalies`` and ``n_trimmed`` (the known anomalies in
        ``fit``'s ``y`` and the model rows they left out; 0 when absent);
        ``score_view``, present only where labels chose the score view: the
        evidence (:meth:`ViewChoice.to_dict`).
    ignored_columns : dict of str to str
        Input columns left out at fit because they look like identifiers,
        each with the reason (:mod:`~vae_anomaly.features.identifiers`).

    Raises
    ------
    ValueError
        If the calibration's warm-up scores do not have one row per warm-up length,
        or its missing rates and weights are not one probability in (0, 1) and one
        finite weight per input column.
    """

    params: dict
    preprocessor: TabularPreprocessor
    network: NetworkSpec
    weights: dict
    calibration: Calibration
    noise_seed: int
    n_features_in: int
    feature_names_in: list | None = None
    window: WindowSpec | None = None
    training: dict = field(default_factory=dict)
    ignored_columns: dict = field(default_factory=dict)

    def __post_init__(self):
        ws = self.calibration.warmup_scores
        if ws is not None and (self.window is None or np.ndim(ws) != 2 or np.size(ws) == 0
                               or len(ws) != self.window.size - 1):
            raise ValueError(f"warm-up scores of shape {np.shape(ws)} do not fit the window")
        rate, weight = self.calibration.missing_rate, self.calibration.missing_weight
        offset = self.calibration.missing_offset
        if rate is not None or weight is not None:
            n_columns = len(contribution_columns(self.preprocessor, self.window))
            if (np.shape(rate) != (n_columns,) or np.shape(weight) != (n_columns,)
                    or not np.all((np.asarray(rate) > 0) & (np.asarray(rate) < 1))
                    or not np.isfinite(weight).all()
                    or not (np.isfinite(offset) and offset >= 0)):
                raise ValueError(f"missing rates and weights of shapes {np.shape(rate)} and "
                                 f"{np.shape(weight)} are not one probability in (0, 1) and one finite "
                                 f"weight for each of the {n_columns} columns (offset "
                                 f"{offset!r})")


def fitted_attributes(state: FittedState) -> dict:
    """The estimator's fitted attributes that ``state`` holds, by name: all but ``module_`` and ``device_``.

    The inverse of :func:`state_of`. ``feature_names_in_`` is left out when
    the model was fitted on an unnamed array.
    """
    cal, train = state.calibration, state.training
    out = {
        "preprocessor_": state.preprocessor, "hidden_sizes_": list(state.network.hidden),
        "score_type_": cal.score_type, "n_samples_": int(state.params.get("n_samples", 1)),
        "threshold_": cal.threshold, "offset_": cal.offset, "calibration_scores_": cal.scores,
        "feature_baseline_": cal.feature_baseline, "threshold_rule_": cal.threshold_rule, "tail_": cal.tail,
        "calibration_warning_": cal.warning, "column_reference_": cal.column_reference,
        "warmup_scores_": cal.warmup_scores, "missing_rate_": cal.missing_rate,
        "missing_weight_": cal.missing_weight, "missing_offset_": cal.missing_offset,
        "window_spec_": state.window, "noise_seed_": state.noise_seed,
        "n_features_in_": state.n_features_in, "n_iter_": train["n_iter"], "best_epoch_": train["best_epoch"],
        "n_train_rows_": train["n_train_rows"], "fit_time_": train["fit_time_s"],
        "loss_curve_": train["loss_curve"], "validation_loss_curve_": train["validation_loss_curve"],
        "n_labelled_anomalies_": int(train.get("n_labelled_anomalies", 0)),
        "n_trimmed_": int(train.get("n_trimmed", 0)),
        "score_view_": state.network.covariance_type,
        "score_view_evidence_": (None if train.get("score_view") is None
                                 else ViewChoice.from_dict(train["score_view"])),
        "ignored_columns_": dict(state.ignored_columns),
    }
    if state.feature_names_in is not None:
        out["feature_names_in_"] = np.asarray(state.feature_names_in, dtype=object)
    return out


def state_of(fitted) -> FittedState:
    """The :class:`FittedState` of a fitted estimator, read from its fitted attributes.

    The inverse of :func:`fitted_attributes`. ``fitted`` is a
    ``VAEDetector`` (persistence never imports it): anything with its
    parameters, ``module_`` (a torch network) and the attributes
    :func:`fitted_attributes` names. The parameters are those it holds now,
    with the score settings of the fit (``score_type_``, ``n_samples_``).
    """
    f, names = fitted, getattr(fitted, "feature_names_in_", None)
    kind, rate = requested_rate(f.contamination, f.target_fpr)
    return FittedState(
        params={**f.get_params(deep=False), "score_type": f.score_type_, "n_samples": f.n_samples_},
        preprocessor=f.preprocessor_,
        network=NetworkSpec.of(f.module_, f.hidden_sizes_),
        weights=module_weights(f.module_),
        calibration=Calibration(float(f.threshold_), kind, float(rate), f.score_type_, f.calibration_scores_,
                                f.feature_baseline_, f.threshold_method, f.threshold_rule_, f.tail_,
                                *(f.column_reference_ or (None, None)), f.calibration_warning_,
                                f.warmup_scores_, f.missing_rate_, f.missing_weight_, f.missing_offset_),
        noise_seed=int(f.noise_seed_),
        n_features_in=int(f.n_features_in_),
        feature_names_in=None if names is None else [str(c) for c in names],
        window=f.window_spec_,
        training={"device": str(f.device_), "n_iter": int(f.n_iter_), "best_epoch": int(f.best_epoch_),
                  "n_train_rows": int(f.n_train_rows_), "fit_time_s": float(f.fit_time_),
                  "loss_curve": [float(v) for v in f.loss_curve_],
                  "validation_loss_curve": [float(v) for v in f.validation_loss_curve_],
                  "n_labelled_anomalies": int(getattr(f, "n_labelled_anomalies_", 0)),
                  "n_trimmed": int(getattr(f, "n_trimmed_", 0)),
                  **({} if getattr(f, "score_view_evidence_", None) is None
                     else {"score_view": f.score_view_evidence_.to_dict()})},
        ignored_columns=dict(getattr(f, "ignored_columns_", {})),
    )


def scorer_from_state(state: FittedState, device: str = "cpu", module=None) -> Scorer:
    """The :class:`Scorer` of ``state``, the one way to build one; on CPU at the latent mean, without torch.

    It scores with the score type the threshold was calibrated on
    (``calibration.score_type``), so scores, threshold and p-values come
    from one setting.

    Parameters
    ----------
    state : FittedState
    device : str, default="cpu"
        A resolved device; anything but ``"cpu"`` scores in torch.
    module : TabularVAE, optional
        The torch network the weights come from (the estimator's), used
        instead of a new one from the weights when scoring in torch.

    Raises
    ------
    ValueError
        If the weights do not match the network's shape.
    """
    cal = state.calibration
    engine = build_engine(state.network, cal.score_type, int(state.params.get("n_samples", 1)),
                          state.noise_seed, device, weights=state.weights, module=module)
    return Scorer(state.preprocessor, engine, cal, state.window, state.feature_names_in,
                  state.ignored_columns)


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
