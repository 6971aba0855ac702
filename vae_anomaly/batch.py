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
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from . import windows
from .exceptions import InvalidInputError, SchemaMismatchError
from .io import DEFAULT_BATCH_ROWS, AtomicTableWriter, StreamTableWriter, TableReader, check_output_path
from .preprocessing import NUMERIC, infer_schema
from .scorer import ScoreDetails, Scorer
from .windows import WindowSpec

if TYPE_CHECKING:
    from .detector import VAEDetector

__all__ = ["OUTPUT_COLUMNS", "ColumnChoice", "choose_columns", "fit_file", "load_scorer",
           "model_columns", "default_output_path", "open_output", "carry_context", "ordered_with_context", "scored_batches",
           "output_batch", "score_table", "describe_model"]

#: Columns appended to every scored table, in this order.
OUTPUT_COLUMNS = ("anomaly_score", "is_anomaly", "p_value", "top_feature")

RowCallback = Callable[[int], object]


# ------------------------------------------------------------------------------------------
# column choice and fitting
# ------------------------------------------------------------------------------------------
@dataclass
class ColumnChoice:
    """Which columns of a table a model is fitted on, and why the others are not.

    Attributes
    ----------
    used : list of str
        Columns given to the model, in table order.
    ignored : dict of str to str
        Columns left out automatically, each with the reason.
    excluded : list of str
        Columns the user left out.
    """

    used: list = field(default_factory=list)
    ignored: dict = field(default_factory=dict)
    excluded: list = field(default_factory=list)


def _check_names(frame: pd.DataFrame, names: Iterable[str]) -> None:
    have = [str(c) for c in frame.columns]
    for name in names:
        if name not in have:
            shown = ", ".join(have[:12]) + (", ..." if len(have) > 12 else "")
            raise InvalidInputError(f"column {name!r} is not in the data (it has: {shown})")


def ignore_reason(col: pd.Series, max_categories: int = 50) -> str | None:
    """Why a column cannot be modelled as it is, or ``None`` if it can.

    Parameters
    ----------
    col : Series
        One column of the training table.
    max_categories : int, default=50
        Text columns with more distinct values than this are left out.

    Returns
    -------
    str or None
        A short reason such as ``"all values are missing"``.
    """
    dtype = col.dtype
    if len(col) and col.isna().all():
        return "all values are missing"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return f"dates or times ({dtype}) are not modelled"
    if pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        values = col.dropna()
        if all(isinstance(v, str) for v in values.head(1000)):
            n_levels = values.nunique()
            if n_levels > max_categories:
                hint = "a distinct value in every row, an id?" if n_levels == len(values) else "an id?"
                return f"text with {n_levels} distinct values, more than max_categories={max_categories} ({hint})"
    try:
        infer_schema(col.to_frame(), max_categories)
    except InvalidInputError as exc:
        return str(exc)
    return None


def choose_columns(frame: pd.DataFrame, columns: Sequence[str] = (), exclude: Sequence[str] = (),
                   max_categories: int = 50, always: Sequence[str] = ()) -> ColumnChoice:
    """Pick the columns to fit on.

    Parameters
    ----------
    frame : DataFrame
        The training table.
    columns : sequence of str, optional
        Use exactly these columns (checked by the model, not auto-ignored).
        By default every column the model can use.
    exclude : sequence of str, optional
        Leave these columns out (a label, a timestamp, ...).
    max_categories : int, default=50
        Text columns with more distinct values are left out automatically.
    always : sequence of str, optional
        Columns kept whatever they hold, such as a window's time and group
        columns.

    Returns
    -------
    ColumnChoice

    Raises
    ------
    InvalidInputError
        If a named column is not in ``frame`` or no column is left.
    """
    _check_names(frame, list(columns) + list(exclude) + list(always))
    excluded = [str(c) for c in frame.columns if str(c) in set(exclude)]
    choice = ColumnChoice(excluded=excluded)
    wanted, always = set(columns), set(always)
    for name in frame.columns:
        name = str(name)
        if name in excluded or (wanted and name not in wanted | always):
            continue
        reason = None if wanted or name in always else ignore_reason(frame[name], max_categories)
        if reason is None:
            choice.used.append(name)
        else:
            choice.ignored[name] = reason
    if not choice.used:
        raise InvalidInputError("no column is left to model; check --columns/--exclude and the ignored columns")
    return choice


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
        Rows, columns used, ignored (with reasons) and excluded, epochs, best
        epoch, fit time, threshold and its calibration, device.
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
        "columns_used": choice.used,
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


def load_scorer(model: str | os.PathLike, device: str = "cpu") -> Scorer:
    """Load a model file for scoring; errors are :class:`~vae_anomaly.VAEAnomalyError`.

    On CPU this imports neither torch nor scikit-learn (see
    :func:`vae_anomaly.persistence.load_scorer`).
    """
    from .persistence import load_scorer as _load

    return _load(model, device=_check_device(device))


