"""Batch jobs on table files: choose columns and fit, score in a stream, evaluate.

These are the steps behind the ``vae-detect`` commands, as plain functions
that take paths or opened tables and return plain dicts, so a scheduled job
can call them without the command line:

>>> from vae_anomaly import batch
>>> from vae_anomaly.io import TableReader
>>> batch.fit_file("history.parquet", "model.vae", exclude=["label"])  # doctest: +SKIP
>>> det = batch.load_scorer("model.vae")                               # doctest: +SKIP
>>> batch.score_table(det, TableReader("today.parquet"),
...                   batch.open_output("today.parquet"))               # doctest: +SKIP

The pieces live in their own modules: column choice in
:mod:`vae_anomaly.columns`, batch-by-batch scoring (thread pool, window
context, time gaps) in :mod:`vae_anomaly.streaming`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from .columns import ColumnChoice, choose_columns
from .exceptions import InvalidInputError
from .io import DEFAULT_BATCH_ROWS, AtomicTableWriter, StreamTableWriter, TableReader, check_output_path
from .schema import NUMERIC, require_columns
from .scorer import ScoreDetails, Scorer
from .streaming import (
    GAP_TOLERANCE,
    carry_context,
    frames,
    in_order,
    model_columns,
    ordered_with_context,
    scored_batches,
)

if TYPE_CHECKING:
    from .detector import VAEDetector

# ColumnChoice, choose_columns (from .columns) and model_columns, carry_context,
# ordered_with_context, scored_batches (from .streaming) are re-exported: jobs call them from here.
__all__ = ["OUTPUT_COLUMNS", "ColumnChoice", "choose_columns", "fit_file", "load_detector", "load_scorer",
           "model_columns", "default_output_path", "open_output", "carry_context", "ordered_with_context",
           "scored_batches", "output_batch", "score_table", "describe_model"]

#: Columns appended to every scored table, in this order.
OUTPUT_COLUMNS = ("anomaly_score", "is_anomaly", "p_value", "top_feature")

RowCallback = Callable[[int], object]


# ------------------------------------------------------------------------------------------
# fitting
# ------------------------------------------------------------------------------------------
def _check_device(device: str) -> str:
    """``device`` resolved ("auto" becomes "cuda" or "cpu"); "cpu" needs no torch import."""
    if device == "cpu":
        return device
    from .detector import _resolve_device

    try:
        return _resolve_device(device)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


def fit_file(data: str | os.PathLike, model: str | os.PathLike, *, columns: Sequence[str] = (),
             exclude: Sequence[str] = (), params: dict | None = None) -> dict:
    """Fit a detector on a table file and save it to ``model``.

    Parameters
    ----------
    data : str or PathLike
        Training table (see :class:`~vae_anomaly.io.TableReader`).
    model : str or PathLike
        Model file to write (atomically).
    columns, exclude : sequence of str
        See :func:`choose_columns`.
    params : dict, optional
        Keyword arguments of :class:`~vae_anomaly.VAEDetector`.

    Returns
    -------
    dict
        Rows, columns used (modelled; a window's time and group columns are
        listed under ``window``), ignored (with reasons) and excluded,
        epochs, best epoch, fit time, threshold and its calibration, device.
    """
    params = dict(params or {})
    check_output_path(model)
    _check_device(params.get("device", "auto"))
    frame = TableReader(data).read()
    keys = [params.get(k) for k in ("time_column", "group_column") if params.get(k) is not None]
    choice = choose_columns(frame, columns, exclude, params.get("max_categories", 50), always=keys)
    from .detector import VAEDetector

    det = VAEDetector(**params).fit(frame[choice.used])
    det.save(model)
    return {
        "data": str(data),
        "model": str(model),
        "rows": int(len(frame)),
        "columns_used": [c for c in choice.used if c not in keys],  # modelled: not the time and group columns
        "columns_ignored": choice.ignored,
        "columns_excluded": choice.excluded,
        "epochs": int(det.n_iter_),
        "best_epoch": int(det.best_epoch_),
        "fit_time_s": round(float(det.fit_time_), 3),
        "threshold": float(det.threshold_),
        "calibration": {
            "method": "target_fpr" if det.contamination == "auto" else "contamination",
            "rate": float(det.target_fpr if det.contamination == "auto" else det.contamination),
            "n_calibration": int(det.calibration_scores_.size),
        },
        "device": str(det.device_),
        "window": getattr(det, "window_config_", None),
    }


def load_detector(model: str | os.PathLike, device: str = "cpu") -> VAEDetector:
    """Load a model file as a :class:`~vae_anomaly.VAEDetector` (imports torch and scikit-learn).

    For scoring only, :func:`load_scorer` gives the same scores and starts
    faster. Errors are :class:`~vae_anomaly.VAEAnomalyError`.
    """
    from .detector import VAEDetector

    return VAEDetector.load(model, device=_check_device(device))


def load_scorer(model: str | os.PathLike, device: str = "cpu") -> Scorer:
    """Load a model file for scoring; errors are :class:`~vae_anomaly.VAEAnomalyError`.

    On CPU this imports neither torch nor scikit-learn (see
    :func:`vae_anomaly.persistence.load_scorer`).
    """
    from .persistence import load_scorer as _load

    return _load(model, device=_check_device(device))


# ------------------------------------------------------------------------------------------
# scoring a table
# ------------------------------------------------------------------------------------------
def csv_types(det: Scorer | VAEDetector) -> dict[str, pa.DataType]:
    """Arrow types for the model's columns in CSV input, from the dtypes seen at fit time."""
    types = {}
    for spec in det.preprocessor_.schema_:
        if spec.kind == NUMERIC and spec.dtype.startswith(("float", "Float")):
            types[spec.name] = pa.float64()
        elif spec.kind != NUMERIC and spec.dtype not in ("bool", "boolean"):
            types[spec.name] = pa.string()
    return types


