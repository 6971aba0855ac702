"""``vae-detect score``: stream a table through a fitted model into an output file, a record batch at a time.

Memory is bounded by the batch size, each row's results equal those of
scoring the whole table at once, and the output appears only once it is
complete. Each batch is also counted for the drift check
(:class:`~vae_anomaly.calibration.drift.DriftTally`), whose report covers the whole table.

An empty extract is normal: a table of 0 rows gives an output of 0 rows
with every output column, of the types a non-empty output has, and a
summary that says so. What the reader noticed (paths skipped in a
directory, columns whose type changes, columns missing from some files)
comes back as the summary's ``notes``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from ..calibration.drift import DriftTally
from ..exceptions import InvalidInputError
from ..features.row_keys import HASH_KEY, content_key_array
from ..features.rows import Ordered
from ..features.schema import require_columns
from ..options import DEFAULT_BATCH_ROWS, GAP_TOLERANCE, check_gap_tolerance
from ..scoring.scorer import Scorer
from ..tables.read import TableReader
from ..tables.temporary import removed_note
from ..tables.write import AtomicTableWriter, StreamTableWriter
from .fit import check_device
from .score_tables import columns_to_keep, csv_types, empty_input, empty_output, open_output, output_batch
from .stream import as_scorer, details, frames, in_order, model_columns

__all__ = ["MIN_DRIFT_ROWS", "load_scorer", "reader_notes", "score_table", "score_file", "table_progress"]

#: Fewer scored rows than this are not checked for drift (``detected`` stays false, and the
#: report's note says "not enough rows"). The column test bins each column at the held-out
#: deciles, and a chi-square test wants at least 5 expected rows in each of its 10 bins; with
#: fewer rows one unusual row decides the asymptotic Kolmogorov-Smirnov p-value alone (a single
#: row above every held-out score gets p = 0), which is an anomaly, not drift.
MIN_DRIFT_ROWS = 50

RowCallback = Callable[[int], object]
#: A command's progress: called after each batch with its rows and the table's row count (or None).
Progress = Callable[[int, int | None], object]


def load_scorer(model: str | os.PathLike, device: str = "cpu") -> Scorer:
    """Load a model file for scoring; errors are :class:`~vae_anomaly.VAEAnomalyError`.

    On CPU this imports neither torch nor scikit-learn (see
    :func:`vae_anomaly.persistence.modelfile.load_scorer`).
    """
    from ..persistence.modelfile import load_scorer as _load

    return _load(model, device=check_device(device))


def table_progress(reader: TableReader, progress: Progress | None) -> RowCallback | None:
    """The per-batch row callback that reports ``progress`` against ``reader``'s row count."""
    if progress is None:
        return None
    total = reader.num_rows
    return lambda rows: progress(rows, total)


def reader_notes(reader: TableReader, opened: Sequence[str] = ()) -> list[str]:
    """The notes ``opened`` (read when the table was opened), then the reader's new ones, once each.

    CSV type changes are known only once the file has been read, so a job
    reads the notes when it opens the table and again when it is done.
    """
    return list(dict.fromkeys([*opened, *reader.notes()]))