# ------------------------------------------------------------------------------------------
# streaming scorer
# ------------------------------------------------------------------------------------------
def model_columns(det: Scorer | VAEDetector) -> list[str]:
    """Columns a fitted detector reads, in fit order."""
    if not hasattr(det, "feature_names_in_"):
        raise InvalidInputError("the model was fitted without column names, so it cannot score a table")
    return [str(c) for c in det.feature_names_in_]


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


# A step longer than this many fitted median steps is reported as a time gap.
GAP_TOLERANCE = 3.0


def _window_spec(det: Scorer | VAEDetector) -> WindowSpec | None:
    return getattr(det, "window_spec_", None)


def ordered_with_context(context: pd.DataFrame | None, frame: pd.DataFrame,
                         spec: WindowSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """``context`` rows then ``frame`` rows in window order, and which of them came from ``context``."""
    n_ctx = 0 if context is None else len(context)
    full = frame if not n_ctx else pd.concat([context, frame], ignore_index=True)
    order = windows.order_rows(full, spec)
    return full.iloc[order].reset_index(drop=True), order < n_ctx


def carry_context(ordered: pd.DataFrame, from_context: np.ndarray, spec: WindowSpec) -> pd.DataFrame | None:
    """The last ``size - 1`` rows of each series, from :func:`ordered_with_context`.

    Passed as ``context`` with the next record batch, these rows fill the
    windows of its first rows exactly as scoring the whole table would.

    Raises
    ------
    InvalidInputError
        If a series goes back in time from one batch to the next, which
        would make streamed results differ from whole-table results.
    """
    keep = spec.size - 1
    if keep <= 0:
        return None
    if from_context.any():
        _check_batches_in_order(ordered, from_context, spec)
    if spec.group_column is None:
        return ordered.tail(keep).reset_index(drop=True)
    return ordered.groupby(spec.group_column, sort=False, dropna=False).tail(keep).reset_index(drop=True)


def _check_batches_in_order(ordered: pd.DataFrame, from_context: np.ndarray, spec: WindowSpec) -> None:
    """In window order, every carried row of a series must precede the batch's rows."""
    groups = ordered[spec.group_column].to_numpy() if spec.group_column else np.zeros(len(ordered))
    pos = pd.Series(np.arange(len(ordered)))
    last_carried = pos[from_context].groupby(groups[from_context]).max()
    first_new = pos[~from_context].groupby(groups[~from_context]).min()
    late = (last_carried > first_new.reindex(last_carried.index)).to_numpy()
    if late.any():
        where = f" of series {last_carried.index[np.argmax(late)]!r}" if spec.group_column else ""
        raise InvalidInputError(
            f"rows{where} are not in {spec.time_column or 'time'} order from one record batch to the next; "
            "sort the input, or raise --batch-size above its row count"
        )


def new_gaps(det: Scorer | VAEDetector, ordered: pd.DataFrame, from_context: np.ndarray,
             tolerance: float = GAP_TOLERANCE) -> pd.DataFrame | None:
    """Time gaps over ``tolerance`` times the fitted time step that end at a row not from context.

    ``ordered`` and ``from_context`` come from :func:`ordered_with_context`:
    with the carried rows in front, a gap at a batch boundary is seen once,
    in the batch that holds the row after it. None for models without
    windows or without a time column.
    """
    spec = _window_spec(det)
    step = (getattr(det, "window_config_", None) or {}).get("median_step_s")
    if spec is None or spec.time_column is None or not step:
        return None
    gaps = windows.find_gaps(ordered, spec, windows.group_starts(ordered, spec), step, tolerance)
    return gaps[~from_context[gaps["row"].to_numpy(dtype=np.int64)]].reset_index(drop=True)


def _frames(det: Scorer | VAEDetector, batches: Iterable[pa.RecordBatch], names: list[str], gaps: list | None = None):
    """Yield ``(batch, frame, context)`` for each non-empty batch, carrying window context.

    Time gaps found in each batch are appended to ``gaps`` when it is given.
    """
    spec = _window_spec(det)
    context = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        frame = batch.select(names).to_pandas(split_blocks=True)
        if spec is not None:
            ordered, from_context = ordered_with_context(context, frame, spec)
            found = new_gaps(det, ordered, from_context) if gaps is not None else None
            if found is not None and len(found):
                gaps.append(found)
        yield batch, frame, context
        if spec is not None:
            context = carry_context(ordered, from_context, spec)


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count.

    Does nothing when torch is not loaded: the NumPy engine scores without it.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run the block with the BLAS library (NumPy's matrix products) on one thread.

    Batches are the unit of parallel work here. Left to itself, OpenBLAS
    adds its own threads to each worker's small products, and with two
    workers on two cores they spin against each other: scoring 5M rows took
    40-55 s of CPU instead of 5.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _in_order(fn: Callable, items: Iterable[tuple], n_jobs: int) -> Iterator:
    """Yield ``fn(*item)`` for each item, in order, with up to ``n_jobs`` calls running at once.

    With ``n_jobs > 1`` each call runs in a worker thread with one torch
    thread (restored afterwards), and at most ``n_jobs + 1`` results wait.
    NumPy's BLAS runs on one thread throughout (restored afterwards).
    """
    if n_jobs <= 1:
        with _one_blas_thread():
            for item in items:
                yield fn(*item)
        return
    pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="vae-score")
    pending: deque = deque()
    try:
        with _torch_threads(1), _one_blas_thread():
            for item in items:
                pending.append(pool.submit(fn, *item))
                if len(pending) > n_jobs:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _details(det: Scorer | VAEDetector, frame: pd.DataFrame, context: pd.DataFrame | None) -> ScoreDetails:
    return det.score_details(frame, context=context) if _window_spec(det) is not None else det.score_details(frame)


def scored_batches(det: Scorer | VAEDetector, batches: Iterable[pa.RecordBatch], names: Sequence[str] | None = None,
                   n_jobs: int = 1) -> Iterator[tuple[pa.RecordBatch, ScoreDetails]]:
    """Yield each non-empty input batch with its :class:`ScoreDetails`, in input order.

    For windowed models the tail of each series is carried to the next
    batch as context, so results equal those of scoring all rows at once.

    Parameters
    ----------
    det : Scorer or VAEDetector
        Fitted model.
    batches : iterable of pyarrow.RecordBatch
        Input rows holding the model's columns.
    names : sequence of str, optional
        The model's columns (:func:`model_columns`).
    n_jobs : int, default=1
        Batches scored at the same time, each in its own thread with one
        torch thread (torch's thread count is restored afterwards). Results
        do not depend on it; memory grows with it.
    """
    names = model_columns(det) if names is None else list(names)

    def score(batch: pa.RecordBatch, frame: pd.DataFrame, context: pd.DataFrame | None):
        return batch, _details(det, frame, context)

    yield from _in_order(score, _frames(det, batches, names), n_jobs)


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
    have = set(reader.column_names)
    for name in names:
        if name not in have:
            raise SchemaMismatchError(f"column {name!r} is missing (it was present at fit time)")


def score_table(det: Scorer | VAEDetector, reader: TableReader, writer: AtomicTableWriter | StreamTableWriter, *,
                columns_out: Sequence[str] | None = None, batch_size: int = DEFAULT_BATCH_ROWS,
                n_jobs: int = 1, on_rows: RowCallback | None = None) -> dict:
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

    Returns
    -------
    dict
        ``rows``, ``anomalies``, ``seconds``, ``rows_per_s``, ``output``, and
        for windowed models with a time column ``time_gaps`` (steps longer
        than ``GAP_TOLERANCE`` times the fitted time step; windows run
        across them as if the series were continuous) with up to three
        ``time_gap_examples``.
    """
    start = time.perf_counter()
    names = model_columns(det)
    require_model_columns(reader, names)
    keep = _columns_to_keep(reader, columns_out)
    wanted = set(keep) | set(names)
    batches = reader.iter_batches(batch_size, [c for c in reader.column_names if c in wanted],
                                  csv_types=csv_types(det))
    window_fill = _window_spec(det) is not None

    def score(batch: pa.RecordBatch, frame: pd.DataFrame, context: pd.DataFrame | None):
        # The output batch is built in the worker too: the main thread only reads and writes.
        details = _details(det, frame, context)
        return output_batch(batch, details, keep, window_fill), int(np.count_nonzero(details.is_anomaly))

    rows = anomalies = 0
    gaps: list[pd.DataFrame] = []
    with writer:
        for out, n_flagged in _in_order(score, _frames(det, batches, names, gaps), n_jobs):
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
    return {"rows": rows, "anomalies": anomalies, "seconds": round(seconds, 3),
            "rows_per_s": round(rows / seconds, 1) if seconds > 0 else None,
            "output": "-" if target is None else str(target),
            "time_gaps": 0 if found is None else len(found),
            "time_gap_tolerance": GAP_TOLERANCE,
            "time_gap_examples": [] if found is None else [
                f"{g.group} {g.before} -> {g.after} ({g.seconds:g} s)" if g.group is not None
                else f"{g.before} -> {g.after} ({g.seconds:g} s)"
                for g in found.head(3).itertuples()]}


# ------------------------------------------------------------------------------------------
# model description
# ------------------------------------------------------------------------------------------
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
        "columns": meta.get("preprocessing", {}).get("schema", []),
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
