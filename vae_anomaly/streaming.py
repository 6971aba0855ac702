"""Scoring a table as a stream of record batches, in order, with bounded memory.

Each record batch becomes a DataFrame of the model's columns; batches are
scored in worker threads and come back in input order. For windowed models
the last rows of each series are carried to the next batch as context, so
streamed results equal those of scoring all rows at once, and time gaps are
found once each, even across batch boundaries.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from . import windows
from .exceptions import InvalidInputError
from .inference import ONE_BLAS_THREAD
from .scorer import ScoreDetails, Scorer
from .windows import WindowSpec

if TYPE_CHECKING:
    from .detector import VAEDetector

__all__ = ["GAP_TOLERANCE", "model_columns", "ordered_with_context", "carry_context", "new_gaps", "frames",
           "in_order", "scored_batches"]


def model_columns(det: Scorer | VAEDetector) -> list[str]:
    """Columns a fitted detector reads, in fit order."""
    if not hasattr(det, "feature_names_in_"):
        raise InvalidInputError("the model was fitted without column names, so it cannot score a table")
    return [str(c) for c in det.feature_names_in_]


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


def frames(det: Scorer | VAEDetector, batches: Iterable[pa.RecordBatch], names: list[str], gaps: list | None = None,
           gap_tolerance: float = GAP_TOLERANCE):
    """Yield ``(batch, frame, context)`` for each non-empty batch, carrying window context.

    Time gaps (steps over ``gap_tolerance`` times the fitted time step) found
    in each batch are appended to ``gaps`` when it is given.
    """
    spec = _window_spec(det)
    context = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        frame = batch.select(names).to_pandas(split_blocks=True)
        if spec is not None:
            ordered, from_context = ordered_with_context(context, frame, spec)
            found = new_gaps(det, ordered, from_context, gap_tolerance) if gaps is not None else None
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


def in_order(fn: Callable, items: Iterable[tuple], n_jobs: int) -> Iterator:
    """Yield ``fn(*item)`` for each item, in order, with up to ``n_jobs`` calls running at once.

    With ``n_jobs > 1`` each call runs in a worker thread, and at most
    ``n_jobs + 1`` results wait. Meanwhile NumPy's BLAS, and torch when it
    is loaded (GPU or importance-weighted scoring), run on one thread each;
    both settings are restored afterwards. (The NumPy engine keeps BLAS on
    one thread while it scores in any case.)
    """
    if n_jobs <= 1:
        for item in items:
            yield fn(*item)
        return
    pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="vae-score")
    pending: deque = deque()
    try:
        # BLAS on one thread for the whole pool, not per call: OpenBLAS's own threads spun
        # against two workers on two cores (5M rows took 43 to 57 s instead of about 5).
        with _torch_threads(1), ONE_BLAS_THREAD:
            for item in items:
                pending.append(pool.submit(fn, *item))
                if len(pending) > n_jobs:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
        Batches scored at the same time, each in its own thread (see
        :func:`in_order`). Results do not depend on it; memory grows with it.
    """
    names = model_columns(det) if names is None else list(names)

    def score(batch: pa.RecordBatch, frame: pd.DataFrame, context: pd.DataFrame | None):
        return batch, det.score_details(frame, context=context)

    yield from in_order(score, frames(det, batches, names), n_jobs)
