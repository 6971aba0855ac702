"""Model files that load without unpickling anything.

A model file is a zip archive holding exactly two members:

``metadata.json``
    Format version, package and torch versions, the estimator's parameters,
    the feature schema, network shape, threshold and how it was calibrated,
    windowing settings and a training summary.
``tensors.safetensors``
    The network weights, the preprocessing arrays, the calibration scores and
    the per-feature baselines, in the safetensors format (plain numbers, no
    code).

The archive's comment holds a SHA-256 checksum of every byte before it, so a
truncated or bit-flipped file is refused before anything in it is parsed.
Files are written to a temporary file beside the target and renamed into
place, so a crash never leaves half a model at the path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from .exceptions import ModelFileError
from .preprocessing import TabularPreprocessor
from .windows import WindowSpec

# torch, and the estimator with scikit-learn, are imported only where a network or an
# estimator is built: load_scorer() on CPU needs neither, so scoring jobs start quickly.

__all__ = ["FORMAT_VERSION", "save_model", "load_model", "load_scorer", "read_metadata", "atomic_write_bytes"]

FORMAT_NAME = "vae-anomaly-model"
FORMAT_VERSION = 2
# 2: the numeric likelihood is recorded (``network.student_df``, null for Gaussian). Files of
#    version 1 have no such entry and were all Gaussian; they load and score as before.
_META = "metadata.json"
_TENSORS = "tensors.safetensors"
_SUM_PREFIX = b"vae-anomaly sha256:"
_SUM_LEN = len(_SUM_PREFIX) + 64


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
def _json_params(det) -> dict:
    params = {}
    for key, value in det.get_params(deep=False).items():
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, (np.integer, np.floating)):
            value = value.item()
        if key == "random_state" and not (value is None or isinstance(value, int)):
            value = None
        json.dumps(value)  # every parameter must be plain data
        params[key] = value
    return params


def _state(det) -> tuple[dict, dict]:
    """Split a fitted detector into JSON metadata and named arrays."""
    import sklearn

    from . import __version__

    pre_meta, pre_arrays = det.preprocessor_.get_state()
    module = det.module_
    rate_kind = "target_fpr" if det.contamination == "auto" else "contamination"
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": {
            "vae_anomaly": __version__,
            "torch": _torch_version(),
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "params": _json_params(det),
        "preprocessing": pre_meta,
        "feature_names_in": None if not hasattr(det, "feature_names_in_") else [str(c) for c in det.feature_names_in_],
        "n_features_in": int(det.n_features_in_),
        "network": {
            "n_numeric": module.n_numeric,
            "cat_sizes": list(module.cat_sizes),
            "indicator_cols": module.indicator_cols.cpu().tolist(),
            "hidden": det.hidden_sizes_,
            "latent_dim": module.latent_dim,
            "min_log_var": module.min_log_var,
            "student_df": module.student_df,
        },
        "calibration": {
            "threshold": float(det.threshold_),
            "offset": float(det.offset_),
            "method": rate_kind,
            "rate": float(det.target_fpr if rate_kind == "target_fpr" else det.contamination),
            "n_calibration": int(det.calibration_scores_.size),
            "score_type": det.score_type,
        },
        "window": getattr(det, "window_config_", None),
        "training": {
            "device": str(det.device_),
            "n_iter": int(det.n_iter_),
            "best_epoch": int(det.best_epoch_),
            "n_train_rows": int(det.n_train_rows_),
            "fit_time_s": float(det.fit_time_),
            "loss_curve": [float(v) for v in det.loss_curve_],
            "validation_loss_curve": [float(v) for v in det.validation_loss_curve_],
        },
        "noise_seed": int(det.noise_seed_),
    }
    arrays = {f"pre.{k}": np.ascontiguousarray(v) for k, v in pre_arrays.items()}
    for name, tensor in module.state_dict().items():
        arrays[f"module.{name}"] = tensor.detach().cpu().contiguous().numpy()
    arrays["calibration_scores"] = np.ascontiguousarray(det.calibration_scores_, dtype=np.float64)
    arrays["feature_baseline"] = np.ascontiguousarray(det.feature_baseline_, dtype=np.float64)
    return meta, arrays


def model_bytes(det) -> bytes:
    """Serialise a fitted detector to the bytes of a model file."""
    meta, arrays = _state(det)
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


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:  # name the file the caller asked for, not the temporary one
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        # mkstemp makes the file private (0600); give it the usual permissions instead.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_model(det, path) -> None:
    """Write a fitted detector to ``path`` atomically."""
    atomic_write_bytes(path, model_bytes(det))


# ------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------
def _read_verified(path) -> tuple[dict, dict]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a directory, not a model file") from None
    except FileNotFoundError:
        raise ModelFileError(f"model file {path} does not exist") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if not data.startswith(b"PK\x03\x04"):
        if data[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
            raise ModelFileError(f"{path} is a pickle, not a vae-anomaly model file; it was not loaded")
        raise ModelFileError(f"{path} is not a vae-anomaly model file")
    tail = data[-_SUM_LEN:]
    if len(data) < _SUM_LEN + 24 or not tail.startswith(_SUM_PREFIX):
        raise ModelFileError(f"{path} is truncated or not a vae-anomaly model file (no checksum found)")
    expected = tail[len(_SUM_PREFIX):].decode("ascii", "replace")
    actual = hashlib.sha256(data[:-(_SUM_LEN + 2)]).hexdigest()
    if actual != expected:
        raise ModelFileError(f"{path} is corrupt: its checksum does not match its contents")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            if names != {_META, _TENSORS}:
                extra = sorted(names - {_META, _TENSORS}) or sorted({_META, _TENSORS} - names)
                raise ModelFileError(f"{path} holds unexpected members {extra}; it was not loaded")
            meta = json.loads(zf.read(_META))
            tensors_raw = zf.read(_TENSORS)
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, KeyError) as exc:
        raise ModelFileError(f"{path} is corrupt: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a vae-anomaly model file")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        needs = meta.get("versions", {}).get("vae_anomaly", "a newer release")
        raise ModelFileError(
            f"{path} uses model format version {version}, but this vae-anomaly reads up to "
            f"version {FORMAT_VERSION}; upgrade to vae-anomaly {needs} or later"
        )
    _check_layout(meta, path)
    try:
        arrays = st_load(tensors_raw)
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFileError(f"{path} is corrupt: cannot read its weights ({exc})") from None
    return meta, arrays


# Sections of the metadata and the JSON type each must have.
_LAYOUT = {"versions": dict, "params": dict, "preprocessing": dict, "network": dict,
           "calibration": dict, "training": dict}


def _check_layout(meta: dict, path) -> None:
    """Refuse metadata whose sections are missing or of the wrong type.

    The checksum catches damage, not a file written by something else: this
    keeps a well-formed but foreign file from failing deep inside the loader.
    """
    for key, kind in _LAYOUT.items():
        if not isinstance(meta.get(key), kind):
            raise ModelFileError(f"{path} is corrupt: its metadata has no valid {key!r} section")
    schema = meta["preprocessing"].get("schema")
    if not isinstance(schema, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                               for c in schema):
        raise ModelFileError(f"{path} is corrupt: its metadata has no valid column schema")
    window = meta.get("window")
    if window is not None and not (isinstance(window, dict) and isinstance(window.get("size"), int)):
        raise ModelFileError(f"{path} is corrupt: its metadata has an invalid 'window' section")


def read_metadata(path) -> dict:
    """Return the verified JSON metadata of a model file without building the model."""
    return _read_verified(path)[0]


def load_model(path, device: str = "cpu"):
    """Load a detector saved by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
        Model file.
    device : str, default="cpu"
        Device to place the network on.

    Returns
    -------
    VAEDetector

    Raises
    ------
    ModelFileError
        If the file is missing, corrupt, truncated, holds anything other than
        the expected members, or needs a newer format version.
    """
    from .detector import VAEDetector

    meta, arrays = _read_verified(path)
    try:
        return _rebuild(VAEDetector, meta, arrays, device)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is corrupt: {exc}") from None


def _preprocessor(meta: dict, arrays: dict) -> TabularPreprocessor:
    pre_arrays = {k[4:]: v for k, v in arrays.items() if k.startswith("pre.")}
    return TabularPreprocessor.from_state(meta["preprocessing"], pre_arrays)


def _module(meta: dict, arrays: dict, device: str):
    """The torch network, on ``device``, in eval mode."""
    import torch

    from .model import TabularVAE

    net = meta["network"]
    gen = torch.Generator().manual_seed(0)
    module = TabularVAE(net["n_numeric"], net["cat_sizes"], net["indicator_cols"], net["hidden"],
                        net["latent_dim"], net["min_log_var"], gen, device="cpu",
                        student_df=net.get("student_df"))
    state = {k[7:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("module.")}
    module.load_state_dict(state, strict=True)
    return module.to(device).eval()


def _window(meta: dict) -> WindowSpec | None:
    window = meta.get("window")
    return None if window is None else WindowSpec.from_dict(window)


def load_scorer(path, device: str = "cpu"):
    """Load a model file as a :class:`~vae_anomaly.scorer.Scorer`, for scoring only.

    On CPU (and for scores at the latent mean, ``n_samples=1``) neither torch
    nor scikit-learn is imported; the scores equal those of
    ``VAEDetector.load(path)`` to the last bit.

    Parameters
    ----------
    path : str or Path
        Model file.
    device : str, default="cpu"
        A resolved device ("cpu", "cuda", "cuda:1", ...).

    Raises
    ------
    ModelFileError
        As :func:`load_model`.
    """
    from .inference import Network, NumpyEngine, scores_in_numpy
    from .scorer import Scorer

    meta, arrays = _read_verified(path)
    try:
        params, net, cal = meta["params"], meta["network"], meta["calibration"]
        kind, n_samples = params.get("score_type", "elbo"), int(params.get("n_samples", 1))
        if scores_in_numpy(kind, n_samples, device):
            state = {k[7:]: v for k, v in arrays.items() if k.startswith("module.")}
            engine = NumpyEngine(Network.from_state(state, net["n_numeric"], net["cat_sizes"], net["indicator_cols"],
                                                    net["min_log_var"], net["hidden"], net["latent_dim"],
                                                    net.get("student_df")), kind)
        else:
            from .scoring import engine_for

            engine = engine_for(_module(meta, arrays, device), kind, n_samples, int(meta["noise_seed"]))
        return Scorer(_preprocessor(meta, arrays), engine, arrays["feature_baseline"], float(cal["threshold"]),
                      arrays["calibration_scores"], meta.get("feature_names_in"), _window(meta), meta.get("window"))
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is corrupt: {exc}") from None


def _rebuild(cls, meta: dict, arrays: dict, device: str):
    # Files written before window_features and likelihood existed: stacked windows, Gaussian.
    det = cls(**{"window_features": "stack", "likelihood": "gaussian", **meta["params"]})
    det.preprocessor_ = _preprocessor(meta, arrays)
    net = meta["network"]
    det.module_ = _module(meta, arrays, device)
    det.hidden_sizes_ = list(net["hidden"])
    cal = meta["calibration"]
    det.threshold_ = float(cal["threshold"])
    det.offset_ = float(cal["offset"])
    det.calibration_scores_ = np.asarray(arrays["calibration_scores"], dtype=np.float64)
    det.feature_baseline_ = np.asarray(arrays["feature_baseline"], dtype=np.float64)
    det.n_features_in_ = int(meta["n_features_in"])
    if meta.get("feature_names_in") is not None:
        det.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    train = meta["training"]
    det.device_ = device
    det.n_iter_ = int(train["n_iter"])
    det.best_epoch_ = int(train["best_epoch"])
    det.n_train_rows_ = int(train["n_train_rows"])
    det.fit_time_ = float(train["fit_time_s"])
    det.loss_curve_ = list(train["loss_curve"])
    det.validation_loss_curve_ = list(train["validation_loss_curve"])
    det.noise_seed_ = int(meta["noise_seed"])
    det.window_config_ = meta.get("window")
    det.window_spec_ = _window(meta)
    return det


def _torch_version() -> str:
    import torch

    return torch.__version__
