"""``vae-detect fit``: read a table file, choose its columns, fit a detector and save it.

The table is read whole (fitting needs every row at once); the model file
is written atomically.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np

from ..exceptions import CalibrationWarning, InvalidInputError
from ..features.columns import choose_columns
from ..features.identifiers import WARNING_START
from ..features.labels import binary_labels
from ..features.row_keys import HASH_KEY
from ..features.series import requested_window
from ..options import MAX_CATEGORIES
from ..tables.read import TableReader
from ..tables.temporary import removed_note
from ..tables.write import check_output_path, remove_leftovers
from .threads import torch_threads
from .verdicts import key_not_a_feature, merged_labels, read_verdicts, verdict_rows

__all__ = ["check_device", "fit_file", "ONE_THREAD_ROWS"]

#: Tables up to this many rows are fitted on the CPU with one torch thread. Their minibatches
#: (at most 2,048 rows through layers at most 128 wide) are too small for threads to pay off,
#: and on a shared machine a second thread that waits for a busy core made the bundled
#: sample's fit three times slower (docs/benchmarks.md, fit time). Results do not depend on it.
ONE_THREAD_ROWS = 100_000


def check_device(device: str) -> str:
    """``device`` resolved (``"auto"`` becomes ``"cuda"`` or ``"cpu"``); ``"cpu"`` needs no torch import.

    Raises
    ------
    InvalidInputError
        If it is not a torch device, or asks for CUDA where there is none.
    """
    if device == "cpu":
        return device
    from ..model.tensors import resolve_device

    return resolve_device(device)


def fit_file(data: str | os.PathLike, model: str | os.PathLike, *, columns: Sequence[str] = (),
             exclude: Sequence[str] = (), include: Sequence[str] = (), params: dict | None = None,
             label_column: str | None = None, labels: str | os.PathLike | None = None,
             key: str | None = None) -> dict:
    """Fit a detector on a table file and save it to ``model``.

    Parameters
    ----------
    data : str or PathLike
        Training table (see :class:`~vae_anomaly.tables.read.TableReader`).
    model : str or PathLike
        Model file to write (atomically): a local path or a URI.
    columns, exclude, include : sequence of str
        See :func:`choose_columns`: columns that look like identifiers are
        left out unless named in ``include`` (or ``columns``).
    params : dict, optional
        Keyword arguments of :class:`~vae_anomaly.VAEDetector`.
    label_column : str, optional
        Column of known anomalies: 1 (or true, yes, anomaly) for a known
        anomaly, 0 (false, no, normal) or empty for every other row (see
        :func:`~vae_anomaly.features.labels.binary_labels`). It is not a
        feature; the rows it marks are left out of training and of the
        held-out rows (see ``VAEDetector.fit``).
    labels : str or PathLike, optional
        A verdicts file (key, ``label``; see :mod:`vae_anomaly.jobs.verdicts`):
        the rows whose key has the verdict 1 are known anomalies, as those of
        ``label_column`` are (the two may be given together); a verdict 0
        keeps its rows as ordinary training rows. The key column is not a
        feature.
    key : str, optional
        The verdicts' key column (with ``labels``): a column of the data, or
        ``"row_key"`` for the hash of the model's columns. Default: as
        :mod:`vae_anomaly.jobs.verdicts` finds it.

    Returns
    -------
    dict
        Rows, columns used (modelled; a window's time and group columns are
        listed under ``window``), ignored (with reasons, identifiers
        included) and excluded,
        epochs, best epoch, fit time, threshold and its calibration
        (``method``, ``rate``, ``n_calibration``, ``threshold_method``,
        ``threshold_rule``, ``tail``: the fitted tail and its quality or
        None, ``warning``: why the held-out rows cannot support the rate, or
        None), device, ``covariance_type`` (the one the model scores with)
        and ``covariance_note`` (why ``"full"`` was asked for and not used, or None),
        ``type_changes`` (the columns whose type changes within the table,
        between a directory's files or a CSV file's blocks: ``column``,
        ``first``, ``other``, ``where`` it changed and ``read_as``) and
        ``labels`` (``column``, ``anomalies``: rows marked as known anomalies,
        ``trimmed``: model rows they left out of training and calibration,
        rows or windows; None without ``label_column`` and ``labels``),
        ``verdicts`` (:meth:`~vae_anomaly.jobs.verdicts.Verdicts.to_dict`:
        the file, its key, the verdicts and the rows they matched; None
        without ``labels``; also recorded in the model file) and
        ``notes`` (what the reader noticed, one line each: see
        :meth:`~vae_anomaly.tables.read.TableReader.notes`; and the
        temporaries a killed run left for ``model``, removed first).

    Raises
    ------
    InvalidInputError
        If the table cannot be read or has no rows (a model needs at least
        2), or a column choice or parameter is unusable, or the label column
        is missing or holds another value (the error names the column, the
        value and its row, counted from 0), or the verdicts file is unusable
        (see :func:`~vae_anomaly.jobs.verdicts.read_verdicts`), names keys
        that are not in the data, or calls normal a row the label column
        marks as an anomaly.
    """
    params = dict(params or {})
    check_output_path(model)
    removed = remove_leftovers(model)
    device = check_device(params.get("device", "auto"))
    reader = TableReader(data)
    opened = reader.notes()
    if key is not None and labels is None:
        raise InvalidInputError("--key names the key of a verdicts file: give the file with --labels")
    # A verdicts file is checked before the table is read whole: its mistakes are found at once.
    verdict_file = None if labels is None else read_verdicts(labels, key, reader.column_names)
    frame = reader.read()
    notes = list(dict.fromkeys([*opened, *reader.notes()]))  # CSV type changes are known only now
    keys = [params.get(k) for k in ("time_column", "group_column") if params.get(k) is not None]
    known = None
    if label_column is not None:
        reader.require_columns([label_column], what="label column")
        if label_column in {*columns, *include, *keys}:
            raise InvalidInputError(f"column {label_column!r} is the label column; it cannot also be a "
                                    "feature (--columns, --include) or the time or group column")
        known = binary_labels(frame[label_column], label_column, missing_ok=True, first_row=0)
        exclude = [*exclude, label_column]
    key_column = None if verdict_file is None or verdict_file.key == HASH_KEY else verdict_file.key
    if key_column is not None:
        key_not_a_feature(reader, key_column, label_column, [*columns, *include, *keys])
    window = requested_window(params.get("window"), params.get("time_column"), params.get("group_column"),
                              params.get("window_features", "summary"))
    choice = choose_columns(frame, columns, exclude, params.get("max_categories", MAX_CATEGORIES),
                            always=keys, include=include, window=window)
    # The model is given the columns it models; the identifiers it would leave out by the same rule are
    # recorded with it below, so that the file names them (info) and scoring never needs them.
    # The verdicts' key is never a feature: left out as an identifier, or else excluded here.
    used = [c for c in choice.used if c != key_column]
    excluded = [c for c in choice.excluded if c != label_column] + (
        [key_column] if key_column in set(choice.used) else [])
    given = [c for c in frame.columns if c in set(used)]
    verdicts = None if verdict_file is None else verdict_rows(reader, frame, verdict_file, given)
    if verdicts is not None:
        known = merged_labels(known, verdicts, label_column)
    from ..detector import VAEDetector
    from ..model.residuals import applies, residual_note
    from ..persistence.modelfile import write_model
    from ..persistence.state import state_of

    one_thread = device == "cpu" and len(frame) <= ONE_THREAD_ROWS
    with warnings.catch_warnings(), (torch_threads(1) if one_thread else nullcontext()):
        warnings.simplefilter("ignore", CalibrationWarning)  # the summary carries it (calibration.warning)
        # The summary says which covariance the model scores with (covariance_type).
        warnings.filterwarnings("ignore", message="covariance_type='full' was not used")
        warnings.filterwarnings("ignore", message=WARNING_START)  # the summary lists them (columns_ignored)
        # What the user kept on purpose, as they said it: a refit of the saved model decides the same way.
        kept = [c for c in (columns or include) if c in set(given)]
        det = VAEDetector(**{**params, "include_columns": kept or None}).fit(
            frame[given], None if known is None else known.astype(np.int64))
    # The file also names the identifiers this job left out before the model saw the table.
    state = state_of(det)
    state = dataclasses.replace(state, ignored_columns={**choice.identifiers, **state.ignored_columns})
    if verdicts is not None:  # what the file says of the labels it was fitted with (info shows it)
        state = dataclasses.replace(state, training={**state.training, "verdicts": verdicts.to_dict()})
    write_model(state, model)
    return {
        "data": str(data),
        "model": str(model),
        "rows": int(len(frame)),
        "columns_used": [c for c in used if c not in keys],  # modelled: not the time and group columns
        "columns_ignored": choice.ignored,
        "columns_excluded": excluded,
        "epochs": int(det.n_iter_),
        "best_epoch": int(det.best_epoch_),
        "fit_time_s": round(float(det.fit_time_), 3),
        "threshold": float(det.threshold_),
        "calibration": {
            "method": "target_fpr" if det.contamination == "auto" else "contamination",
            "rate": float(det.target_fpr if det.contamination == "auto" else det.contamination),
            "n_calibration": int(det.calibration_scores_.size),
            "threshold_method": det.threshold_method,
            "threshold_rule": det.threshold_rule_,
            "tail": None if det.tail_ is None else det.tail_.to_dict(),
            "warning": det.calibration_warning_,
        },
        "device": str(det.device_),
        "window": getattr(det, "window_config_", None),
        "covariance_type": "full" if det.module_.full_covariance else "diag",
        "covariance_note": (residual_note(det.module_.n_numeric) if not det.module_.full_covariance
                            and applies(det.covariance_type, det.likelihood, det.score_type_,
                                        det.module_.n_numeric) else None),
        "type_changes": [{"column": c.column, "first": str(c.first), "other": str(c.other), "where": c.where,
                          "read_as": str(c.read_as)} for c in reader.type_changes],
        "labels": None if known is None else {"column": label_column,
                                               "anomalies": int(det.n_labelled_anomalies_),
                                               "trimmed": int(det.n_trimmed_),
                                               "label_weight": float(det.label_weight),
                                               "score_view": (None if det.score_view_evidence_ is None
                                                              else det.score_view_evidence_.to_dict())},
        "verdicts": None if verdicts is None else verdicts.to_dict(),
        "notes": notes + removed_note(removed),
    }
