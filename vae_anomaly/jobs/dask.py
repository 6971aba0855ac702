"""Scoring a Dask DataFrame partition by partition, with the scores of single-machine scoring.

:func:`score_dask` maps a fitted model over the partitions of a
``dask.dataframe.DataFrame``. The model enters the task graph once, as one
task that every partition depends on, so each worker receives it once
(Dask moves a task's result to a worker once and keeps it there while
tasks need it), not once per partition. The threshold and p-values come
from the model's calibration, never from the partition.

Windowed models need each series whole and in order. The rows are tagged
with their input position, shuffled by the group column so that every
series lands in one partition (all rows go to one partition when the model
has no group column), put back in input order there, then sorted by group
and time as :func:`vae_anomaly.features.series.order_rows` sorts them, and scored in
record batches with each series' last rows carried from one batch to the
next (:func:`vae_anomaly.jobs.stream.frames`). Every row thus gets the score
that scoring the whole table on one machine gives it, ties in time
included. A series must fit in one worker's memory.

:func:`read_parquet` builds the input from Parquet files in the order
``vae-detect score`` reads them, which ``dask.dataframe.read_parquet`` does
not keep (it sorts file names naturally: ``part.2`` before ``part.10``).

Requires the ``dask`` extra: ``pip install 'vae-anomaly[dask]'``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pa_ds

from ..exceptions import InvalidInputError
from ..features import series
from ..options import DEFAULT_BATCH_ROWS, DEFAULT_PARTITION_ROWS, GAP_TOLERANCE
from ..scoring.scorer import ScoreDetails, Scorer
from ..tables.read import TableReader
from .extras import DASK, extra_error
from .score_tables import columns_to_keep, output_batch
from .stream import as_scorer, details, frames, model_columns

__all__ = ["DASK_EXTRA", "score_dask", "read_parquet", "score_partition", "prepare", "ship"]


#: How to install what this module needs.
DASK_EXTRA = DASK.install

try:
    import dask
    import dask.dataframe as dd
    from dask.delayed import Delayed
except ImportError as exc:  # missing, or installed but not importing together: the error says which
    raise extra_error(DASK, exc, "scoring with Dask")  # noqa: B904 (it carries its own cause)

# Input position of each row of a windowed model, kept through the shuffle.
_PART, _ROW = "__vae_partition", "__vae_row"


def _results(table: pa.Table | None, scorer: Scorer) -> pd.DataFrame:
    """The result columns of scored rows; with ``table`` None, none (dtypes as when there are)."""
    if table is not None:
        return table.to_pandas()
    n = len(scorer.feature_names())
    empty = ScoreDetails(np.empty(0), np.empty(0, dtype=bool), np.empty(0), np.empty((0, n)),
                         scorer.feature_names(), np.empty(0))
    wf = scorer.window_spec_ is not None
    return output_batch(pa.RecordBatch.from_pydict({}), empty, [], wf).to_pandas()


def score_partition(frame: pd.DataFrame, scorer: Scorer, keep: Sequence[str], gaps: list | None = None,
                    gap_tolerance: float = GAP_TOLERANCE) -> pd.DataFrame:
    """Score one partition: its ``keep`` columns followed by the results (see :func:`score_dask`).

    Parameters
    ----------
    frame : DataFrame
        The partition; for windowed models, every row of the series it
        holds, with their input positions (as :func:`score_dask` prepares).
    scorer : Scorer
    keep : sequence of str
        Input columns to copy to the output.
    gaps : list, optional
        Time gaps found (DataFrames, as :func:`vae_anomaly.jobs.stream.new_gaps`)
        are appended to it.
    gap_tolerance : float
        Steps longer than this many fitted time steps are gaps.

    Returns
    -------
    DataFrame
        For windowed models in window order (by group, then time), else
        in the partition's order; the partition's index is kept.
    """
    spec = scorer.window_spec_
    if spec is not None and _PART in frame.columns:  # back in input order, so that ties in time keep it
        frame = frame.iloc[np.lexsort((frame[_ROW].to_numpy(), frame[_PART].to_numpy()))]
        frame = frame.drop(columns=[_PART, _ROW])
    if spec is not None and len(frame):
        series.check_key_columns(frame, spec)
        frame = frame.iloc[series.order_rows(frame, spec)]
    names = model_columns(scorer)
    batches = pa.Table.from_pandas(frame[names], preserve_index=False).to_batches(
        max_chunksize=DEFAULT_BATCH_ROWS)
    scored = [output_batch(batch, details(scorer, part, ordered), [], spec is not None)
              for batch, part, ordered in frames(scorer, batches, names, gaps, gap_tolerance)]
    results = _results(pa.Table.from_batches(scored) if scored else None, scorer)
    out = pd.concat([frame[list(keep)].reset_index(drop=True), results], axis=1)
    out.index = frame.index
    return out


def _with_position(frame: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
    number = 0 if partition_info is None else partition_info["number"]
    return frame.assign(**{_PART: np.full(len(frame), number, dtype=np.int64),
                           _ROW: np.arange(len(frame), dtype=np.int64)})


def _by_series(ddf: dd.DataFrame, spec: series.WindowSpec) -> dd.DataFrame:
    """``ddf`` with each series in one partition, and every row's input position."""
    meta = ddf._meta.assign(**{_PART: np.empty(0, dtype=np.int64), _ROW: np.empty(0, dtype=np.int64)})
    tagged = ddf.map_partitions(_with_position, meta=meta)
    if spec.group_column is None:
        return tagged.repartition(npartitions=1)
    return tagged.shuffle(on=spec.group_column)