def score_table(model, reader: TableReader, writer: AtomicTableWriter | StreamTableWriter, *,
                columns_out: Sequence[str] | None = None, batch_size: int = DEFAULT_BATCH_ROWS,
                n_jobs: int = 1, on_rows: RowCallback | None = None,
                gap_tolerance: float = GAP_TOLERANCE, key: str | None = None, row_key: bool = False) -> dict:
    """Stream ``reader`` through ``model`` into ``writer``, one record batch at a time.

    Memory is bounded by the batch size, and each row's results equal those
    of scoring the whole table at once. On any error the writer discards
    its output.

    Parameters
    ----------
    model : Scorer or VAEDetector
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
        Batches scored in parallel, each with BLAS on one thread while it is
        scored (see :func:`vae_anomaly.jobs.stream.in_order`); the next
        batches are scored while one is written.
    on_rows : callable, optional
        Called with the number of rows after each batch (for progress); with
        ``n_jobs > 1`` later batches may be being scored meanwhile, with
        their thread limits.
    gap_tolerance : float, default=GAP_TOLERANCE
        A step between consecutive rows of a series that is longer than this
        many fitted time steps is reported as a time gap. Must be finite
        and positive.
    key : str, optional
        A column naming the rows (an order id), for verdicts on them: copied
        to the output even where ``columns_out`` leaves it out, and read
        from CSV as its text (``00123`` stays ``00123``) unless the model
        reads it.
    row_key : bool, default=False
        Add the column ``row_key``, last: a hash of each row's values in the
        model's columns (:func:`~vae_anomaly.features.row_keys.content_keys`),
        the key a report and a verdicts file use where no column names the
        rows. It costs time on every row, so it is only made when asked.

    Returns
    -------
    dict
        ``rows``, ``anomalies``, ``seconds``, ``rows_per_s`` (None for 0
        rows), ``output``, ``drift`` (:meth:`vae_anomaly.calibration.drift.DriftReport.to_dict`
        of the whole table, plus ``note``: why the check or its column test
        did not run, or None; with fewer than :data:`MIN_DRIFT_ROWS` rows
        ``detected`` is false and the note says "not enough rows"),
        ``notes`` (what the reader noticed, one line each: see
        :meth:`~vae_anomaly.tables.read.TableReader.notes`), and for
        windowed models with a time column ``time_gaps`` (steps longer than
        ``time_gap_tolerance`` times the fitted time step; windows run
        across them as if the series were continuous) with up to three
        ``time_gap_examples``. A table of 0 rows gives ``rows`` 0 and an
        output of 0 rows with every column.

    Raises
    ------
    InvalidInputError
        If ``gap_tolerance`` is not a positive number, or a column of
        ``columns_out`` is unusable.
    SchemaMismatchError
        If the table lacks a column of the model, or holds one of a type
        the model cannot read.
    """
    try:
        check_gap_tolerance(gap_tolerance)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    start = time.perf_counter()
    opened = reader.notes()
    scorer = as_scorer(model)
    names = model_columns(scorer)
    require_columns(reader.column_names, names)
    types = csv_types(scorer)
    if key is not None:
        reader.require_columns([key], what="key column")
        if columns_out is not None and key not in columns_out:
            columns_out = [key, *columns_out]
        if key not in names:
            types[key] = pa.string()
    keep = columns_to_keep(reader.column_names, columns_out, reader.path.name,
                           added={HASH_KEY: "--row-key"} if row_key else None)
    wanted = set(keep) | set(names)
    columns = [c for c in reader.column_names if c in wanted]
    batches = reader.iter_batches(batch_size, columns, csv_types=types)
    window_fill = scorer.window_spec_ is not None
    reference = scorer.drift_reference()
    with_columns = reference.column_edges is not None
    drift = DriftTally(reference)

    def score(batch: pa.RecordBatch, frame: pd.DataFrame, ordered: Ordered | None):
        # The output batch and the batch's drift counts are made in the worker too: the main
        # thread only reads, writes and adds up.
        found = details(scorer, frame, ordered)
        tally = DriftTally(reference)
        tally.add(found.anomaly_score, found.contributions if with_columns else None)
        out = output_batch(batch, found, keep, window_fill)
        if row_key:
            out = out.append_column(HASH_KEY, content_key_array(frame, names))
        return out, int(np.count_nonzero(found.is_anomaly)), tally

    rows = anomalies = 0
    gaps: list[pd.DataFrame] = []
    with writer:
        for out, n_flagged, tally in in_order(score, frames(scorer, batches, names, gaps, gap_tolerance),
                                              n_jobs):
            writer.write(out)
            rows += out.num_rows
            anomalies += n_flagged
            drift.merge(tally)
            if on_rows is not None:
                on_rows(out.num_rows)
        if rows == 0:  # an empty extract is normal: an output of 0 rows, with every column
            empty = empty_output(scorer, empty_input(reader, columns, scorer), keep)
            writer.write(empty.append_column(HASH_KEY, pa.array([], pa.string())) if row_key else empty)
    seconds = time.perf_counter() - start
    target = getattr(writer, "path", None)
    found = pd.concat(gaps, ignore_index=True) if gaps else None
    spec = scorer.window_spec_
    # numbers: the column's own units
    unit = " units" if spec is not None and spec.time_kind == "number" else " s"
    report = {**drift.report().to_dict(), "note": None if with_columns else (
        "column test unavailable: the model file holds no column reference (written before model format 3)")}
    if rows < MIN_DRIFT_ROWS:
        report.update(detected=False, note=f"not checked: not enough rows ({rows:,}; the check needs at "
                                           f"least {MIN_DRIFT_ROWS})")
    return {"rows": rows, "anomalies": anomalies, "seconds": round(seconds, 3),
            "rows_per_s": round(rows / seconds, 1) if seconds > 0 and rows else None,
            "output": "-" if target is None else str(target), "drift": report,
            "notes": reader_notes(reader, opened) + removed_note(getattr(writer, "removed", [])),
            "time_gaps": 0 if found is None else len(found),
            "time_gap_tolerance": gap_tolerance,
            "time_gap_examples": [] if found is None else [
                f"{'' if g.group is None else f'{g.group} '}{g.before} -> {g.after} ({g.seconds:g}{unit})"
                for g in found.head(3).itertuples()]}


