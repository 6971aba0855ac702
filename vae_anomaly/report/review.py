"""The review file of a report: its top rows and their keys, with an empty ``label`` for the verdicts.

``vae-detect report --review FILE`` writes it beside the page. A reviewer
fills in ``label``, 1 for an anomaly and 0 for a normal row (empty: not
reviewed), and ``vae-detect fit DATA --labels FILE`` joins the verdicts
to the training rows by the key (:mod:`vae_anomaly.jobs.verdicts`). The
other columns (rank, row number, score, p-value, top column) are there to
review by; the fit reads only the key and the label.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InvalidInputError
from ..tables.location import Uri, as_location
from ..tables.write import atomic_write_bytes, check_output_path
from .scan import Scan

__all__ = ["REVIEW_SUFFIXES", "review_rows", "check_review_path", "write_review"]

#: The formats a review file can be written in, by suffix.
REVIEW_SUFFIXES = (".csv", ".parquet")


def check_review_path(path: str | os.PathLike) -> Path | Uri:
    """``path`` as a location, checked before any work is done.

    Raises
    ------
    InvalidInputError
        If its suffix is not ``.csv`` or ``.parquet``, or its directory is
        missing or read-only.
    """
    where = as_location(path)
    if not where.name.lower().endswith(REVIEW_SUFFIXES):
        raise InvalidInputError(f"review file {where.name} must end in .csv or .parquet")
    check_output_path(where)
    return where


def review_rows(scan: Scan) -> pd.DataFrame:
    """The top rows of ``scan`` as a table to review: the key, ``label`` (empty), ``rank``, ``row``,
    ``anomaly_score``, ``p_value`` and ``top_feature``, highest score first."""
    table = scan.top.table
    if table is None or not len(table) or scan.key is None:
        name = scan.key.name if scan.key is not None else "row_key"
        return pd.DataFrame({name: pd.Series([], dtype=object), "label": pd.Series([], dtype="Int8"),
                             "rank": pd.Series([], dtype=np.int64), "row": pd.Series([], dtype=np.int64),
                             "anomaly_score": pd.Series([], dtype=np.float64),
                             "p_value": pd.Series([], dtype=np.float64),
                             "top_feature": pd.Series([], dtype=object)})
    contrib = table[[f"contrib:{c}" for c in scan.features]].to_numpy()
    return pd.DataFrame({
        scan.key.name: table["key"].to_numpy(dtype=object),
        "label": pd.array([pd.NA] * len(table), dtype="Int8"),
        "rank": np.arange(1, len(table) + 1),
        "row": table["row"].to_numpy(dtype=np.int64),
        "anomaly_score": table["anomaly_score"].to_numpy(dtype=np.float64),
        "p_value": table["p_value"].to_numpy(dtype=np.float64),
        "top_feature": np.asarray(scan.features, dtype=object)[np.argmax(contrib, axis=1)],
    })


def write_review(scan: Scan, path: Path | Uri) -> int:
    """Write :func:`review_rows` to ``path`` (CSV or Parquet, by its suffix) atomically; returns its rows."""
    rows = review_rows(scan)
    buf = io.BytesIO()
    if path.name.lower().endswith(".parquet"):
        rows.to_parquet(buf, index=False)
    else:
        buf.write(rows.to_csv(index=False).encode())
    atomic_write_bytes(path, buf.getvalue())
    return len(rows)