def ship(scorer: Scorer) -> Delayed:
    """``scorer`` as a single task of the graph, so each worker receives it once."""
    return dask.delayed(scorer, name=f"vae-scorer-{uuid.uuid4().hex}")


def prepare(ddf: dd.DataFrame, model, columns_out: Sequence[str] | None = None):
    """The scorer, the kept columns, and ``ddf`` partitioned for :func:`score_partition`."""
    scorer = as_scorer(model)
    scorer.model_columns(ddf._meta)  # names the first model column the input lacks
    keep = columns_to_keep(list(ddf.columns), columns_out)
    spec = scorer.window_spec_
    return scorer, keep, ddf if spec is None else _by_series(ddf, spec)


def score_dask(ddf: dd.DataFrame, model, columns_out: Sequence[str] | None = None) -> dd.DataFrame:
    """Score every row of a Dask DataFrame; lazy, like any Dask collection.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Rows holding the model's columns; other columns are copied through.
    model : str, PathLike, VAEDetector or Scorer
        A model file (read here, on the client, so the workers need not see
        it), a fitted detector (scored with its CPU scorer; save a detector
        fitted on a GPU and pass the file) or a scorer.
    columns_out : sequence of str, optional
        Input columns to copy to the output (default: all of them).

    Returns
    -------
    dask.dataframe.DataFrame
        The ``columns_out`` columns followed by ``anomaly_score`` (float64,
        higher = more anomalous), ``is_anomaly`` (bool, above the model's
        threshold), ``p_value`` (float64, conformal, against the model's
        calibration rows) and ``top_feature`` (category), and for windowed
        models ``window_fill`` (float64), as ``vae-detect score`` writes
        them, with ``meta`` declared. Row-wise models keep the input's
        partitions, order and index; windowed models give one partition per
        shuffled partition, each in window order (by group, then time).
        Each row's results are those of scoring the whole table at once.

    Raises
    ------
    ModelFileError
        If the model file cannot be loaded.
    SchemaMismatchError
        If ``ddf`` lacks a column the model was fitted on.
    InvalidInputError
        If a ``columns_out`` column is missing or clashes with a result
        column. Problems in the data themselves (a changed dtype, text in a
        numeric column) are raised when the result is computed.

    Examples
    --------
    >>> import dask.dataframe as dd                                    # doctest: +SKIP
    >>> scores = score_dask(dd.read_parquet("landing/"), "model.vae")  # doctest: +SKIP
    >>> scores[scores.is_anomaly].compute()                            # doctest: +SKIP
    """
    scorer, keep, source = prepare(ddf, model, columns_out)
    meta = pd.concat([ddf._meta[keep].reset_index(drop=True), _results(None, scorer)], axis=1)
    meta.index = ddf._meta.index
    return source.map_partitions(score_partition, ship(scorer), keep, meta=meta,
                                 clear_divisions=scorer.window_spec_ is not None)


def _read_piece(piece: pa_ds.ParquetFileFragment, schema: pa.Schema) -> pd.DataFrame:
    try:  # the table's schema: unified types, partition keys and null for a column the file lacks
        return piece.to_table(schema=schema, columns=schema.names).cast(schema).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        detail = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        name = os.path.basename(piece.path)
        raise InvalidInputError(f"{name} is not a readable Parquet file: {detail}") from None


def _pieces(reader: TableReader, rows_per_piece: int):
    """Consecutive row groups of one file, about ``rows_per_piece`` rows each, as picklable fragments."""
    return reader.fragments(rows_per_piece)


def read_parquet(reader: TableReader | str | os.PathLike, columns: Sequence[str] | None = None,
                 partition_rows: int = DEFAULT_PARTITION_ROWS) -> dd.DataFrame:
    """A Parquet file or directory as a Dask DataFrame, rows in the order ``vae-detect score`` reads them.

    Files come in path order and rows in file order (as
    :class:`~vae_anomaly.tables.read.TableReader` reads them); each partition is a
    run of whole row groups of one file, of about ``partition_rows`` rows.

    Raises
    ------
    InvalidInputError
        If the path is missing, unreadable, not Parquet, or has no rows,
        or a column of ``columns`` is not in it.
    """
    reader = reader if isinstance(reader, TableReader) else TableReader(reader)
    if reader.format not in ("parquet", "dataset"):
        raise InvalidInputError(f"{reader.path.name} is not Parquet; scoring with Dask reads a .parquet file "
                                "or a directory of them (convert the table to Parquet first)")
    columns = reader.column_names if columns is None else list(columns)
    reader.require_columns(columns)
    schema = pa.schema([reader.schema.field(c) for c in columns], metadata=reader.schema.metadata)
    pieces = list(_pieces(reader, max(1, int(partition_rows))))
    if not pieces:
        raise InvalidInputError(f"{reader.path.name} has no rows")
    with dask.config.set({"dataframe.convert-string": False}):  # columns as vae-detect score reads them
        return dd.from_map(_read_piece, pieces, args=[schema], meta=schema.empty_table().to_pandas(),
                           label="read-parquet-in-order", enforce_metadata=False)