def score_file(data: str | os.PathLike, model: str | os.PathLike, output: str | os.PathLike | None = None, *,
               stream: BinaryIO | None = None, columns_out: Sequence[str] | None = None,
               batch_size: int = DEFAULT_BATCH_ROWS, n_jobs: int = 1, device: str = "cpu",
               gap_tolerance: float = GAP_TOLERANCE, progress: Progress | None = None,
               key: str | None = None, row_key: bool = False) -> dict:
    """Score a table file with a model file into an output file, or as CSV into ``stream``.

    The job of ``vae-detect score``: it opens the table, the output (see
    :func:`open_output`) and the model, in that order, and streams the
    table through the model (:func:`score_table`).

    Parameters
    ----------
    data : str or PathLike
        Table file or directory (see :class:`~vae_anomaly.tables.read.TableReader`),
        a local path or a URI.
    model : str or PathLike
        Model file, a local path or a URI.
    output : str or PathLike, optional
        Output file, a local path or a URI (written as
        :class:`~vae_anomaly.tables.write.AtomicTableWriter` writes); default
        :func:`default_output_path` of ``data``.
        Ignored when ``stream`` is given.
    stream : binary file, optional
        Where to write the scores as CSV instead of a file (stdout).
    columns_out : sequence of str, optional
        Input columns to copy to the output (default: all of them).
    batch_size : int
        Rows per record batch; bounds memory, not results.
    n_jobs : int, default=1
        Batches scored in parallel.
    device : str, default="cpu"
        Torch device to score on (see :func:`load_scorer`).
    gap_tolerance : float, default=GAP_TOLERANCE
        See :func:`score_table`.
    progress : callable, optional
        Called after each batch with the rows it held and the table's row
        count (None when the file does not say).
    key, row_key
        See :func:`score_table`.

    Returns
    -------
    dict
        The summary of :func:`score_table`.

    Raises
    ------
    InvalidInputError, SchemaMismatchError
        If the table or output path cannot be used, or the table lacks a
        model column.
    ModelFileError
        If the model file cannot be loaded.
    OSError
        If the table cannot be opened.
    """
    reader = TableReader(data)
    writer = open_output(data, output, stream=stream)
    scorer = load_scorer(model, device=device)
    return score_table(scorer, reader, writer, columns_out=columns_out, batch_size=batch_size, n_jobs=n_jobs,
                       on_rows=table_progress(reader, progress), gap_tolerance=gap_tolerance, key=key,
                       row_key=row_key)
