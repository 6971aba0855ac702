"""Scoring a table as a stream of record batches, in order, with bounded memory.

Each record batch becomes a DataFrame of the model's columns; batches are
scored in worker threads and come back in input order. For windowed models
each batch is checked and put in window order once (with the last rows of
each series carried over from the previous batch as context), so streamed
results equal those of scoring all rows at once, and time gaps are found
once each, even across batch boundaries.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import InvalidInputError
from ..features import series
from ..features.rows import Ordered, order_windowed
from ..features.series import WindowSpec
from ..options import GAP_TOLERANCE
from ..scoring.scorer import ScoreDetails, Scorer
from .threads import one_thread_each

__all__ = ["as_scorer", "model_columns", "carry_context", "new_gaps", "frames", "in_order", "details",
           "scored_batches"]


def as_scorer(model) -> Scorer:
    """The :class:`Scorer` of a model file path, a fitted ``VAEDetector`` or a Scorer.

    Raises
    ------
    ModelFileError
        If a model file cannot be loaded.
    InvalidInputError
        If ``model`` is none of the three.
    """
    if isinstance(model, Scorer):
        return model
    if isinstance(model, (str, os.PathLike)):
        from ..persistence.modelfile import load_scorer

        return load_scorer(model)
    if callable(getattr(model, "scorer", None)):
        return model.scorer()
    raise InvalidInputError(f"model must be a model file path, a fitted VAEDetector or a Scorer, "
                            f"got {type(model).__name__}")


def model_columns(scorer: Scorer) -> list[str]:
    """Columns a fitted model reads, in fit order (not those it left out as identifiers).

    Raises
    ------
    InvalidInputError
        If the model was fitted on an unnamed array.
    """
    if not hasattr(scorer, "feature_names_in_"):
        raise InvalidInputError("the model was fitted without column names, so it cannot score a table")
    return scorer.column_names()


def carry_context(ordered: Ordered, spec: WindowSpec) -> pd.DataFrame | None:
    """The last ``size - 1`` rows of each series of a batch in window order.

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
    if ordered.n_context:
        _check_batches_in_order(ordered, spec)
    # The rows at most `keep` before the end of their series (series are contiguous in window order).
    ends = np.flatnonzero(np.append(ordered.starts[1:], True))  # the last row of each series
    last = ends[np.cumsum(ordered.starts) - 1]  # ... of each row's series
    return ordered.frame.iloc[np.flatnonzero(last - np.arange(last.size) < keep)].reset_index(drop=True)


def _check_batches_in_order(ordered: Ordered, spec: WindowSpec) -> None:
    """In window order, every carried row of a series must precede the batch's rows."""
    from_context = ordered.from_context
    # A carried row right after one of the batch's rows, within one series.
    late = np.flatnonzero(from_context[1:] & ~from_context[:-1] & ~ordered.starts[1:])
    if late.size:
        where = (f" of series {ordered.frame[spec.group_column].iloc[late[0] + 1]!r}" if spec.group_column
                 else "")
        raise InvalidInputError(
            f"rows{where} are not in {spec.time_column or 'time'} order from one record batch to the next; "
            "sort the input, or raise --batch-size above its row count"
        )


def new_gaps(scorer: Scorer, ordered: Ordered, tolerance: float = GAP_TOLERANCE) -> pd.DataFrame | None:
    """Time gaps over ``tolerance`` times the fitted time step that end at a row not from context.

    With the carried rows in front, a gap at a batch boundary is seen once,
    in the batch that holds the row after it. None for models without a
    time column or a fitted step.
    """
    spec = scorer.window_spec_
    step = (scorer.window_config_ or {}).get("median_step_s")
    if spec is None or spec.time_column is None or not step:
        return None
    gaps = series.find_gaps(ordered.frame, spec, ordered.starts, step, tolerance)
    return gaps[~ordered.from_context[gaps["row"].to_numpy(dtype=np.int64)]].reset_index(drop=True)


