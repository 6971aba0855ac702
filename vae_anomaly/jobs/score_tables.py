"""The tables around a scoring job: how its input is typed and what it writes.

The Arrow types of a CSV input's model columns (from the dtypes seen at
fit), the 0-row input and output of an empty extract, the output columns
appended to each batch (:data:`OUTPUT_COLUMNS`), the input columns kept
beside them, and where the output goes. :mod:`vae_anomaly.jobs.score`
streams the rows; this module says what the tables hold.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from ..exceptions import InvalidInputError
from ..features.rows import order_windowed
from ..features.schema import NUMERIC
from ..scoring.scorer import ScoreDetails, Scorer
from ..tables.location import Uri, as_location, same_location
from ..tables.read import TableReader
from ..tables.write import AtomicTableWriter, StreamTableWriter, output_beside
from .stream import details, model_columns

__all__ = ["OUTPUT_COLUMNS", "csv_types", "columns_to_keep", "default_output_path", "open_output",
           "output_batch", "empty_input", "empty_output"]

#: Columns appended to every scored table, in this order.
OUTPUT_COLUMNS = ("anomaly_score", "is_anomaly", "p_value", "top_feature")

# The type a CSV column of no rows is read as, by the kind of time column a windowed model was fitted on.
_TIME_TYPES = {"datetime": pa.timestamp("s"), "datetime-tz": pa.timestamp("s", tz="UTC"),
               "number": pa.int64(), "duration": pa.duration("s")}


def csv_types(scorer: Scorer) -> dict[str, pa.DataType]:
    """Arrow types for the model's columns in CSV input, from the dtypes seen at fit time."""
    types = {}
    for spec in scorer.preprocessor_.schema_:
        if spec.kind == NUMERIC and spec.dtype.startswith(("float", "Float")):
            types[spec.name] = pa.float64()
        elif spec.kind != NUMERIC and spec.dtype not in ("bool", "boolean"):
            types[spec.name] = pa.string()
    return types


def empty_input(reader: TableReader, columns: Sequence[str], scorer: Scorer) -> pa.RecordBatch:
    """A batch of 0 rows of ``columns`` of ``reader``, with the types a read of rows gives them.

    A CSV file without rows has no types to infer: the model's columns get
    the types it was fitted with (as :func:`csv_types` reads them, and
    int64 or bool for integer and boolean columns; a window's time column,
    a type of the kind it held at fit); other columns stay null.
    """
    schema = reader.schema
    types: dict[str, pa.DataType] = {}
    if reader.format == "csv":
        for spec in scorer.preprocessor_.schema_:
            if spec.dtype in ("bool", "boolean"):
                types[spec.name] = pa.bool_()
            elif spec.kind == NUMERIC and spec.dtype.lower().startswith(("int", "uint")):
                types[spec.name] = pa.int64()
        types.update(csv_types(scorer))
        window = scorer.window_spec_
        if window is not None and window.time_column is not None and window.time_kind in _TIME_TYPES:
            types[window.time_column] = _TIME_TYPES[window.time_kind]
    fields = [schema.field(c) for c in columns]
    fields = [f.with_type(types[f.name]) if f.name in types else f for f in fields]
    return pa.RecordBatch.from_pylist([], schema=pa.schema(fields))


def empty_output(scorer: Scorer, batch: pa.RecordBatch, keep: Sequence[str]) -> pa.RecordBatch:
    """The output of a table of 0 rows: ``keep`` columns of ``batch`` (0 rows) and the results.

    The model's columns go through the same checks as rows do, so a column
    of the wrong type is refused as it would be in a table with rows.

    Raises
    ------
    SchemaMismatchError
        If a model column has a type the model cannot read.
    """
    spec = scorer.window_spec_
    frame = batch.select(model_columns(scorer)).to_pandas(split_blocks=True)
    ordered = None if spec is None else order_windowed(frame, scorer.preprocessor_, spec)
    return output_batch(batch, details(scorer, frame, ordered), keep, spec is not None)


def default_output_path(data: str | os.PathLike) -> Path | Uri:
    """``data.parquet`` -> ``data.scores.parquet``; a directory ``d`` -> ``d.scores.parquet``; URIs alike."""
    return output_beside(data, ".scores.parquet")


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
    path = as_location(output) if output is not None else default_output_path(data)
    if same_location(path, as_location(data)):
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


def columns_to_keep(columns: Sequence[str], columns_out: Sequence[str] | None,
                    where: str = "the input", added: Mapping[str, str] | None = None) -> list[str]:
    """Input columns copied to the output: ``columns_out``, or all of ``columns``.

    ``added`` names further output columns and what adds them (``{"row_key":
    "--row-key"}``), beside :data:`OUTPUT_COLUMNS` and ``window_fill``, which
    scoring adds.

    Raises
    ------
    InvalidInputError
        If a column of ``columns_out`` is not in ``columns`` (the message
        names ``where``), or a kept column has the name of a column that
        the output adds.
    """
    added_by = {name: "scoring" for name in (*OUTPUT_COLUMNS, "window_fill")} | dict(added or {})
    keep = list(columns) if columns_out is None else list(columns_out)
    for name in keep:
        if name not in columns:
            raise InvalidInputError(f"column {name!r} is not in {where}")
        if name in added_by:
            raise InvalidInputError(f"the input already has a column {name!r}, which {added_by[name]} adds; "
                                    "leave it out with --columns-out or rename it")
    return keep
