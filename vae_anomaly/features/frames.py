"""Tables that are not pandas (polars, pyarrow, Arrow PyCapsule, dataframe interchange) as pandas frames.

The estimator and the scorer work on pandas DataFrames. A table from
another library is converted once, where it enters (:func:`as_pandas`),
through Arrow, as the command line reads files: pyarrow Tables and record
batches directly, any object with the Arrow PyCapsule stream
(``__arrow_c_stream__``: polars, DuckDB, ...) with :func:`pyarrow.table`,
and any object with the dataframe interchange protocol (``__dataframe__``)
with :func:`pyarrow.interchange.from_dataframe`. The columns keep their
names, so scikit-learn's ``feature_names_in_`` and the model agree.

A method that returns a table gives it back in the caller's kind
(:func:`like_input`): a polars DataFrame for polars input, a pandas DataFrame
for any other table. polars is never imported here unless the caller's
table is a polars DataFrame (so polars is already imported).
"""

from __future__ import annotations

import sys

import pandas as pd
import pyarrow as pa

from ..exceptions import InvalidInputError

__all__ = ["as_pandas", "is_table", "is_polars", "like_input"]


def is_polars(X) -> bool:
    """Whether ``X`` is a polars DataFrame (checked without importing polars)."""
    polars = sys.modules.get("polars")
    return polars is not None and isinstance(X, polars.DataFrame)


def is_table(X) -> bool:
    """Whether ``X`` is a table :func:`as_pandas` converts or keeps: a pandas DataFrame, a
    pyarrow Table or RecordBatch, a polars DataFrame, or an object with the Arrow PyCapsule
    stream or the dataframe interchange protocol.

    A pyarrow Array or ChunkedArray (one column, though it has the PyCapsule
    methods) is not a table.
    """
    if isinstance(X, (pd.DataFrame, pa.Table, pa.RecordBatch)) or is_polars(X):
        return True
    if isinstance(X, (pa.Array, pa.ChunkedArray)):
        return False
    return hasattr(X, "__arrow_c_stream__") or hasattr(X, "__dataframe__")


def as_pandas(X):
    """``X`` as a pandas DataFrame if it is a table of another library, else ``X`` itself.

    Parameters
    ----------
    X : object
        A pandas DataFrame (returned as it is), a pyarrow Table or
        RecordBatch, a polars DataFrame, an object with
        ``__arrow_c_stream__`` or ``__dataframe__``, or anything else (an
        array, a list: returned as it is).

    Returns
    -------
    DataFrame or object
        For a table of shape (n_samples, n_columns): a pandas DataFrame of
        the same shape, with the table's column names and a default
        ``RangeIndex``; its dtypes are those ``pyarrow.Table.to_pandas``
        gives, as for files read by the command line.

    Raises
    ------
    InvalidInputError
        If ``X`` has the Arrow or interchange methods but does not yield a
        table; the message names its type.

    Examples
    --------
    >>> import pyarrow as pa
    >>> as_pandas(pa.table({"temp": [20.5, 21.0]})).columns.tolist()
    ['temp']
    """
    if isinstance(X, pd.DataFrame) or not is_table(X):
        return X
    if isinstance(X, (pa.Table, pa.RecordBatch)):
        return X.to_pandas()
    try:
        if hasattr(X, "__arrow_c_stream__"):
            table = pa.table(X)
        elif is_polars(X):  # a polars too old for the PyCapsule interface
            table = X.to_arrow()
        else:
            import pyarrow.interchange as pa_interchange

            table = pa_interchange.from_dataframe(X)
    except (TypeError, ValueError, NotImplementedError, pa.ArrowException) as exc:
        raise InvalidInputError(f"cannot read a table from {type(X).__name__}: {exc}") from None
    return table.to_pandas()


def like_input(frame: pd.DataFrame, X):
    """``frame`` (a result with one row per row of ``X``) in the kind of table ``X`` is.

    Parameters
    ----------
    frame : DataFrame of shape (n_samples, n_columns)
        The result, indexed like ``as_pandas(X)``.
    X : object
        The caller's input.

    Returns
    -------
    polars.DataFrame or DataFrame
        A polars DataFrame (same columns, no index) when ``X`` is one,
        otherwise ``frame``.
    """
    if is_polars(X):
        import polars as pl

        return pl.from_pandas(frame, include_index=False)
    return frame
