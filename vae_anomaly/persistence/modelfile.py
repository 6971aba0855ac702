"""Model files: a fitted state to bytes on disk and back, without unpickling anything.

A model file is a zip archive holding exactly two members:

``metadata.json``
    Format version, package and library versions, the estimator's
    parameters, the feature schema, the input columns left out as
    identifiers (with the reasons), network shape, threshold and how it was
    calibrated, windowing settings and a training summary.
``tensors.safetensors``
    Weights, preprocessing arrays, calibration scores, per-feature baselines, drift column
    bins and (windowed models) warm-up reference scores, as safetensors (plain numbers).

The archive's comment holds a SHA-256 checksum of every byte before it, so a
truncated or bit-flipped file is refused before anything in it is parsed.
Files are written beside the target and renamed into place, or uploaded
to an object store in one piece once complete
(:func:`vae_anomaly.tables.write.atomic_write_bytes`): never half a model.
A model path may be a URI (``s3://bucket/models/today.vae``).

This module maps a :class:`~vae_anomaly.persistence.state.FittedState` to a file and back; it imports
neither the estimator nor torch, so :func:`load_scorer` on CPU needs neither torch nor scikit-learn.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
from safetensors.numpy import save as st_save

from ..calibration.tail import TailFit
from ..exceptions import ModelFileError
from ..features.encoder import TabularPreprocessor
from ..features.series import WindowSpec
from ..options import TARGET_FPR
from ..scoring.network import NetworkSpec
from ..scoring.scorer import Scorer
from ..tables.write import atomic_write_bytes
from .container import _META, _SUM_PREFIX, _TENSORS, FORMAT_NAME, FORMAT_VERSION, read_metadata, read_verified
from .state import Calibration, FittedState, json_params, scorer_from_state

__all__ = ["FORMAT_VERSION", "model_bytes", "write_model", "read_model", "read_metadata", "load_scorer"]


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
def _version(dist: str) -> str | None:
    from importlib import metadata  # here, not at the top: scoring never needs it (7 ms of a cold start)

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _split(state: FittedState) -> tuple[dict, dict]:
    """JSON metadata and named arrays of a fitted state."""
    from .._version import __version__

    pre_meta, pre_arrays = state.preprocessor.get_state()
    cal = state.calibration
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": {"vae_anomaly": __version__, "torch": _version("torch"), "numpy": np.__version__,
                     "scikit-learn": _version("scikit-learn")},
        "params": json_params(state.params),
        "preprocessing": pre_meta,
        "feature_names_in": state.feature_names_in,
        "n_features_in": int(state.n_features_in),
        "ignored_columns": {str(k): str(v) for k, v in state.ignored_columns.items()},
        "network": state.network.to_dict(),
        "calibration": {"threshold": float(cal.threshold), "offset": float(cal.offset), "method": cal.method,
                        "rate": float(cal.rate), "n_calibration": int(cal.scores.size),
                        "score_type": cal.score_type, "threshold_method": cal.threshold_method,
                        "threshold_rule": cal.threshold_rule,
                        "tail": None if cal.tail is None else cal.tail.to_dict(), "warning": cal.warning},
        "window": None if state.window is None else state.window.to_dict(),
        "training": state.training,
        "noise_seed": int(state.noise_seed),
    }
    arrays = {f"pre.{k}": np.ascontiguousarray(v) for k, v in pre_arrays.items()}
    arrays.update({f"module.{k}": np.ascontiguousarray(v) for k, v in state.weights.items()})
    arrays["calibration_scores"] = np.ascontiguousarray(cal.scores, dtype=np.float64)
    arrays["feature_baseline"] = np.ascontiguousarray(cal.feature_baseline, dtype=np.float64)
    if cal.column_edges is not None:
        arrays["drift.column_edges"] = np.ascontiguousarray(cal.column_edges, dtype=np.float64)
        arrays["drift.column_counts"] = np.ascontiguousarray(cal.column_counts, dtype=np.int64)
    if cal.warmup_scores is not None:
        arrays["warmup_scores"] = np.ascontiguousarray(cal.warmup_scores, dtype=np.float64)
    if cal.missing_rate is not None:
        arrays["missing_rate"] = np.ascontiguousarray(cal.missing_rate, dtype=np.float64)
        arrays["missing_weight"] = np.ascontiguousarray(cal.missing_weight, dtype=np.float64)
        arrays["missing_offset"] = np.array([cal.missing_offset], dtype=np.float64)
    return meta, arrays


def model_bytes(state: FittedState) -> bytes:
    """The bytes of a model file holding ``state``."""
    meta, arrays = _split(state)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_META, json.dumps(meta, indent=1, sort_keys=True))
        zf.writestr(_TENSORS, st_save(arrays))
    body = buf.getvalue()
    if not body.endswith(b"\x00\x00"):  # empty comment: the last field is its length (0)
        raise RuntimeError("unexpected zip layout")
    digest = hashlib.sha256(body[:-2]).hexdigest().encode()
    comment = _SUM_PREFIX + digest
    return body[:-2] + len(comment).to_bytes(2, "little") + comment


def write_model(state: FittedState, path) -> list[str]:
    """Write ``state`` to the model file ``path`` (a local path or a URI) atomically.

    Returns
    -------
    list of str
        Temporaries that earlier, killed runs left for ``path``, removed
        first (see :func:`~vae_anomaly.tables.write.atomic_write_bytes`).

    Raises
    ------
    OSError
        If the file cannot be written; an existing file at ``path`` is then
        left as it was.
    InvalidInputError
        If ``path`` is a URI that cannot be opened, or its store cannot be reached.
    """
    return atomic_write_bytes(path, model_bytes(state))


# ------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------
def read_model(path) -> FittedState:
    """Read a model file written by :func:`write_model`; nothing in it is executed.

    Parameters
    ----------
    path : str or Path
        Model file, a local path or a URI.

    Returns
    -------
    FittedState

    Raises
    ------
    ModelFileError
        If the file is missing, corrupt, truncated, holds anything other than
        the expected members, or needs a newer format version.
    InvalidInputError
        If ``path`` is a URI that pyarrow cannot open, or its store cannot be reached.
    """
    meta, arrays = read_verified(path)
    try:
        return _state(meta, arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path} is corrupt: {exc}") from None


def _state(meta: dict, arrays: dict) -> FittedState:
    pre_arrays = {k[4:]: v for k, v in arrays.items() if k.startswith("pre.")}
    cal = meta["calibration"]
    params = dict(meta["params"])
    train = meta["training"]
    return FittedState(
        # Files written before window_features, likelihood, threshold_method: stack, Gaussian, conformal.
        params={"window_features": "stack", "likelihood": "gaussian", "threshold_method": "conformal",
                **params},
        preprocessor=TabularPreprocessor.from_state(meta["preprocessing"], pre_arrays),
        network=NetworkSpec.from_dict(meta["network"]),
        weights={k[7:]: v for k, v in arrays.items() if k.startswith("module.")},
        calibration=Calibration(
            threshold=float(cal["threshold"]), method=str(cal.get("method", "target_fpr")),
            rate=float(cal.get("rate", params.get("target_fpr", TARGET_FPR))),
            score_type=str(cal.get("score_type", params.get("score_type", "elbo"))),
            scores=np.asarray(arrays["calibration_scores"], dtype=np.float64),
            feature_baseline=np.asarray(arrays["feature_baseline"], dtype=np.float64),
            threshold_method=str(cal.get("threshold_method", "conformal")),
            threshold_rule=str(cal.get("threshold_rule", "conformal")),
            tail=None if cal.get("tail") is None else TailFit.from_dict(cal["tail"]),
            column_edges=arrays.get("drift.column_edges"), column_counts=arrays.get("drift.column_counts"),
            warning=cal.get("warning"),
            warmup_scores=(None if "warmup_scores" not in arrays
                           else np.asarray(arrays["warmup_scores"], np.float64)),
            missing_rate=(None if "missing_rate" not in arrays
                          else np.asarray(arrays["missing_rate"], np.float64)),
            missing_weight=(None if "missing_weight" not in arrays
                            else np.asarray(arrays["missing_weight"], np.float64)),
            missing_offset=(0.0 if "missing_offset" not in arrays
                            else float(np.asarray(arrays["missing_offset"], np.float64).reshape(-1)[0]))),
        noise_seed=int(meta["noise_seed"]),
        n_features_in=int(meta["n_features_in"]),
        feature_names_in=meta.get("feature_names_in"),
        window=None if meta.get("window") is None else WindowSpec.from_dict(meta["window"]),
        ignored_columns=dict(meta.get("ignored_columns") or {}),
        training={"device": str(train["device"]), "n_iter": int(train["n_iter"]),
                  "best_epoch": int(train["best_epoch"]), "n_train_rows": int(train["n_train_rows"]),
                  "fit_time_s": float(train["fit_time_s"]), "loss_curve": list(train["loss_curve"]),
                  "validation_loss_curve": list(train["validation_loss_curve"]),
                  # Files written before labels were recorded: fitted without labels.
                  "n_labelled_anomalies": train.get("n_labelled_anomalies", 0),
                  "n_trimmed": train.get("n_trimmed", 0),
                  **({} if train.get("score_view") is None else {"score_view": dict(train["score_view"])})},
    )


def load_scorer(path, device: str = "cpu") -> Scorer:
    """Load a model file as a :class:`~vae_anomaly.scoring.scorer.Scorer`, for scoring only.

    On CPU (and for scores at the latent mean, ``n_samples=1``) neither torch
    nor scikit-learn is imported; the scores equal those of
    ``VAEDetector.load(path)`` to the last bit.

    Parameters
    ----------
    path : str or Path
        Model file, a local path or a URI.
    device : str, default="cpu"
        A resolved device ("cpu", "cuda", "cuda:1", ...).

    Raises
    ------
    ModelFileError
        As :func:`read_model`, or if the weights do not fit the network.
    """
    state = read_model(path)
    try:
        return scorer_from_state(state, device)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is corrupt: {exc}") from None