def frames(scorer: Scorer, batches: Iterable[pa.RecordBatch], names: list[str], gaps: list | None = None,
           gap_tolerance: float = GAP_TOLERANCE
           ) -> Iterator[tuple[pa.RecordBatch, pd.DataFrame, Ordered | None]]:
    """Yield ``(batch, frame, ordered)`` for each non-empty batch.

    ``ordered`` is None for row-wise models; for windowed ones it holds the
    batch after the carried context rows, checked and in window order (see
    :func:`vae_anomaly.features.rows.order_windowed`). Time gaps found in
    each batch are appended to ``gaps`` when it is given.
    """
    spec = scorer.window_spec_
    context = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        frame = batch.select(names).to_pandas(split_blocks=True)
        ordered = None
        if spec is not None:
            ordered = order_windowed(frame, scorer.preprocessor_, spec, context, context_checked=True)
            found = new_gaps(scorer, ordered, gap_tolerance) if gaps is not None else None
            if found is not None and len(found):
                gaps.append(found)
        yield batch, frame, ordered
        if spec is not None:
            context = carry_context(ordered, spec)


def in_order(fn: Callable, items: Iterable[tuple], n_jobs: int, *, settle: bool = False) -> Iterator:
    """Yield ``fn(*item)`` for each item, in order, with up to ``n_jobs`` calls running at once.

    Each call runs with NumPy's BLAS on one thread, and with ``n_jobs > 1``
    torch too when it is loaded (GPU or importance-weighted scoring), for
    the length of the call only (:func:`~vae_anomaly.jobs.threads.one_thread_each`).
    With ``n_jobs <= 1`` the calls run here, one at a time, so nothing runs
    while the consumer handles a result. With ``n_jobs > 1`` they run in
    worker threads: by default the next calls go on while the consumer
    handles a result (at most ``n_jobs + 1`` results wait), which keeps the
    workers busy while a job writes its output, so the limits may be in
    force meanwhile (for the loops of jobs, not of callers); with ``settle``
    the items go in rounds of ``n_jobs`` and every call of a round has
    returned before its first result is yielded, so the consumer's loop
    body runs with no call running and the process's own thread settings.
    """
    if n_jobs <= 1:
        call = one_thread_each(fn)
        for item in items:
            result = call(*item)
            yield result
        return
    # One BLAS thread per call, not BLAS threads per worker: OpenBLAS's own threads spun against two
    # workers on two cores (5M rows took 43 to 57 s instead of about 5).
    call = one_thread_each(fn, torch_too=True)
    pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="vae-score")
    try:
        if settle:
            items = iter(items)
            while running := [pool.submit(call, *item) for item in islice(items, n_jobs)]:
                results = [future.result() for future in running]
                yield from results
            return
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(call, *item))
            if len(pending) > n_jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def details(scorer: Scorer, frame: pd.DataFrame, ordered: Ordered | None) -> ScoreDetails:
    """:class:`ScoreDetails` of one streamed batch from :func:`frames`."""
    return scorer.details(scorer.prepare(frame if ordered is None else None, ordered=ordered))


def scored_batches(model, batches: Iterable[pa.RecordBatch], names: Sequence[str] | None = None,
                   n_jobs: int = 1) -> Iterator[tuple[pa.RecordBatch, ScoreDetails]]:
    """Yield each non-empty input batch with its :class:`ScoreDetails`, in input order.

    For windowed models the tail of each series is carried to the next
    batch as context, so results equal those of scoring all rows at once.

    Parameters
    ----------
    model : Scorer or VAEDetector
        Fitted model.
    batches : iterable of pyarrow.RecordBatch
        Input rows holding the model's columns.
    names : sequence of str, optional
        The model's columns (:func:`model_columns`).
    n_jobs : int, default=1
        Batches scored at the same time, each in its own thread, in rounds
        of ``n_jobs`` (see :func:`in_order`). Results do not depend on it;
        memory grows with it.

    Yields
    ------
    tuple of (pyarrow.RecordBatch, ScoreDetails)
        While the loop body runs no batch is being scored, and the BLAS and
        torch thread counts are the process's own: the limits that scoring
        takes (one thread each) are held only while batches are scored.

    Raises
    ------
    InvalidInputError
        If the model has no column names, or a windowed model's rows go back
        in time from one batch to the next.
    """
    scorer = as_scorer(model)
    names = model_columns(scorer) if names is None else list(names)

    def score(batch: pa.RecordBatch, frame: pd.DataFrame, ordered: Ordered | None):
        return batch, details(scorer, frame, ordered)

    yield from in_order(score, frames(scorer, batches, names), n_jobs, settle=True)
