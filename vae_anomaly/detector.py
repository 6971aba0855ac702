"""``VAEDetector``: the scikit-learn outlier detector that ties the stages together.

Data flows one way: the input table is checked and encoded
(:mod:`~vae_anomaly.features`), a VAE is trained
(:mod:`~vae_anomaly.model.vae`, :mod:`~vae_anomaly.model.training`), the threshold is
set on held-out rows (:mod:`~vae_anomaly.calibration.held_out`), and rows are scored
(:mod:`~vae_anomaly.scoring`). What ``fit`` learns is one plain value
(:class:`~vae_anomaly.persistence.state.FittedState`): ``fit`` produces it, ``load``
reads it from a model file, and both set the fitted attributes from it in one place.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn import config_context, get_config
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    OutlierMixin,
    TransformerMixin,
)
from sklearn.utils import TransformerTags, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import options
from .calibration.drift import DRIFT_ALPHA, DriftReport
from .exceptions import CalibrationWarning, InvalidInputError, ModelFileError
from .features.encoder import Encoded
from .features.frames import as_pandas, like_input
from .features.identifiers import identifier_columns, identifier_warning, kept_columns
from .features.labels import fit_labels
from .features.rows import Prepared, holding, prepare, training_rows
from .features.schema import as_frame, require_columns
from .features.series import requested_window
from .model import inference, residuals
from .model.labelled import deviation_term
from .model.likelihood import degrees_of_freedom
from .model.sizing import build_network, held_out_rows, train_config
from .model.tensors import module_device, resolve_device, to_tensors
from .model.training import fit_residual_covariance, train
from .model.vae import TabularVAE
from .options import (
    ARRAY_LIKE,
    BOOLEAN,
    NONE,
    RANDOM_STATE,
    STRING,
    VERBOSE,
    Interval,
    Options,
    check_params,
)
from .persistence.state import FittedState, fitted_attributes, scorer_from_state, state_of
from .scoring.engine import build_engine
from .scoring.held_out import calibrate_held_out
from .scoring.label_view import view_from_labels
from .scoring.network import NetworkSpec, module_weights
from .scoring.scorer import ScoreDetails, Scorer, stacked_size
from .scoring.torch_engine import module_from_weights

__all__ = ["VAEDetector", "ScoreDetails"]

logger = logging.getLogger(__name__)


class VAEDetector(ClassNamePrefixFeaturesOutMixin, OutlierMixin, TransformerMixin, BaseEstimator):
    """Anomaly detector built on a variational autoencoder.

    Scales the features, trains an MLP VAE on them, and flags rows whose
    negative ELBO (or reconstruction error) lies beyond a threshold
    calibrated on training rows held out from the network.

    Parameters
    ----------
    score_type : {"elbo", "reconstruction"}, default="elbo"
        What the anomaly score measures (named ``score_type`` because
        ``score`` is a method name in scikit-learn). ``"elbo"`` is the negative evidence
        lower bound, where each numeric feature has a learned noise level
        (see ``likelihood``);
        ``"reconstruction"`` is the squared error in scaled space (plus the
        categorical negative log-probabilities). The threshold and p-values
        are calibrated on this score at fit, so, as with every parameter,
        changing it after fit takes effect at the next fit: a fitted model
        keeps scoring with ``score_type_``.
    n_samples : int, default=1
        Latent samples for the ELBO score. 1 uses the latent mean; more use
        a tighter importance-weighted bound with fixed samples, so scores stay
        deterministic. Like ``score_type``, read at fit (``n_samples_``).
    contamination : "auto" or float in (0, 0.5], default="auto"
        ``"auto"`` sets the threshold for a false-positive rate of
        ``target_fpr`` on normal data, from the held-out rows. A float is
        the expected share of anomalies, with scikit-learn's meaning: that
        share of the rows given to ``fit`` is flagged by ``predict`` on the
        same rows (the threshold is that quantile of their scores, as
        ``IsolationForest`` sets ``offset_``).
    target_fpr : float in (0, 0.5], default=0.01
        Target false-positive rate used with ``contamination="auto"``. When
        the held-out rows cannot support it (fewer than ``1 / target_fpr - 1``
        of them), ``fit`` warns with a :class:`~vae_anomaly.CalibrationWarning`
        saying how many would.
    threshold_method : {"auto", "conformal", "tail"}, default="auto"
        How the threshold and the p-values are set from the held-out scores.
        ``"conformal"``: the conformal rule, whose p-values cannot go below
        ``1 / (n_held_out + 1)`` (a smaller ``target_fpr`` then flags
        nothing). ``"tail"``: a generalised Pareto fitted to the top 10% of
        the held-out scores (peaks over threshold, as in SPOT: Siffer et al.,
        KDD 2017) sets the threshold and the p-values above that top 10%.
        ``"auto"``: conformal where the held-out rows resolve the rate
        steadily (``target_fpr * (n_held_out + 1) >= 10``), the tail below.
        See docs/concepts.md for the measured accuracy of each.
    latent_dim : int, default=None
        Size of the latent space; by default ``ceil(d / 4)`` clipped to
        [2, 16] with ``d`` the encoded input width.
    hidden_layer_sizes : tuple of int, default=None
        Encoder widths (the decoder mirrors them); by default
        ``(h, h // 2)`` with ``h`` the power of two at or above ``2 d``,
        clipped to [32, 128].
    beta : float, default=1.0
        Weight of the KL term in the training loss.
    kl_warmup : int, default=10
        Epochs over which the KL weight grows linearly to ``beta``.
    batch_size : int or "auto", default="auto"
        Rows per step; "auto" picks about 1/16 of the training rows as a
        power of two in [32, 2048].
    learning_rate_init : float, default=3e-3
        Adam learning rate; halved when the validation loss stalls.
    max_iter : int or "auto", default="auto"
        Maximum epochs. "auto" aims at about 600 optimiser steps, between 10
        and 100 epochs, and at most about 600,000 rows seen in training
        (epochs times training rows) where that leaves more than 10 epochs.
    early_stopping : bool, default=True
        Stop when the validation loss has not improved for
        ``n_iter_no_change`` epochs and keep the best weights.
    validation_fraction : float in (0, 1), default=0.2
        Share of the rows held out from training (of those not labelled as
        known anomalies in ``fit``'s ``y``). They drive early stopping and
        calibrate the threshold and p-values.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Relative improvement of the validation loss that counts as progress.
    trim_fraction : float in [0, 0.5), default=0.15
        Share of highest-loss rows left out of each minibatch's loss, to
        limit how much the network learns anomalies in the training data.
    label_weight : float >= 0, default=0.0
        Weight of a training term for the known anomalies (used only when
        ``fit``'s ``y`` marks some rows 1): each training step also pushes
        their negative ELBO to at least 5 standard deviations above the
        minibatch's (DevNet's deviation loss, Pang et al., KDD 2019; see
        :mod:`vae_anomaly.model.labelled`), so rows like them score high.
        0 only keeps them out of training and calibration (and lets them
        choose the score view, see ``fit``). Try 1 when the
        anomalies you know repeat one form (a recurring fault): with 10
        labels it raised mean AUC-ROC on 22 ADBench sets from 0.785 to 0.836,
        but lost on scattered anomalies (synthetic local and dependency
        kinds) and on the bundled sample, and its scores of normal rows grow
        a long tail (docs/concepts.md, "Known anomalies (labels)").
    scaler : {"robust", "quantile", "standard"}, default="robust"
        Numeric scaling: median and robust spread (interquartile range,
        widening to the central 80%, 90%, then 98% range for columns that are
        mostly one value, and never below a millionth of the median's size:
        see :func:`~vae_anomaly.features.scaling.robust_spread`); rank-Gaussian
        (each column's empirical distribution mapped to a standard normal,
        continued linearly past the fitted range); or mean and standard
        deviation.
    likelihood : {"gaussian", "student-t"}, default="gaussian"
        Distribution of each numeric feature around the decoder's mean, with
        a learned scale per feature. ``"gaussian"`` is the classic VAE
        decoder: a value ``r`` scales out adds ``r**2 / 2`` to the score.
        ``"student-t"`` (4 degrees of freedom) has heavy tails and adds about
        ``2.5 * log(r**2)``, so one wild column cannot drown the others and
        outlying training rows pull less on the fit. It helped when the
        training data hold the anomalies (unsupervised fits) and hurt when
        they are clean; see docs/concepts.md.
    covariance_type : {"diag", "full"}, default="diag"
        How the ELBO score treats the numeric features' residuals around the
        reconstruction (with ``likelihood="gaussian"`` and
        ``score_type="elbo"``; ignored otherwise). ``"diag"``: independent,
        each with the decoder's learned variance, as in training.
        ``"full"``: after training, their covariance is estimated on the
        fitted rows outside the top ``trim_fraction`` of scores (Ledoit-Wolf
        shrinkage, eigenvalues at least ``exp(min_log_var)``) and the score
        uses it, so a row that breaks a relation between columns that the
        network could not reproduce scores higher (:mod:`vae_anomaly.model.residuals`).
        A feature's contribution is then ``0.5 * r_j * (P r)_j`` plus a
        constant (``r`` the residuals, ``P`` their inverse covariance) and
        can be negative. Each scored row costs ``d_num**2`` more
        multiply-adds; above :data:`vae_anomaly.model.residuals.MAX_FEATURES`
        (256) numeric features, or with too few rows, it is not used and
        ``fit`` warns (``module_.full_covariance`` says which one scores).
        On the ADBench dev sets it won 10 and lost 11 against ``"diag"``,
        and gained most where anomalies break relations between columns
        (docs/benchmarks.md, "Lead kept as an option: the residual
        covariance").
    min_log_var : float, default=-4.0
        Lower bound on each numeric feature's decoder log-variance, in scaled
        units, which stops one column from dominating the score.
    max_categories : int, default=50
        Largest number of levels accepted for a text column.
    include_columns : list of str or int, default=None
        Columns kept as features even where they look like identifiers:
        names, or positions for an unnamed array. Otherwise ``fit`` leaves
        out each column with at least 100 non-missing values that holds
        integers with a distinct one in every row, whose values only rise
        (or only fall) from row to row (within each series in time order,
        for windowed models), or that holds text with more distinct values
        than ``max_categories``: order numbers, row numbers and numeric
        timestamps grow with time, so a model of their values flags every
        later row. It warns once, naming each column and why
        (``ignored_columns_``); docs/concepts.md says what this rule misses.
        A window's time and group columns are never left out.
    window : int, default=None
        Score sliding windows instead of single rows: each row is modelled
        together with the ``window - 1`` rows before it in its series, and
        gets one score. The first rows of a series have shorter windows:
        their statistics use the rows there are (with ``"stack"``, the empty
        positions are masked); see ``ScoreDetails.window_fill``.
    time_column : str, default=None
        With ``window``: the column that orders rows within a series (rows
        are sorted by it; results come back in the caller's order). None
        keeps the input order.
    group_column : str, default=None
        With ``window``: the column naming independent series (machine,
        device); windows never cross series.
    window_features : {"summary", "stack"}, default="summary"
        With ``window``: what the network sees of each window.
        ``"summary"`` describes each numeric channel by its current value,
        its change from the previous row, and the window's mean, standard
        deviation, minimum and maximum (6 features per channel whatever
        ``window``; other channels pass through), so a short fault is not
        diluted among many likelihood terms as the window grows; the
        held-out rows are the end of each fifth of every series, so a
        drifting series does not stop training early. ``"stack"`` is the
        flattened window (``window x channels`` features, early positions
        masked; held out: the end of each series). A window of one row is
        the row itself, whatever this says. See ``docs/sensors.md`` for how
        the default was chosen.
    device : str, default="auto"
        Torch device; "auto" uses CUDA when available. The resolved device is
        kept in ``device_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the initial weights, minibatch order and latent
        samples. The global random state is never touched.
    verbose : bool, default=False
        Show a progress bar while training.

    Attributes
    ----------
    score_type_ : str
        The score this model computes and its threshold was calibrated on:
        ``score_type`` at fit. Model files and ``vae-detect info`` record it.
    n_samples_ : int
        Latent samples of the score: ``n_samples`` at fit.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    threshold_ : float
        Anomaly-score threshold (``-offset_``); rows above it are flagged.
    calibration_scores_ : ndarray of shape (n_calibration,)
        Anomaly scores of the held-out rows, sorted.
    feature_baseline_ : ndarray of shape (n_model_features,)
        Median term of each model feature on the held-out rows: a missing
        feature adds it to a row's score, and a column's contribution is its
        term minus it.
    missing_rate_ : ndarray of shape (n_columns,) or None
        Each input column's probability of being missing (for summary windows:
        each channel's), from the training rows, smoothed as
        ``(missing + 1/2) / (rows + 1)``. None for models loaded from files
        written before model format 6.
    missing_weight_ : ndarray of shape (n_columns,) or None
        Nats a missing cell adds to its row's pattern evidence:
        ``log((1 - p) / p)``, plus the spread of the held-out scores below the
        threshold for columns never missing in the training rows, so that a
        hole there flags its row (see :mod:`vae_anomaly.calibration.missingness`).
        None for models loaded from files written before model format 6 (a
        missing cell then adds only ``feature_baseline_``).
    missing_offset_ : float
        The pattern evidence that training rows carry routinely (its 99th
        percentile over them, at least 0): a row's score adds only what its
        own evidence exceeds, so routine holes add nothing.
    threshold_rule_ : {"conformal", "tail", "contamination"}
        The rule that set ``threshold_``.
    tail_ : vae_anomaly.calibration.tail.TailFit or None
        The tail fitted to the calibration scores, with its quality
        (``status``, ``shape``, ``ks_p_value``); None with
        ``threshold_method="conformal"``.
    calibration_warning_ : str or None
        Why the held-out rows cannot support ``target_fpr``, if they cannot
        (also issued as a :class:`~vae_anomaly.CalibrationWarning`).
    column_reference_ : tuple of ndarray or None
        Bins of the held-out rows' per-column contributions, for :meth:`drift`
        (None for models loaded from files written before model format 3).
    module_ : torch.nn.Module
        The trained network.
    hidden_sizes_ : list of int
        Encoder widths of ``module_`` (``hidden_layer_sizes``, or those chosen
        from the data); the decoder mirrors them.
    noise_seed_ : int
        Seed of the fixed latent samples of the importance-weighted score
        (``n_samples_ > 1``).
    preprocessor_ : TabularPreprocessor
        The fitted encoder of the input columns.
    loss_curve_ : list of float
        Training loss per epoch.
    validation_loss_curve_ : list of float
        Held-out negative ELBO per epoch.
    n_iter_ : int
        Epochs run.
    best_epoch_ : int
        Epoch (counted from 1) whose weights the network keeps: the last to
        improve the held-out loss by more than ``tol``.
    n_train_rows_ : int
        Model rows the network was trained on (the rest were held out, or
        left out as known anomalies).
    n_labelled_anomalies_ : int
        Rows labelled 1 (known anomalies) in the ``y`` given to :meth:`fit`;
        0 without labels (and for models loaded from files written before
        labels were recorded).
    n_trimmed_ : int
        Model rows left out of training and of the held-out rows because of
        the labels: the labelled rows themselves, or for windowed models
        every window that holds one. 0 without labels.
    score_view_ : {"diag", "full"}
        How the ELBO score treats the numeric features' residuals: independent
        with the learned variances, or with their full covariance (as
        ``covariance_type`` says; see ``module_.full_covariance``). Known
        anomalies in ``fit``'s ``y`` may choose the other one than
        ``covariance_type``: see ``score_view_evidence_``.
    score_view_evidence_ : ViewChoice or None
        Where labels took part in the choice: each view's AUC-ROC of the
        labelled anomalies against the held-out rows (``label_auc``), the
        view kept without strong evidence (``default``, ``covariance_type``),
        the lower bound of the other view's per-label gain over it
        (``lower_bound``; the view changes only where it is above 0) and the
        number of labels (:class:`~vae_anomaly.calibration.views.ViewChoice`).
        None without labels, with ``label_weight > 0`` (the network was
        trained on the labelled rows), for windowed models, and where no full
        covariance applies (``likelihood="student-t"``,
        ``score_type="reconstruction"``, no numeric feature). Where one cannot
        be fitted (over 256 numeric features), ``label_auc`` holds ``"diag"``
        alone.
    fit_time_ : float
        Seconds that ``fit`` took.
    device_ : str
        Device the network was trained on (for a loaded model: the one given
        to :meth:`load`).
    window_spec_ : WindowSpec or None
        The fitted window settings: those asked for, completed at fit with
        the time column's kind, the channels and their dtypes, and the median
        time step within the training series (``median_step_s``, against which
        time gaps are measured); None for row-wise models.
    window_config_ : dict or None
        ``window_spec_`` as model files store it (read-only); None for
        row-wise models.
    warmup_scores_ : ndarray of shape (window - 1, n_reference) or None
        Windowed models: scores of the held-out windows cut to 1, 2, ...,
        ``window - 1`` rows, which put warm-up rows on the full-window scale
        (see :mod:`vae_anomaly.scoring.warmup`); None otherwise.
    n_features_in_ : int
        Number of input columns (those left out as identifiers included).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, for table input with string names: a pandas or polars
        DataFrame, a pyarrow Table, or any table with the Arrow PyCapsule
        (``__arrow_c_stream__``) or dataframe interchange (``__dataframe__``)
        protocol. Every method takes any of these, whichever kind ``fit`` had.
    ignored_columns_ : dict of str to str
        Columns left out at fit because they look like identifiers, each
        with the reason; empty when none (see ``include_columns``). Names are
        ``"x0"``, ``"x1"``, ... for an unnamed array. They count in
        ``n_features_in_`` and ``feature_names_in_`` and are checked as
        scikit-learn checks every input column, but no score uses them:
        contributions, :meth:`reconstruct` and :meth:`sample` cover the
        modelled columns only.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Tree-based detector with the same API.

    Examples
    --------
    >>> import numpy as np
    >>> from vae_anomaly import VAEDetector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 4))
    >>> det = VAEDetector(random_state=0).fit(X)
    >>> det.predict([[0.0, 0.0, 0.0, 0.0], [8.0, -8.0, 8.0, -8.0]])
    array([ 1, -1])
    """

    # What each constructor parameter may be, checked at fit (vae_anomaly.options). Not named
    # _parameter_constraints: scikit-learn's checks read that name as holding its private constraint classes.
    _CONSTRUCTOR_CONSTRAINTS: dict = {
        "score_type": [Options(*options.SCORE_TYPES)],
        "n_samples": [Interval("integer", 1, None, closed="left")],
        "contamination": [Options("auto"), Interval("real", 0, 0.5, closed="right")],
        "target_fpr": [Interval("real", 0, 0.5, closed="right")],
        "threshold_method": [Options(*options.THRESHOLD_METHODS)],
        "latent_dim": [Interval("integer", 1, None, closed="left"), NONE],
        "hidden_layer_sizes": [ARRAY_LIKE, NONE],
        "beta": [Interval("real", 0, None, closed="left")],
        "kl_warmup": [Interval("integer", 0, None, closed="left")],
        "batch_size": [Options("auto"), Interval("integer", 1, None, closed="left")],
        "learning_rate_init": [Interval("real", 0, None, closed="neither")],
        "max_iter": [Options("auto"), Interval("integer", 1, None, closed="left")],
        "early_stopping": [BOOLEAN],
        "validation_fraction": [Interval("real", 0, 1, closed="neither")],
        "n_iter_no_change": [Interval("integer", 1, None, closed="left")],
        "tol": [Interval("real", 0, None, closed="left")],
        "trim_fraction": [Interval("real", 0, 0.5, closed="left")],
        "label_weight": [Interval("real", 0, None, closed="left")],
        "scaler": [Options(*options.SCALERS)],
        "likelihood": [Options(*options.LIKELIHOODS)],
        "covariance_type": [Options(*options.COVARIANCE_TYPES)],
        "min_log_var": [Interval("real", None, None, closed="neither")],
        "max_categories": [Interval("integer", 2, None, closed="left")],
        "include_columns": [ARRAY_LIKE, NONE],
        "window": [Interval("integer", 1, None, closed="left"), NONE],
        "time_column": [STRING, NONE],
        "group_column": [STRING, NONE],
        "window_features": [Options(*options.WINDOW_FEATURES)],
        "device": [STRING],
        "random_state": [RANDOM_STATE],
        "verbose": [VERBOSE],
    }

    def __init__(
        self,
        *,
        score_type="elbo",
        n_samples=1,
        contamination="auto",
        target_fpr=options.TARGET_FPR,
        threshold_method="auto",
        latent_dim=None,
        hidden_layer_sizes=None,
        beta=1.0,
        kl_warmup=10,
        batch_size="auto",
        learning_rate_init=3e-3,
        max_iter="auto",
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=10,
        tol=1e-4,
        trim_fraction=0.15,
        label_weight=0.0,
        scaler="robust",
        likelihood="gaussian",
        covariance_type="diag",
        min_log_var=-4.0,
        max_categories=options.MAX_CATEGORIES,
        include_columns=None,
        window=None,
        time_column=None,
        group_column=None,
        window_features="summary",
        device="auto",
        random_state=None,
        verbose=False,
    ):
        self.score_type = score_type
        self.n_samples = n_samples
        self.contamination = contamination
        self.target_fpr = target_fpr
        self.threshold_method = threshold_method
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.trim_fraction = trim_fraction
        self.label_weight = label_weight
        self.scaler = scaler
        self.likelihood = likelihood
        self.covariance_type = covariance_type
        self.min_log_var = min_log_var
        self.max_categories = max_categories
        self.include_columns = include_columns
        self.window = window
        self.time_column = time_column
        self.group_column = group_column
        self.window_features = window_features
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # transform() returns the latent means, so sklearn also checks us as a transformer.
        tags.transformer_tags = TransformerTags(preserves_dtype=["float64"])
        return tags

    # ---------------------------------------------------------------------------------------
    # input
    # ---------------------------------------------------------------------------------------
    def _input_frame(self, X, reset: bool) -> pd.DataFrame:
        """Check ``X`` at the boundary and view it as a DataFrame.

        A table of another library (polars, pyarrow, ...) becomes a pandas
        DataFrame first (:func:`~vae_anomaly.features.frames.as_pandas`), so
        ``validate_data`` sees, and ``feature_names_in_`` keeps, its column names.
        """
        X = as_pandas(X)
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=reset)
            if X.shape[1] == 0:
                raise InvalidInputError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
            if reset and len(X) < 2:
                raise InvalidInputError(f"Found {len(X)} sample(s); VAEDetector needs at least 2 rows "
                                        "to fit.")
            frame = X.copy(deep=False)
            frame.columns = [str(c) for c in frame.columns]
            return frame
        arr = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False,
                            ensure_min_samples=2 if reset else 0)
        if arr.dtype == object:
            try:
                arr = arr.astype(np.float64)
            except ValueError:
                pass  # text columns: modelled as categories
        return as_frame(arr)

    def _prepare(self, X, context=None) -> Prepared:
        """Checked, encoded (and windowed) rows of ``X`` for a fitted model."""
        check_is_fitted(self)
        frame = self._modelled(self._input_frame(X, reset=False))
        if context is not None:
            context = self._modelled(self._input_frame(context, reset=False))
        return prepare(frame, self.preprocessor_, self.window_spec_, context)

    def _modelled(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` without the columns left out as identifiers at fit."""
        ignored = [name for name in getattr(self, "ignored_columns_", {}) if name in frame.columns]
        return frame.drop(columns=ignored) if ignored else frame

    def _fit_columns(self, X):
        """``X`` with the columns ``fit`` was given, in fit order (extra DataFrame columns dropped); a
        table of another library comes back as a pandas DataFrame."""
        X = as_pandas(X)
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            names = [str(c) for c in self.feature_names_in_]
            require_columns(X.columns, names)
            X = X[names]
        return X

    def _leave_out_identifiers(self, frame: pd.DataFrame, spec) -> tuple[pd.DataFrame, dict]:
        """``frame`` without the columns that look like identifiers, and those columns with the reasons.

        Raises
        ------
        InvalidInputError
            If ``include_columns`` names a column ``frame`` lacks, or every
            feature column looks like an identifier.
        """
        keep = set(kept_columns(frame.columns, self.include_columns))
        keys = set(spec.key_columns()) if spec is not None else set()
        ignored = identifier_columns(frame, [c for c in frame.columns if c not in keep | keys], spec,
                                     self.max_categories)
        if not ignored:
            return frame, ignored
        if all(c in ignored or c in keys for c in frame.columns):
            listed = "; ".join(f"{name!r}: {why}" for name, why in ignored.items())
            raise InvalidInputError(f"every feature column looks like an identifier ({listed}); keep one "
                                    "with include_columns")
        warnings.warn(identifier_warning(ignored), UserWarning, stacklevel=5)
        return frame.drop(columns=list(ignored)), ignored

    # ---------------------------------------------------------------------------------------
    # fit
    # ---------------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the network on ``X`` and calibrate the threshold.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Training rows. May hold NaN, booleans and text categories. With
            ``window`` set, also the time and group columns. A polars
            DataFrame, a pyarrow Table or another table with
            ``__arrow_c_stream__`` or ``__dataframe__`` is read with its
            column names, as a pandas DataFrame would be.
        y : array-like of shape (n_samples,), default=None
            Known anomalies, with the convention of PyOD and ADBench: 1 for
            a known anomaly, 0 for every other row (normal or not known);
            booleans, floats 0.0/1.0 and missing values (read as 0) are
            read the same way, as are the words ``vae-detect fit
            --label-column`` reads (true/false, anomaly/normal). Rows
            labelled 1 are left out of the rows the network trains on and
            of the held-out rows that early stopping, the threshold,
            p-values, tail, baselines and drift reference come from
            (Label-Trim: conformal p-values calibrated on rows holding
            anomalies stay valid but lose power; dropping the known ones
            regains it); see ``n_labelled_anomalies_``. Row-wise models
            with a Gaussian ELBO score also let the labelled rows choose
            the score view: the residuals' full covariance instead of
            ``covariance_type`` (or the reverse) where it ranks the
            labelled rows above the held-out rows clearly better, per
            label, than the default does (``score_view_``,
            ``score_view_evidence_``; with a few labels it takes a large,
            consistent gain), unless ``label_weight > 0`` has trained the
            network on them. Windowed models
            keep labelled rows in their series and leave out every window
            that holds one. A ``y`` of zeros (or missing values) fits
            exactly as ``y=None``. With a float ``contamination``, that
            share of all the rows given, labelled ones included, is
            flagged. Any other ``y`` (class numbers 0, 1, 2; 1 and 2; scores;
            other text), as scikit-learn's checks and pipelines pass to every
            estimator, is not read as labels: ``fit`` warns with a
            ``UserWarning`` saying which value and fits as with ``y=None``.

        Returns
        -------
        self : VAEDetector

        Raises
        ------
        InvalidParameterError
            If a constructor parameter is out of range or of the wrong kind;
            the message names it and the value (skipped inside
            ``sklearn.config_context(skip_parameter_validation=True)``).
        InvalidInputError
            If ``y`` does not hold one value per row of ``X``; if it holds
            -1 and otherwise only 0 and 1 (scikit-learn's outlier
            convention, which would be read backwards: pass
            ``(y == -1).astype(int)``); or if the labels leave no row (or
            window) to train on, or none to calibrate with.
        """
        # The constructor parameters are checked once, here, by our own checker (vae_anomaly.options), unless
        # scikit-learn's public config skips parameter checks (sklearn.config_context); the scikit-learn
        # estimators and functions used inside fit then do not check theirs again.
        if not get_config()["skip_parameter_validation"]:
            check_params(type(self).__name__, self.get_params(deep=False), self._CONSTRUCTOR_CONSTRAINTS)
        try:
            with config_context(skip_parameter_validation=True):
                return self._fit(X, y)
        except BaseException:
            # Never leave a half-fitted model that still predicts (e.g. after Ctrl-C):
            # forget every fitted attribute so the estimator reads as unfitted.
            for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
                delattr(self, name)
            raise

    def _fit(self, X, y):
        start = time.perf_counter()
        frame = self._input_frame(X, reset=True)
        known, why = fit_labels(y, len(frame))
        if why is not None:
            warnings.warn(f"{why}; fitting without labels", UserWarning, stacklevel=4)
        spec = requested_window(self.window, self.time_column, self.group_column, self.window_features)
        frame, ignored = self._leave_out_identifiers(frame, spec)
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device)
        # What scoring reads, fixed at fit (scikit-learn's convention): set_params after fit
        # cannot pair the calibrated threshold with another score.
        score_type, n_samples = str(self.score_type), int(self.n_samples)
        prep, pre, spec = training_rows(frame, spec, self.scaler, self.max_categories)
        enc = prep.enc

        trimmed = None if known is None or not known.any() else holding(prep, known, spec)
        held, fit_rows = held_out_rows(len(enc), self.validation_fraction, rng, prep.starts,
                                       stretches=spec is not None and spec.features == "summary",
                                       exclude=trimmed)
        if trimmed is not None and (held.size == 0 or fit_rows.size == 0):
            what = "windows that hold no labelled row" if spec is not None else "rows not labelled 1 in y"
            raise InvalidInputError(
                f"{int(known.sum())} of {len(frame)} rows are labelled anomalies: too few {what} are left "
                f"to train on ({fit_rows.size}) and to calibrate with ({held.size}); fitting needs at least "
                "one of each")
        torch_gen = torch.Generator(device="cpu").manual_seed(int(rng.randint(2**31 - 1)))
        noise_seed = int(rng.randint(2**31 - 1))
        module, hidden = build_network(enc, pre.cat_sizes_ * stacked_size(spec), self.hidden_layer_sizes,
                                       self.latent_dim, self.min_log_var, degrees_of_freedom(self.likelihood),
                                       torch_gen, device)
        cfg = train_config(len(fit_rows), batch_size=self.batch_size, max_iter=self.max_iter,
                           learning_rate_init=self.learning_rate_init, beta=self.beta,
                           kl_warmup=self.kl_warmup, early_stopping=self.early_stopping,
                           n_iter_no_change=self.n_iter_no_change, tol=self.tol,
                           trim_fraction=self.trim_fraction, verbose=self.verbose)
        train_t = to_tensors(enc.take(fit_rows), device)
        term = None
        if trimmed is not None and self.label_weight > 0:
            term = deviation_term(module, to_tensors(enc.take(np.flatnonzero(trimmed)), device),
                                  float(self.label_weight), cfg.batch_size)
        result = train(module, train_t, to_tensors(enc.take(held), device), cfg, torch_gen, term)
        view = None
        # The labels choose the score view only when the network never saw them (no training term).
        if term is None and trimmed is not None and spec is None and \
                residuals.applies("full", self.likelihood, score_type, enc.num.shape[1]):
            module, view = view_from_labels(module, enc, held, np.flatnonzero(trimmed), train_t,
                                            self.covariance_type, self.trim_fraction, self.min_log_var)
        elif residuals.applies(self.covariance_type, self.likelihood, score_type, enc.num.shape[1]) and not \
                fit_residual_covariance(module, train_t, self.trim_fraction, self.min_log_var):
            warnings.warn(f"covariance_type='full' was not used: {residuals.residual_note(enc.num.shape[1])}",
                          UserWarning, stacklevel=3)

        network, weights = NetworkSpec.of(module, hidden), module_weights(module)
        engine = build_engine(network, score_type, n_samples, noise_seed, module_device(module).type,
                              weights=weights, module=module)
        calibration = calibrate_held_out(engine, prep, held, fit_rows, pre, spec, score_type=score_type,
                                         contamination=self.contamination, target_fpr=self.target_fpr,
                                         threshold_method=self.threshold_method,
                                         validation_fraction=self.validation_fraction)
        if calibration.warning is not None:
            warnings.warn(calibration.warning, CalibrationWarning, stacklevel=4)
        names = getattr(self, "feature_names_in_", None)  # set by validate_data
        state = FittedState(
            params={**self.get_params(deep=False), "score_type": score_type, "n_samples": n_samples},
            preprocessor=pre, network=network, weights=weights, calibration=calibration,
            noise_seed=noise_seed, n_features_in=self.n_features_in_,
            feature_names_in=None if names is None else [str(c) for c in names], window=spec,
            ignored_columns=ignored,
            training={"device": device, "n_iter": result.n_iter, "best_epoch": result.best_epoch,
                      "n_train_rows": int(len(fit_rows)), "fit_time_s": time.perf_counter() - start,
                      "n_labelled_anomalies": 0 if known is None else int(known.sum()),
                      "n_trimmed": 0 if trimmed is None else int(trimmed.sum()),
                      "loss_curve": result.loss_curve, "validation_loss_curve": result.validation_loss_curve,
                      **({} if view is None else {"score_view": view.to_dict()})})
        self._set_fitted(state, module, device)
        logger.info("fitted on %d rows in %.2fs (%d epochs)", len(enc), self.fit_time_, self.n_iter_)
        return self

    def _set_fitted(self, state: FittedState, module: TabularVAE, device: str) -> None:
        """Set every fitted attribute: from ``state`` (what fit produced, or a model file's), the network and
        its device."""
        for name, value in fitted_attributes(state).items():
            setattr(self, name, value)
        self.module_, self.device_ = module, device

    # ---------------------------------------------------------------------------------------
    # scores
    # ---------------------------------------------------------------------------------------
    def _tensors(self, enc: Encoded):
        return to_tensors(enc, module_device(self.module_))

    @property
    def window_config_(self) -> dict | None:
        """``window_spec_`` as model files store it, or None for row-wise models."""
        return None if self.window_spec_ is None else self.window_spec_.to_dict()

    def scorer(self) -> Scorer:
        """The fitted model's :class:`~vae_anomaly.scoring.scorer.Scorer` (built on each call).

        It scores exactly as this estimator does, without scikit-learn's input
        checks. ``vae-detect score`` builds the same from the model file
        (:func:`vae_anomaly.persistence.modelfile.load_scorer`) without importing
        torch or scikit-learn.
        """
        check_is_fitted(self)
        return scorer_from_state(state_of(self), module_device(self.module_).type, module=self.module_)

    def score_samples(self, X) -> np.ndarray:
        """Normality score of each row: higher is more normal.

        This is the ELBO (or minus the reconstruction error), so the most
        anomalous rows have the lowest scores.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        prep = self._prepare(X)
        return -self.scorer().scores(prep, with_terms=False)[0][prep.back]

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit on ``X`` (with the known anomalies ``y``, as :meth:`fit` reads them) and predict its rows.

        Returns
        -------
        ndarray of shape (n_samples,)
            +1 for normal rows, -1 for anomalies.
        """
        return self.fit(X, y).predict(X)

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Fit on ``X`` (with the known anomalies ``y``, as :meth:`fit` reads them) and return its latent
        means (see :meth:`transform`)."""
        return self.fit(X, y).transform(X)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for anomalies."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for normal rows, -1 for anomalies."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def p_values(self, X) -> np.ndarray:
        """p-value of each row against the calibration scores.

        Small values mean the row is less normal than nearly all held-out
        training rows. Conformal p-values (``p <= a`` happens with
        probability at most ``a`` on normal data) unless a fitted tail sets
        the threshold (``threshold_rule_ == "tail"``) or was asked for
        (``threshold_method="tail"``): then rows beyond the scores the tail
        covers get the tail's estimate, which keeps falling below
        ``1 / (n_calibration + 1)``. With ``contamination="auto"``, a row is
        flagged exactly when its p-value is at most ``target_fpr``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Values in ``[0, 1]``.
        """
        return self.scorer().p_values(-self.score_samples(X))

    def drift(self, X, context=None, alpha: float = DRIFT_ALPHA) -> DriftReport:
        """Whether the rows of ``X``, taken as one batch, still look like the held-out rows.

        Three tests, Bonferroni-combined at level ``alpha``: the flagged share
        against its beta-binomial expectation, a two-sample Kolmogorov-Smirnov
        test of the scores, and a chi-square test of each column's
        contributions binned at the held-out deciles (see
        :mod:`vae_anomaly.calibration.drift` and docs/concepts.md).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        context : DataFrame, optional
            As for :meth:`score_details`.
        alpha : float, default=0.01
            Significance level of the three tests together; over normal
            batches, alarms stay at most at this rate.

        Returns
        -------
        DriftReport
            ``detected``, ``p_value``, and per test ``flagged``, ``scores``
            and ``columns`` (the columns that moved most; None for models
            loaded from files without a column reference).
        """
        scorer = self.scorer()
        prep = self._prepare(self._fit_columns(X), None if context is None else self._fit_columns(context))
        return scorer.drift_of(scorer.details(prep), alpha)

    def feature_contributions(self, X):
        """Each input column's share of each row's anomaly score.

        A column's contribution is its negative log-likelihood under the
        model (its squared error for ``score_type="reconstruction"``) minus
        the median of the same on the calibration rows. Positive values mark
        the columns that make the row unusual. A missing cell contributes its
        share of what the row's holes add to its score: large where the
        column was never missing in training, 0 where the row has no more (or
        rarer) holes than 99 training rows in 100 (see ``missing_offset_``).
        With windows, a channel's contribution is summed over the window. The
        latent (KL) part of the score belongs to no single column and is left
        out, as are the columns left out as identifiers (``ignored_columns_``).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            A pandas or polars DataFrame, a pyarrow Table, any table with
            ``__arrow_c_stream__`` or ``__dataframe__``, or an array.

        Returns
        -------
        DataFrame or ndarray of shape (n_samples, n_columns)
            For table input, a DataFrame with the feature column names: a
            polars DataFrame for polars input, otherwise a pandas DataFrame
            (with ``X``'s index for pandas input). An ndarray for array input.
        """
        data = as_pandas(X)
        prep = self._prepare(data)
        scorer = self.scorer()
        _, terms = scorer.engine.raw_scores(prep.enc, with_terms=True)
        out = scorer.contributions(prep, terms)[prep.back]
        if isinstance(data, pd.DataFrame):
            return like_input(pd.DataFrame(out, index=data.index, columns=scorer.feature_names()), X)
        return out

    def score_details(self, X, context=None) -> ScoreDetails:
        """Everything the CLI writes for each row, from one pass over the network.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Extra DataFrame columns beyond those seen at fit time are ignored.
        context : DataFrame, optional
            For windowed models: earlier rows of the same series (for example
            the tail of the previous batch). They fill the windows of the
            first rows of ``X`` but get no result of their own.

        Returns
        -------
        ScoreDetails
            Anomaly scores (higher = more anomalous), flags, p-values,
            per-column contributions and window fill, aligned with ``X``.
        """
        context = None if context is None else self._fit_columns(context)
        return self.scorer().details(self._prepare(self._fit_columns(X), context))

    # ---------------------------------------------------------------------------------------
    # latent space and generator
    # ---------------------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """Latent means of each row.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, latent_dim)
            Or the container chosen with :meth:`set_output` (``"pandas"``,
            ``"polars"``), with the columns :meth:`get_feature_names_out` names.
        """
        prep = self._prepare(X)
        return inference.latent_means(self.module_, self._tensors(prep.enc))[prep.back]

    @property
    def _n_features_out(self) -> int:
        """Columns of :meth:`transform`: the latent dimension (``get_feature_names_out`` reads it)."""
        return self.module_.latent_dim

    def reconstruct(self, X):
        """Decoder's expected value of each row, in the original units.

        Numeric columns get the decoder mean; categorical columns the most
        likely level. Not available for windowed models.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        DataFrame or ndarray of shape (n_samples, n_features_in_ - len(ignored_columns_))
            As :meth:`feature_contributions` returns: a DataFrame with ``X``'s
            modelled columns for table input (polars for polars input), an ndarray for
            array input.

        Raises
        ------
        NotImplementedError
            For windowed models.
        """
        self._refuse_windows("reconstruct")
        data = as_pandas(X)
        prep = self._prepare(data)
        num, cat = inference.reconstructions(self.module_, self._tensors(prep.enc))
        return like_input(self._as_output(self.preprocessor_.decode(num, cat), data), X)

    def _refuse_windows(self, what: str) -> None:
        check_is_fitted(self)
        if self.window_spec_ is not None:
            raise NotImplementedError(f"{what} is not available for windowed models")

    def sample(self, n_samples: int = 1, random_state=None):
        """Draw synthetic rows from the fitted model, in the original units.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows.
        random_state : int, RandomState instance or None
            Seed of the draw.

        Returns
        -------
        DataFrame or ndarray of shape (n_samples, n_features_in_ - len(ignored_columns_))
            A DataFrame when the model was fitted on one. Columns left out as
            identifiers have no values to draw from.
        """
        self._refuse_windows("sample")
        rng = check_random_state(random_state)
        num, cat = self.module_.sample(int(n_samples), int(rng.randint(2**31 - 1)),
                                       int(rng.randint(2**31 - 1)))
        return self._as_output(self.preprocessor_.decode(num, cat), None)

    def _as_output(self, frame: pd.DataFrame, X):
        if isinstance(X, pd.DataFrame):
            frame.index = X.index
            ignored = getattr(self, "ignored_columns_", {})
            frame.columns = [c for c in X.columns if str(c) not in ignored]
            return frame
        if X is None and hasattr(self, "feature_names_in_"):
            return frame
        return frame.to_numpy()

    # ---------------------------------------------------------------------------------------
    # persistence
    # ---------------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted detector to a model file (no pickle inside).

        The file is written to a temporary name and renamed into place, so an
        existing file at ``path`` is replaced only by a complete model. See
        :mod:`vae_anomaly.persistence.modelfile` for the format.

        Parameters
        ----------
        path : str or PathLike
            A local path, or a URI that :mod:`pyarrow.fs` opens
            (``s3://bucket/models/m.vae``; credentials come from the store's
            usual environment). On a store the file is uploaded in one piece
            once complete (:func:`vae_anomaly.tables.write.atomic_write_bytes`).

        Raises
        ------
        OSError
            If the file cannot be written, or the store refuses the upload.
        InvalidInputError
            If a URI cannot be opened, or its store cannot be reached.
        """
        check_is_fitted(self)
        from .persistence.modelfile import write_model

        write_model(state_of(self), path)

    @classmethod
    def load(cls, path, device: str = "cpu") -> VAEDetector:
        """Load a model file written by :meth:`save`; nothing in it is executed.

        ``path`` may be a local path or a URI (``s3://bucket/models/m.vae``).

        Raises
        ------
        ModelFileError
            If the file is missing, corrupt, truncated, holds a pickle, or
            needs a newer version of this package.
        InvalidInputError
            If a URI cannot be opened, or its store cannot be reached.
        """
        from .persistence.modelfile import read_model

        device = resolve_device(device)
        state = read_model(path)
        try:
            det = cls(**state.params)
            det._set_fitted(state, module_from_weights(state.network, state.weights, device), device)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path} is corrupt: {exc}") from None
        return det

    # ---------------------------------------------------------------------------------------
    # pickling: always store the network on the CPU
    # ---------------------------------------------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None and module_device(module).type != "cpu":
            state = dict(state)
            state["module_"] = copy.deepcopy(module).to("cpu")
        return state