def default_output_path(data: str | os.PathLike) -> Path:
    """``data.parquet`` -> ``data.scores.parquet``; a directory ``d`` -> ``d.scores.parquet``."""
    data = Path(data)
    if data.is_dir():
        return data.with_name(data.name + ".scores.parquet")
    return data.with_suffix(".scores.parquet")


def open_output(data: str | os.PathLike, output: str | os.PathLike | None = None,
                stream: BinaryIO | None = None) -> AtomicTableWriter | StreamTableWriter:
    """The writer for scores of ``data``: CSV to ``stream`` if given, else an atomic file.

    Raises
    ------
    InvalidInputError
        If the output would replace the input, or its directory is missing or
        not writable.
    """
    if stream is not None:
        return StreamTableWriter(stream)
    path = Path(output) if output is not None else default_output_path(data)
    if path.exists() and Path(data).exists() and path.resolve() == Path(data).resolve():
        raise InvalidInputError(f"output {path} is the input file; choose another output path")
    return AtomicTableWriter(path)


def output_batch(batch: pa.RecordBatch, details: ScoreDetails, keep: Sequence[str],
                 window_fill: bool = False) -> pa.RecordBatch:
    """``keep`` columns of ``batch`` (unconverted) followed by :data:`OUTPUT_COLUMNS`.

    ``top_feature`` is a dictionary-encoded string column; ``window_fill``
    is added last when asked (windowed models).
    """
    top = np.argmax(details.contributions, axis=1).astype(np.int32)
    arrays = [batch.column(k) for k in keep] + [
        pa.array(details.anomaly_score, type=pa.float64()),
        pa.array(details.is_anomaly, type=pa.bool_()),
        pa.array(details.p_value, type=pa.float64()),
        pa.DictionaryArray.from_arrays(top, pa.array(details.feature_names, type=pa.string())),
    ]
    names = list(keep) + list(OUTPUT_COLUMNS)
    if window_fill:
        arrays.append(pa.array(details.window_fill, type=pa.float64()))
        names.append("window_fill")
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _columns_to_keep(reader: TableReader, columns_out: Sequence[str] | None) -> list[str]:
    keep = reader.column_names if columns_out is None else list(columns_out)
    reader.require_columns(keep)
    clash = [c for c in keep if c in OUTPUT_COLUMNS + ("window_fill",)]
    if clash:
        raise InvalidInputError(
            f"the input already has a column {clash[0]!r}, which scoring adds; "
            "leave it out with --columns-out or rename it"
        )
    return keep


def require_model_columns(reader: TableReader, names: Sequence[str]) -> None:
    """Raise :class:`SchemaMismatchError` naming the first model column the table lacks."""
    require_columns(reader.column_names, names)


