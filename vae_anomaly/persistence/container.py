"""The model file's container, read and verified without building anything from it.

A model file is a zip archive of ``metadata.json`` and ``tensors.safetensors``
whose comment holds a SHA-256 checksum of every byte before it
(:mod:`vae_anomaly.persistence.modelfile` writes it and builds the model from
it). This module checks the checksum, the members, the format version and the
metadata's layout, and returns the metadata and the named arrays. It imports
no stage of the pipeline, so ``vae-detect info`` (:func:`read_metadata`)
loads neither pandas nor the scoring code.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pyarrow.fs as pa_fs
from safetensors.numpy import load as st_load

from ..calibration.views import ViewChoice
from ..exceptions import ModelFileError
from ..tables.location import Uri, as_location, split_location

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "read_verified", "read_metadata"]

FORMAT_NAME = "vae-anomaly-model"
FORMAT_VERSION = 6
# Older files load and score as they did. 2: ``network.student_df`` (version 1: all Gaussian).
# 3: ``calibration.threshold_method``, ``threshold_rule``, ``tail``, ``warning`` and the ``drift.*`` column
# bins (older: conformal, no bins). 4: ``warmup_scores`` of windowed models (older: none).
# 5: ``network.covariance_type`` (older: "diag"). 6: ``missing_rate``, ``missing_weight`` and
# ``missing_offset``, the columns' probabilities of being missing, what a missing cell weighs and the
# evidence training rows carry routinely (older: missing cells add no evidence);
# ``ignored_columns``, the input columns left out as identifiers (name -> reason), and the
# ``include_columns`` parameter (older: none left out). Added within version 6, since older readers ignore
# them: ``training.n_labelled_anomalies`` and ``training.n_trimmed``, the known anomalies of fit's ``y`` and
# the model rows they left out (older: 0, fitted without labels); ``training.score_view``, the evidence of
# the score view the labels chose (older: none; the view itself is the network's ``covariance_type``, so
# older readers score such a file as this one does).
_META = "metadata.json"
_TENSORS = "tensors.safetensors"
_SUM_PREFIX = b"vae-anomaly sha256:"
_SUM_LEN = len(_SUM_PREFIX) + 64


def _read_bytes(path: Uri) -> bytes:
    """The bytes of a model file on a store."""
    filesystem, where = split_location(path)
    try:
        kind = filesystem.get_file_info(where).type
        if kind == pa_fs.FileType.Directory:
            raise ModelFileError(f"{path} is a directory, not a model file")
        if kind == pa_fs.FileType.NotFound:
            raise ModelFileError(f"model file {path} does not exist")
        with filesystem.open_input_stream(where) as stream:
            return stream.read()
    except OSError as exc:
        detail = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise ModelFileError(f"cannot read model file {path}: {detail}") from None


def read_verified(path) -> tuple[dict, dict]:
    """The metadata and the named arrays of a model file, once its checksum, members and layout check out."""
    path = as_location(path)
    try:
        data = path.read_bytes() if isinstance(path, Path) else _read_bytes(path)
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
    ignored = meta.get("ignored_columns", {})
    if not (isinstance(ignored, dict) and all(isinstance(v, str) for v in ignored.values())):
        raise ModelFileError(f"{path} is corrupt: its metadata has an invalid 'ignored_columns' section")
    for key in ("n_labelled_anomalies", "n_trimmed"):
        count = meta["training"].get(key, 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ModelFileError(f"{path} is corrupt: its training summary has an invalid {key!r} "
                                 f"({count!r})")
    view = meta["training"].get("score_view")
    if view is not None:
        try:
            chosen = ViewChoice.from_dict(view).view if isinstance(view, dict) else None
        except ValueError:
            chosen = None
        if chosen is None or chosen != meta["network"].get("covariance_type", "diag"):
            raise ModelFileError(f"{path} is corrupt: its training summary has an invalid 'score_view' "
                                 f"({view!r}) for its network")


def read_metadata(path) -> dict:
    """Return the verified JSON metadata of a model file without building the model.

    Raises
    ------
    ModelFileError
        As :func:`vae_anomaly.persistence.modelfile.read_model`.
    """
    return read_verified(path)[0]
