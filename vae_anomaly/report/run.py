"""``vae-detect report``: score a table in a stream and write a one-file HTML report of the run.

The data are read in record batches, as ``vae-detect score`` reads them,
and only bounded summaries are kept (:mod:`vae_anomaly.report.summaries`), so the
report's memory and size do not grow with the table. Two things do grow:
with labels, every row's score, flag and label (10 bytes a row) are kept so
that the ROC and precision-recall figures equal ``vae-detect evaluate``'s;
for windowed models, a few numbers per series. Windowed models read the
table twice: the second pass scores only the series that get a strip.

>>> from vae_anomaly.report.run import write_report
>>> write_report("model.vae", frame, "report.html", labels=frame["label"])  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import InvalidInputError
from ..features.row_keys import RowKey, choose_key
from ..jobs.describe import describe_model
from ..jobs.metrics import binary_labels
from ..jobs.score import Progress, load_scorer, reader_notes, table_progress
from ..jobs.score_tables import csv_types, empty_input, empty_output
from ..jobs.stream import model_columns
from ..jobs.verdicts import model_key
from ..options import DEFAULT_BATCH_ROWS
from ..persistence.modelfile import read_metadata
from ..tables.location import Uri, as_location, same_location
from ..tables.read import TableReader
from ..tables.temporary import removed_note
from ..tables.write import atomic_write_bytes, check_output_path, output_beside
from .figures import require_extra
from .review import check_review_path, write_review
from .scan import Scan, numbered, scan_series, scan_table

__all__ = ["write_report", "report_file", "default_report_path"]

LABEL = "__vae_report_label__"  # the labels given to write_report, as a column


def _check_output(path: Path | Uri, inputs: list[Path | Uri]) -> None:
    """Refuse an output whose directory is missing or read-only, or that is one of the inputs."""
    check_output_path(path)
    if any(same_location(path, p) for p in inputs):
        raise InvalidInputError(f"output {path} is an input file; choose another output path")


def default_report_path(data: str | os.PathLike) -> Path | Uri:
    """``data.parquet`` -> ``data.report.html``; a directory ``d`` -> ``d.report.html``; URIs alike."""
    return output_beside(data, ".report.html")


def _build(scorer, model_path: Path | Uri, detector, source: Callable[[], Iterator[pa.RecordBatch]],
           label: str | None, label_name: str, top: int, n_jobs: int, on_rows,
           data_name: str, model_name: str, key: RowKey | None = None) -> tuple[bytes, dict, Scan]:
    """Scan the data, draw the figures and lay out the page; returns the HTML, a summary and the scan."""
    from . import page as report_page

    started = time.perf_counter()
    names = model_columns(scorer)
    scan: Scan = scan_table(scorer, lambda: numbered(source()), names, label, label_name, top, n_jobs,
                            on_rows, key=key)
    if scan.series is not None and scan.rows:
        scan_series(scorer, scan, lambda: numbered(source()), names, n_jobs)
    if detector is None:  # the torch network: for the latent map and the reconstructions only
        from ..detector import VAEDetector

        detector = VAEDetector.load(model_path)
    info = {**describe_model(model_path), "model": model_name}
    html = report_page.render(scan, detector, info, read_metadata(model_path).get("training", {}),
                              data_name=data_name)
    summary = {"rows": scan.rows, "anomalies": scan.flagged,
               "seconds": round(time.perf_counter() - started, 3),
               "sections": report_page.section_ids(scan), "bytes": len(html),
               "key": None if key is None else key.to_dict(), "review": None}
    return html, summary, scan


def report_file(data: str | os.PathLike, model: str | os.PathLike, output: str | os.PathLike | None = None, *,
                label_column: str | None = None, top: int = 50, batch_size: int = DEFAULT_BATCH_ROWS,
                n_jobs: int = 1, progress: Progress | None = None, key: str | None = None,
                review: str | os.PathLike | None = None) -> dict:
    """Write the HTML report of scoring a table file with a model file (``vae-detect report``).

    Parameters
    ----------
    data : str or PathLike
        Table file or directory (see :class:`~vae_anomaly.tables.read.TableReader`),
        streamed in record batches.
    model : str or PathLike
        Model file written by ``vae-detect fit`` or :meth:`VAEDetector.save`.
    output : str or PathLike, optional
        HTML file to write; it appears only once complete. Default:
        :func:`default_report_path` of ``data``.
    label_column : str, optional
        Column of known labels (see :func:`~vae_anomaly.features.labels.binary_labels`);
        adds ROC and precision-recall curves and the confusion counts.
    top : int, default=50
        Highest-scoring rows listed.
    batch_size : int
        Rows per record batch; bounds memory, never changes the report.
    n_jobs : int, default=1
        Batches scored at once.
    progress : callable, optional
        Called after each batch of the first pass with the rows it held and
        the table's row count (None when the file does not say).
    key : str, optional
        The column whose value names each top row (read from CSV as its
        text), or ``"row_key"`` for the hash of the model's columns.
        Default: the key of the verdicts the model was fitted with, else
        the one column the model left out as an identifier, else the hash
        (see :func:`vae_anomaly.jobs.verdicts.model_key`).
    review : str or PathLike, optional
        Also write the top rows, with their keys and an empty ``label``, to
        this ``.csv`` or ``.parquet`` file, for a reviewer to fill in and
        ``vae-detect fit --labels`` to read (:mod:`vae_anomaly.report.review`).

    Returns
    -------
    dict
        ``rows``, ``anomalies``, ``seconds``, ``sections`` (the ids of the
        report's sections), ``bytes``, ``output``, ``key`` (the row key:
        ``name``, ``source``, ``hashed``), ``review`` (``path`` and ``rows``
        of the review file, or None) and ``notes`` (what the
        reader noticed, one line each). A table of 0 rows gives a page that
        says so, with the model's summary and training.

    Raises
    ------
    MissingExtraError
        If matplotlib or jinja2 (the ``report`` extra) is missing, or does
        not import.
    InvalidInputError, SchemaMismatchError, ModelFileError
        For unusable data, labels, model or output path.
    OSError
        If the table cannot be opened.
    """
    reader = TableReader(data)
    opened = reader.notes()
    _require_extras()
    if top < 1:
        raise InvalidInputError(f"top must be at least 1, got {top}")
    output = as_location(output) if output is not None else default_report_path(reader.path)
    model_path = as_location(model)
    _check_output(output, [reader.path, model_path])
    review = None if review is None else check_review_path(review)
    if review is not None and any(same_location(review, p) for p in (reader.path, model_path, output)):
        raise InvalidInputError(f"review file {review} is an input or the report; choose another path")
    scorer = load_scorer(model_path)
    names = model_columns(scorer)
    reader.require_columns(names)
    if label_column is not None:
        reader.require_columns([label_column], what="label column")
    row_key = model_key(key, read_metadata(model_path), reader.column_names, names, reader.path.name)
    wanted = set(names) | ({label_column} if label_column else set()) | (
        set() if row_key.is_hash else {row_key.name})
    columns = [c for c in reader.column_names if c in wanted]
    types = csv_types(scorer)
    if not row_key.is_hash and row_key.name not in names:
        types[row_key.name] = pa.string()  # a key's text: 00123 stays 00123

    def source() -> Iterator[pa.RecordBatch]:
        return reader.iter_batches(batch_size, columns, csv_types=types)

    html, summary, scan = _build(scorer, model_path, None, source, label_column, label_column or "", top,
                                 n_jobs, table_progress(reader, progress), data_name=str(reader.path),
                                 model_name=str(model), key=row_key)
    if not summary["rows"]:  # an empty table: its columns are checked as rows would be
        empty = empty_input(reader, columns, scorer)
        empty_output(scorer, empty, [])
        if label_column is not None:
            binary_labels(empty.column(label_column).to_pandas(), label_column)
    removed = atomic_write_bytes(output, html)
    if review is not None:  # after the page: a failed report leaves neither
        summary["review"] = {"path": str(review), "rows": write_review(scan, review)}
    return {**summary, "output": str(output), "notes": reader_notes(reader, opened) + removed_note(removed)}


def write_report(model, X, path: str | os.PathLike, labels=None, top: int = 50) -> dict:
    """Write a one-file HTML report of scoring ``X`` with ``model``.

    The report holds a summary (rows, flags, threshold and its
    calibration, the model), the score histogram, the ``top`` rows with
    their contributions and, for row models, their reconstructions, a
    comparison of the scored columns with the fitted ones, per-series
    strips for windowed models, a latent map, the training curves and,
    with ``labels``, ROC and precision-recall curves and confusion counts
    equal to ``vae-detect evaluate``'s. Images are embedded PNGs; the page
    makes no network request and needs no JavaScript.

    Parameters
    ----------
    model : VAEDetector or str or PathLike
        A fitted detector or a model file.
    X : DataFrame
        Rows to score, with the columns the model was fitted on.
    path : str or PathLike
        HTML file to write (atomically).
    labels : array-like (n_samples,), optional
        Known labels (1/True = anomaly; see
        :func:`~vae_anomaly.features.labels.binary_labels`).
    top : int, default=50
        Highest-scoring rows listed.

    Returns
    -------
    dict
        ``rows``, ``anomalies``, ``seconds``, ``sections``, ``bytes``, ``output``.

    Raises
    ------
    MissingExtraError
        If matplotlib or jinja2 (the ``report`` extra) is missing.
    InvalidInputError
        If ``X`` is not a DataFrame, ``labels`` has another length, or the
        output path cannot be written.
    """
    _require_extras()
    if not isinstance(X, pd.DataFrame):
        raise InvalidInputError("X must be a pandas DataFrame with the model's columns, "
                                f"got {type(X).__name__}")
    if top < 1:
        raise InvalidInputError(f"top must be at least 1, got {top}")
    path = as_location(path)
    _check_output(path, [] if not isinstance(model, (str, os.PathLike)) else [as_location(model)])
    frame = X.reset_index(drop=True)
    if labels is not None:
        labels = pd.Series(np.asarray(labels))
        if len(labels) != len(frame):
            raise InvalidInputError(f"labels has {len(labels)} values but X has {len(frame)} rows")

    with tempfile.TemporaryDirectory(prefix="vae-report-") as tmp:
        if isinstance(model, (str, os.PathLike)):
            model_path, detector = as_location(model), None
        else:
            model_path, detector = Path(tmp) / "model.vae", model
            detector.save(model_path)
        scorer = load_scorer(model_path)
        columns = scorer.model_columns(frame)  # raises naming the first missing column
        names = list(columns.columns)
        if labels is not None:
            columns = columns.assign(**{LABEL: labels.to_numpy()})
        table = pa.Table.from_pandas(columns, preserve_index=False)
        html, summary, _ = _build(scorer, model_path, detector,
                                  lambda: iter(table.to_batches(DEFAULT_BATCH_ROWS)),
                                  LABEL if labels is not None else None, "labels", top, 1, None,
                                  data_name="a DataFrame",
                                  model_name="a VAEDetector" if detector is not None else str(model_path),
                                  key=choose_key(None, {}, names, names))
    atomic_write_bytes(path, html)
    return {**summary, "output": str(path)}


def _require_extras() -> None:
    require_extra("matplotlib", "the report")
    require_extra("jinja2", "the report")