def score_table(det: Scorer | VAEDetector, reader: TableReader, writer: AtomicTableWriter | StreamTableWriter, *,
                columns_out: Sequence[str] | None = None, batch_size: int = DEFAULT_BATCH_ROWS,
                n_jobs: int = 1, on_rows: RowCallback | None = None,
                gap_tolerance: float = GAP_TOLERANCE) -> dict:
    """Stream ``reader`` through ``det`` into ``writer``, one record batch at a time.

    Memory is bounded by the batch size, and each row's results equal those
    of scoring the whole table at once. On any error the writer discards
    its output.

    Parameters
    ----------
    det : Scorer or VAEDetector
        Fitted model.
    reader : TableReader
        Input table; columns beyond the model's are copied through.
    writer : AtomicTableWriter or StreamTableWriter
        Not yet entered; see :func:`open_output`.
    columns_out : sequence of str, optional
        Input columns to copy to the output (default: all of them).
    batch_size : int
        Rows per record batch.
    n_jobs : int, default=1
        Batches scored in parallel (see :func:`scored_batches`).
    on_rows : callable, optional
        Called with the number of rows after each batch (for progress).
    gap_tolerance : float, default=GAP_TOLERANCE
        A step between consecutive rows of a series that is longer than this
        many fitted time steps is reported as a time gap. Must be finite
        and positive.

    Returns
    -------
    dict
        ``rows``, ``anomalies``, ``seconds``, ``rows_per_s``, ``output``, and
        for windowed models with a time column ``time_gaps`` (steps longer
        than ``time_gap_tolerance`` times the fitted time step; windows run
        across them as if the series were continuous) with up to three
        ``time_gap_examples``.
    """
    if not (np.isfinite(gap_tolerance) and gap_tolerance > 0):
        raise InvalidInputError(f"gap_tolerance must be a positive number of time steps, got {gap_tolerance!r}")
    start = time.perf_counter()
    names = model_columns(det)
    require_model_columns(reader, names)
    keep = _columns_to_keep(reader, columns_out)
    wanted = set(keep) | set(names)
    batches = reader.iter_batches(batch_size, [c for c in reader.column_names if c in wanted],
                                  csv_types=csv_types(det))
    window_fill = getattr(det, "window_spec_", None) is not None

    def score(batch: pa.RecordBatch, frame: pd.DataFrame, context: pd.DataFrame | None):
        # The output batch is built in the worker too: the main thread only reads and writes.
        details = det.score_details(frame, context=context)
        return output_batch(batch, details, keep, window_fill), int(np.count_nonzero(details.is_anomaly))

    rows = anomalies = 0
    gaps: list[pd.DataFrame] = []
    with writer:
        for out, n_flagged in in_order(score, frames(det, batches, names, gaps, gap_tolerance), n_jobs):
            writer.write(out)
            rows += out.num_rows
            anomalies += n_flagged
            if on_rows is not None:
                on_rows(out.num_rows)
        if rows == 0:
            raise InvalidInputError(f"{reader.path.name} has no rows")
    seconds = time.perf_counter() - start
    target = getattr(writer, "path", None)
    found = pd.concat(gaps, ignore_index=True) if gaps else None
    spec = getattr(det, "window_spec_", None)
    unit = " units" if spec is not None and spec.time_kind == "number" else " s"  # numbers: the column's own units
    return {"rows": rows, "anomalies": anomalies, "seconds": round(seconds, 3),
            "rows_per_s": round(rows / seconds, 1) if seconds > 0 else None,
            "output": "-" if target is None else str(target),
            "time_gaps": 0 if found is None else len(found),
            "time_gap_tolerance": gap_tolerance,
            "time_gap_examples": [] if found is None else [
                f"{'' if g.group is None else f'{g.group} '}{g.before} -> {g.after} ({g.seconds:g}{unit})"
                for g in found.head(3).itertuples()]}


# ------------------------------------------------------------------------------------------
# model description
# ------------------------------------------------------------------------------------------
def _input_columns(meta: dict) -> list[dict]:
    """The modelled input columns. A summary-window model's schema also lists the statistics
    it derives from each channel (``mean(x)``, ...); only the channels themselves are shown,
    each with the dtype it had in the training data (its statistics are float64)."""
    schema = meta.get("preprocessing", {}).get("schema", [])
    window = meta.get("window") or {}
    if window.get("features") != "summary":
        return schema
    channels = set(window.get("channels", []))
    dtypes = window.get("channel_dtypes")  # absent from files written before it was recorded
    dtypes = dtypes if isinstance(dtypes, dict) else {}
    return [{**c, "dtype": dtypes.get(c["name"], c.get("dtype"))} for c in schema if c.get("name") in channels]


def describe_model(model: str | os.PathLike) -> dict:
    """What a model file holds, from its verified metadata (the network is not built).

    Returns
    -------
    dict
        ``params``, ``columns`` (name, kind, dtype, categories), ``threshold``,
        ``calibration`` (method, rate, n_calibration, score_type),
        ``training`` (epochs, best epoch, final losses, fit time, device,
        training rows) and ``versions``.
    """
    from .persistence import read_metadata

    meta = read_metadata(model)
    train = meta.get("training", {})
    cal = meta.get("calibration", {})
    losses, val_losses = train.get("loss_curve") or [None], train.get("validation_loss_curve") or [None]
    return {
        "model": str(model),
        "format_version": meta.get("format_version"),
        "params": meta.get("params", {}),
        "columns": _input_columns(meta),
        "threshold": cal.get("threshold"),
        "calibration": {k: cal.get(k) for k in ("method", "rate", "n_calibration", "score_type")},
        "training": {
            "epochs": train.get("n_iter"),
            "best_epoch": train.get("best_epoch"),
            "final_loss": losses[-1],
            "final_validation_loss": val_losses[-1],
            "fit_time_s": train.get("fit_time_s"),
            "device": train.get("device"),
            "n_train_rows": train.get("n_train_rows"),
        },
        "window": meta.get("window"),
        "versions": meta.get("versions", {}),
    }
