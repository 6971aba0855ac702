"""``vae-detect evaluate``: how well a model's scores and flags match known labels.

:func:`evaluate_file` is the command's job: it opens the table and the
model and hands them to :func:`evaluate_table`, which streams a labelled
table through a fitted model and compares the results with the labels
(:func:`vae_anomaly.jobs.metrics.classification_metrics`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from ..features.rows import Ordered
from ..features.schema import require_columns
from ..options import DEFAULT_BATCH_ROWS
from ..tables.read import TableReader
from .metrics import binary_labels, classification_metrics
from .score import load_scorer, reader_notes, table_progress
from .score_tables import csv_types, empty_input, empty_output
from .stream import as_scorer, details, frames, in_order, model_columns

__all__ = ["evaluate_table", "evaluate_file"]


def evaluate_table(model, reader: TableReader, label_column: str, *, batch_size: int = DEFAULT_BATCH_ROWS,
                   n_jobs: int = 1, on_rows: Callable[[int], object] | None = None) -> dict:
    """Score a labelled table in record batches and compare the flags with the labels.

    Parameters
    ----------
    model : Scorer or VAEDetector
        Fitted model.
    reader : vae_anomaly.tables.read.TableReader
        Table holding the model's columns and ``label_column``.
    label_column : str
        See :func:`~vae_anomaly.features.labels.binary_labels` for the accepted values.
    batch_size : int, optional
        Rows per record batch.
    n_jobs : int, default=1
        Batches scored in parallel (see :func:`vae_anomaly.jobs.stream.in_order`).
    on_rows : callable, optional
        Called with the number of rows after each batch.

    Returns
    -------
    dict
        See :func:`~vae_anomaly.jobs.metrics.classification_metrics`, plus
        ``notes`` (what the reader noticed, one line each) and ``note``: for
        a table of 0 rows, that the metrics are undefined (their values are
        None), else None.

    Raises
    ------
    SchemaMismatchError
        If the table lacks a column of the model, or holds one of a type the
        model cannot read.
    InvalidInputError
        If it lacks ``label_column``, or a label is missing or unreadable.
    """
    opened = reader.notes()
    scorer = as_scorer(model)
    names = model_columns(scorer)
    require_columns(reader.column_names, names)
    reader.require_columns([label_column], what="label column")
    wanted = set(names) | {label_column}
    columns = [c for c in reader.column_names if c in wanted]
    batches = reader.iter_batches(batch_size, columns, csv_types=csv_types(scorer))

    def score(batch: pa.RecordBatch, frame: pd.DataFrame, ordered: Ordered | None):
        found = details(scorer, frame, ordered)
        labels = binary_labels(batch.column(label_column).to_pandas(), label_column)
        return found.anomaly_score, found.is_anomaly, labels

    scores, flags, labels = [], [], []
    for batch_scores, batch_flags, batch_labels in in_order(score, frames(scorer, batches, names), n_jobs):
        scores.append(batch_scores)
        flags.append(batch_flags)
        labels.append(batch_labels)
        if on_rows is not None:
            on_rows(batch_labels.size)
    note = None
    if not scores:  # an empty extract: the columns are checked as for rows, and no metric is defined
        empty = empty_input(reader, columns, scorer)
        empty_output(scorer, empty, [])
        binary_labels(empty.column(label_column).to_pandas(), label_column)
        scores, flags, labels = [np.empty(0)], [np.empty(0, dtype=bool)], [np.empty(0, dtype=bool)]
        note = "the table holds no rows: every metric is undefined"
    metrics = classification_metrics(np.concatenate(labels), np.concatenate(scores), np.concatenate(flags),
                                     threshold=scorer.threshold_)
    return {**metrics, "note": note, "notes": reader_notes(reader, opened)}


def evaluate_file(data: str | os.PathLike, model: str | os.PathLike, label_column: str, *,
                  batch_size: int = DEFAULT_BATCH_ROWS, n_jobs: int = 1, device: str = "cpu",
                  progress: Callable[[int, int | None], object] | None = None) -> dict:
    """Compare the scores and flags of a model file on a labelled table file with its labels.

    The job of ``vae-detect evaluate``.

    Parameters
    ----------
    data : str or PathLike
        Table file or directory (see :class:`~vae_anomaly.tables.read.TableReader`),
        streamed in record batches.
    model : str or PathLike
        Model file.
    label_column : str
        Column holding the truth (see :func:`~vae_anomaly.features.labels.binary_labels`).
    batch_size : int
        Rows per record batch; bounds memory, not results.
    n_jobs : int, default=1
        Batches scored in parallel.
    device : str, default="cpu"
        Torch device to score on (see :func:`~vae_anomaly.jobs.score.load_scorer`).
    progress : callable, optional
        Called after each batch with the rows it held and the table's row
        count (None when the file does not say).

    Returns
    -------
    dict
        See :func:`~vae_anomaly.jobs.metrics.classification_metrics`.

    Raises
    ------
    InvalidInputError, SchemaMismatchError
        If the table cannot be read or lacks a column, or a label is unusable.
    ModelFileError
        If the model file cannot be loaded.
    OSError
        If the table cannot be opened.
    """
    reader = TableReader(data)
    scorer = load_scorer(model, device=device)
    return evaluate_table(scorer, reader, label_column, batch_size=batch_size, n_jobs=n_jobs,
                          on_rows=table_progress(reader, progress))
