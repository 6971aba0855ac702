"""The ``vae-detect score --dask`` job: score a Parquet table on a Dask cluster into a directory.

Each partition is scored on a worker (:mod:`vae_anomaly.jobs.dask`) and
written there as one Parquet part file, ``part.00000.parquet`` and on, into
a hidden temporary directory beside the output. Only when every part is
written and the row count matches the input is the directory renamed into
place, so a failed or interrupted run leaves no output directory and an
earlier output is kept (on an object store the parts are copied into place
instead: see :mod:`vae_anomaly.jobs.parts`). Part files in name order hold
the rows in input order for row-wise models; for windowed models each
series is in one part file, in time order.

The output directory and the input must be at the same path on the client
and every worker (a shared file system, or a URI such as
``s3://bucket/scores/`` that every worker can reach, with credentials in
each worker's environment); with ``local`` they are.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import InvalidInputError, VAEAnomalyError
from ..features.schema import require_columns
from ..options import DEFAULT_PARTITION_ROWS, GAP_TOLERANCE
from ..scoring.scorer import Scorer
from ..tables.location import Uri
from ..tables.read import TableReader
from ..tables.temporary import removed_note
from ..tables.write import AtomicTableWriter
from .dask import prepare, read_parquet, score_partition, ship
from .extras import DASK, extra_error
from .parts import PART_FILE, PartDirectory, output_directory
from .score import Progress, load_scorer, reader_notes, table_progress
from .score_tables import columns_to_keep, empty_input, empty_output
from .stream import as_scorer, model_columns

try:
    import dask
    from distributed import Client, LocalCluster, as_completed
    from distributed.scheduler import KilledWorker
except ImportError as exc:  # missing, or installed but not importing together: the error says which
    raise extra_error(DASK, exc, "scoring on a Dask cluster")  # noqa: B904 (it carries its own cause)

__all__ = ["ClusterError", "connect", "score_on_cluster", "score_file_on_cluster", "PART_FILE"]


class ClusterError(VAEAnomalyError, RuntimeError):
    """The Dask cluster could not be reached, or lost work it could not redo."""


@contextmanager
def connect(address: str, timeout: float = 10.0) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or of a new local cluster for ``"local"``.

    ``"local"`` starts a ``distributed.LocalCluster`` with Dask's default
    layout for this machine's cores (one worker process per core, one
    thread each, up to 4 cores), closed again on the way out.

    Raises
    ------
    ClusterError
        If no scheduler answers at ``address`` within ``timeout`` seconds.
    """
    if address == "local":
        with LocalCluster(dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                Client(cluster, set_as_default=False) as client:
            yield client
        return
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach a Dask scheduler at {address!r}: {exc}") from None
    with client:
        yield client


def _write_part(frame: pd.DataFrame, scorer: Scorer, keep: Sequence[str], path: str,
                gap_tolerance: float, empty: bool = False, filesystem=None) -> dict:
    """Score one partition and write it to ``path``; runs on a worker (with ``empty``, even 0 rows).

    ``filesystem``: the store ``path`` is in (a path inside it), or None for a local path.
    """
    gaps: list[pd.DataFrame] = []
    out = score_partition(frame, scorer, keep, gaps, gap_tolerance)
    written = bool(len(out) or empty)
    if written:
        table = pa.Table.from_pandas(out, preserve_index=False)
        with AtomicTableWriter(path, schema=table.schema, filesystem=filesystem) as writer:
            for batch in table.to_batches():
                writer.write(batch)
    found = pd.concat(gaps, ignore_index=True) if gaps else None
    return {"part": os.path.basename(path) if written else None, "rows": len(out),
            "anomalies": int(np.count_nonzero(out["is_anomaly"].to_numpy())),
            "time_gaps": 0 if found is None else len(found),
            "gap_examples": None if found is None else found.head(3).drop(columns="row")}


def _cluster_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the cluster's failure (workers lost, work cancelled), not ours or the data's."""
    p2p = isinstance(exc, RuntimeError) and str(exc).startswith("P2P ")  # distributed's shuffle gave up
    return p2p or isinstance(exc, (KilledWorker, CancelledError))


def _run(client: Client, tasks: list, on_rows: Callable[[int], object] | None) -> list[dict]:
    futures = client.compute(tasks)
    reports = []
    try:
        for future in as_completed(futures, loop=client.loop):
            report = future.result()
            reports.append(report)
            if on_rows is not None:
                on_rows(report["rows"])
    except BaseException as exc:
        client.cancel(futures)
        if isinstance(exc, Exception) and _cluster_failure(exc):
            raise ClusterError(f"the Dask cluster failed: {type(exc).__name__}: {exc}") from None
        raise
    return reports


def _summary(reports: list[dict], spec, gap_tolerance: float) -> dict:
    examples = [r["gap_examples"] for r in reports if r["gap_examples"] is not None]
    found = pd.concat(examples, ignore_index=True) if examples else None
    if found is not None and spec.group_column is not None:
        found = found.sort_values(["group", "before"], kind="stable")  # as one batch lists them
    unit = " units" if spec is not None and spec.time_kind == "number" else " s"
    return {"rows": sum(r["rows"] for r in reports), "anomalies": sum(r["anomalies"] for r in reports),
            "time_gaps": sum(r["time_gaps"] for r in reports), "time_gap_tolerance": gap_tolerance,
            "time_gap_examples": [] if found is None else [
                f"{'' if g.group is None else f'{g.group} '}{g.before} -> {g.after} ({g.seconds:g}{unit})"
                for g in found.head(3).itertuples()]}


def _score_no_rows(reader: TableReader, scorer: Scorer, keep: list[str], columns: list[str],
                   out: Path | Uri, gap_tolerance: float) -> dict:
    """An empty table: one part file of 0 rows with every column, written here; no cluster is needed.

    The model's columns are checked as for rows; the part has the columns and
    types of the parts the workers write.
    """
    start = time.perf_counter()
    require_columns(reader.column_names, model_columns(scorer))
    empty = empty_input(reader, columns, scorer)
    empty_output(scorer, empty, keep)  # refuses a model column of a type the model cannot read
    parts = PartDirectory(out)
    try:
        report = _write_part(empty.to_pandas(), scorer, keep, parts.part("part.00000.parquet"), gap_tolerance,
                             empty=True, filesystem=parts.filesystem)
        parts.publish([report["part"]])
    except BaseException:
        parts.discard()
        raise
    return {**_summary([report], scorer.window_spec_, gap_tolerance),
            "seconds": round(time.perf_counter() - start, 3), "partitions": 0, "rows_per_s": None,
            "output": str(out), "removed": parts.removed}


def score_on_cluster(det, reader: TableReader, output: str | os.PathLike | None = None, *, address: str,
                     columns_out: Sequence[str] | None = None, partition_rows: int = DEFAULT_PARTITION_ROWS,
                     gap_tolerance: float = GAP_TOLERANCE,
                     on_rows: Callable[[int], object] | None = None) -> dict:
    """Score a Parquet table on a Dask cluster into a directory of Parquet part files.

    Parameters
    ----------
    det : Scorer, VAEDetector, str or PathLike
        Fitted model (see :func:`vae_anomaly.jobs.dask.score_dask`).
    reader : TableReader
        A Parquet file or directory.
    output : str or PathLike, optional
        Output directory, a local path or a URI; default ``DATA.scores.parquet`` beside the input.
    address : str
        Scheduler address (``tcp://host:8786``), or ``"local"``.
    columns_out : sequence of str, optional
        Input columns to copy to the output (default: all of them).
    partition_rows : int
        Rows per partition read (whole row groups; see
        :func:`vae_anomaly.jobs.dask.read_parquet`).
    gap_tolerance : float
        Windowed models: steps longer than this many fitted time steps are
        reported as time gaps.
    on_rows : callable, optional
        Called with a partition's row count as each partition is written.

    Returns
    -------
    dict
        As :func:`vae_anomaly.jobs.score.score_table`: ``rows``, ``anomalies``,
        ``seconds``, ``rows_per_s``, ``output``, the time gaps and ``notes``,
        plus ``partitions``. A table of 0 rows is not sent to the cluster:
        the output is one part file of 0 rows with every column, and
        ``partitions`` is 0.

    Raises
    ------
    InvalidInputError, SchemaMismatchError, ModelFileError
        For bad data, model or output path; the output is not written.
    ClusterError
        If the cluster cannot be reached, or loses work it cannot redo.
    """
    if not (np.isfinite(gap_tolerance) and gap_tolerance > 0):
        raise InvalidInputError("gap_tolerance must be a positive number of time steps, "
                                f"got {gap_tolerance!r}")
    opened = reader.notes()
    out = output_directory(reader.path, output)
    keep = columns_to_keep(reader.column_names, columns_out)
    scorer = as_scorer(det)
    wanted = set(keep) | set(model_columns(scorer))
    columns = [c for c in reader.column_names if c in wanted]
    if reader.num_rows == 0 and reader.format in ("parquet", "dataset"):  # an empty extract is normal
        found = _score_no_rows(reader, scorer, keep, columns, out, gap_tolerance)
        return {**found, "notes": reader_notes(reader, opened) + removed_note(found.pop("removed"))}
    ddf = read_parquet(reader, columns, partition_rows)
    scorer, keep, source = prepare(ddf, scorer, keep)  # checks the model's columns
    parts = source.to_delayed()
    width = max(5, len(str(len(parts) - 1)))
    with connect(address) as client:
        start = time.perf_counter()  # the job itself: a local cluster's start-up is not counted
        into = PartDirectory(out)  # removes what a killed run left there
        try:
            shipped = ship(scorer)
            write = dask.delayed(_write_part, pure=False)
            tasks = [write(part, shipped, keep, into.part(f"part.{i:0{width}d}.parquet"), gap_tolerance,
                           filesystem=into.filesystem) for i, part in enumerate(parts)]
            reports = _run(client, tasks, on_rows)
            summary = _summary(reports, scorer.window_spec_, gap_tolerance)
            if reader.num_rows is not None and summary["rows"] != reader.num_rows:
                raise ClusterError(f"the cluster returned {summary['rows']:,} scored rows of "
                                   f"{reader.num_rows:,}; nothing was written")
            into.publish([r["part"] for r in reports if r["part"] is not None])
        except BaseException:
            into.discard()
            raise
    seconds = time.perf_counter() - start
    return {**summary, "seconds": round(seconds, 3), "partitions": len(parts),
            "rows_per_s": round(summary["rows"] / seconds, 1) if seconds > 0 else None, "output": str(out),
            "notes": reader_notes(reader, opened) + removed_note(into.removed)}


def score_file_on_cluster(data: str | os.PathLike, model: str | os.PathLike,
                          output: str | os.PathLike | None = None, *, address: str,
                          columns_out: Sequence[str] | None = None,
                          partition_rows: int = DEFAULT_PARTITION_ROWS, gap_tolerance: float = GAP_TOLERANCE,
                          progress: Progress | None = None) -> dict:
    """Score a Parquet table file with a model file on a Dask cluster (``vae-detect score --dask``).

    Opens the table and the model, then runs :func:`score_on_cluster`.

    Parameters
    ----------
    data : str or PathLike
        A Parquet file or directory.
    model : str or PathLike
        Model file; scored on the workers' CPUs.
    output : str or PathLike, optional
        Output directory, a local path or a URI; default ``DATA.scores.parquet`` beside the input.
    address : str
        Scheduler address (``tcp://host:8786``), or ``"local"``.
    columns_out : sequence of str, optional
        Input columns to copy to the output (default: all of them).
    partition_rows : int
        Rows per partition read.
    gap_tolerance : float
        Windowed models: steps longer than this many fitted time steps are
        reported as time gaps.
    progress : callable, optional
        Called as each partition is written with its rows and the table's
        row count (None when unknown).

    Returns
    -------
    dict
        The summary of :func:`score_on_cluster`.

    Raises
    ------
    InvalidInputError, SchemaMismatchError, ModelFileError
        For bad data, model or output path; the output is not written.
    ClusterError
        If the cluster cannot be reached, or loses work it cannot redo.
    OSError
        If the table cannot be opened.
    """
    reader = TableReader(data)
    scorer = load_scorer(model)
    return score_on_cluster(scorer, reader, output, address=address, columns_out=columns_out,
                            partition_rows=partition_rows, gap_tolerance=gap_tolerance,
                            on_rows=table_progress(reader, progress))
