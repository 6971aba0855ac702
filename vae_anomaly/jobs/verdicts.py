"""``vae-detect fit --labels FILE``: read a verdicts file (key, label) and join it to the training rows.

A verdicts file is what a reviewer writes after looking at the flagged rows
(``vae-detect report --review FILE`` writes one to fill in): one row per
reviewed row, its key and ``label``, 1 (or true, yes, anomaly) for an
anomaly, 0 (false, no, normal) for a row confirmed normal, empty for a row
not reviewed. The key is the column the user names (``--key``), else
:data:`~vae_anomaly.features.row_keys.HASH_KEY` when the file has it, else
the one column of the file, besides ``label``, that the data also hold.

Keys are matched as the data hold them, whatever type the file gives them:
against an integer column ``"00123"``, ``123`` and ``123.0`` are the same
key; against a text column ``"00123"`` is not ``"123"`` (a CSV verdicts
file's key is always read as text, so its leading zeros survive). Spaces
around a key are ignored. Every verdict must find its key in the data, and
one key cannot be both an anomaly and normal: either stops the fit with one
line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import InvalidInputError
from ..features.labels import binary_labels
from ..features.row_keys import HASH_KEY, RowKey, choose_key, content_keys, key_text
from ..tables.read import TableReader
from .verdict_record import recorded_verdicts

__all__ = ["LABEL", "VerdictFile", "Verdicts", "read_verdicts", "key_column_values", "join_verdicts",
           "key_not_a_feature", "verdict_rows", "merged_labels", "recorded_verdicts", "model_key",
           "data_keys"]

#: The verdicts file's label column.
LABEL = "label"
_SHOWN = 3  # keys quoted in an error message


@dataclass
class VerdictFile:
    """The verdicts of a file: ``keys`` (text) and ``labels`` (True, False), empty labels dropped."""

    path: str
    key: str
    keys: pd.Series
    labels: np.ndarray
    unreviewed: int


@dataclass
class Verdicts:
    """Verdicts joined to the rows of a table: which rows are known anomalies, which confirmed normal."""

    file: VerdictFile
    key: RowKey
    anomalous: np.ndarray
    normal: np.ndarray
    shared_keys: int

    def to_dict(self) -> dict:
        """``file``, ``key`` (name, source, hashed), ``verdicts``, ``anomalies``, ``normal``,
        ``unreviewed``, ``rows_anomalous``, ``rows_normal``, ``shared_keys``."""
        return {"file": self.file.path, "key": self.key.to_dict(), "verdicts": int(len(self.file.labels)),
                "anomalies": int(self.file.labels.sum()), "normal": int((~self.file.labels).sum()),
                "unreviewed": int(self.file.unreviewed), "rows_anomalous": int(self.anomalous.sum()),
                "rows_normal": int(self.normal.sum()), "shared_keys": int(self.shared_keys)}


def _rows(rows: np.ndarray) -> str:
    return ", ".join(map(str, rows[:_SHOWN])) + (" ..." if rows.size > _SHOWN else "")


def _quoted(keys) -> str:
    keys = list(keys)
    shown = ", ".join(repr(k) for k in keys[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN:,} more" if len(keys) > _SHOWN else "")


def _key_name(key: str | None, names: Sequence[str], data_columns: Sequence[str], where: str) -> str:
    """The key column of a verdicts file with columns ``names``."""
    if key is not None:
        if key not in names:
            raise InvalidInputError(f"key column {key!r} is not in {where}")
        return key
    if HASH_KEY in names:
        return HASH_KEY
    shared = [c for c in names if c != LABEL and c in set(data_columns)]
    if len(shared) != 1:
        others = [c for c in names if c != LABEL]
        found = f"the columns {_quoted(shared)} are" if shared else "no column is"
        raise InvalidInputError(f"{where} has no single key column: {found} also in the data "
                                f"(its columns besides 'label': {', '.join(others) or 'none'}); name the key "
                                "with --key")
    return shared[0]


def read_verdicts(path: str | os.PathLike, key: str | None, data_columns: Sequence[str]) -> VerdictFile:
    """Read a verdicts file (CSV, Parquet or Arrow): its key and ``label`` columns.

    Parameters
    ----------
    path : str or PathLike
        The file (see :class:`~vae_anomaly.tables.read.TableReader`).
    key : str or None
        Its key column; default as the module says.
    data_columns : sequence of str
        The training table's columns, where the key is looked for.

    Raises
    ------
    InvalidInputError
        If the file has no ``label`` or no key column, a label is not 0/1
        (true/false, ...) or empty, a verdict has no key, or one key has
        both verdicts.
    """
    reader = TableReader(path)
    where = reader.path.name
    names = reader.column_names
    if LABEL not in names:
        raise InvalidInputError(f"{where} has no {LABEL!r} column: a verdicts file holds a key column and "
                                f"'label' (1 for an anomaly, 0 for a normal row), but its columns are "
                                f"{', '.join(names)}")
    name = _key_name(key, names, data_columns, where)
    if name == LABEL:
        raise InvalidInputError("the key cannot be the 'label' column of the verdicts file")
    batches = [b for b in reader.iter_batches(columns=[name, LABEL], csv_types={name: pa.string()})]
    table = pa.Table.from_batches(batches, schema=batches[0].schema) if batches else None
    if table is None or table.num_rows == 0:
        return VerdictFile(str(path), name, pd.Series([], dtype=object), np.zeros(0, bool), 0)
    keys = pd.Series([key_text(v) for v in table.column(name).to_pylist()], dtype=object)
    keys = keys.map(lambda k: k.strip() if isinstance(k, str) else k).replace("", None)
    raw = table.column(LABEL).to_pandas()
    try:
        labels = binary_labels(raw, LABEL, missing_ok=True, first_row=0)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    given = raw.notna().to_numpy() & ~(raw.astype(str).str.strip() == "").to_numpy()
    no_key = given & keys.isna().to_numpy()
    if no_key.any():
        rows = np.flatnonzero(no_key)
        raise InvalidInputError(f"{where}: {rows.size:,} verdict(s) have no {name!r} (rows {_rows(rows)})")
    keys, labels = keys[given].reset_index(drop=True), labels[given]
    both = pd.DataFrame({"key": keys, "label": labels}).groupby("key", sort=False)["label"].nunique()
    conflicts = both.index[both.to_numpy() > 1]
    if len(conflicts):
        raise InvalidInputError(f"{where}: {len(conflicts):,} key(s) have both verdicts, anomaly (1) and "
                                f"normal (0): {_quoted(conflicts)}")
    return VerdictFile(str(path), name, keys, labels, int((~given).sum()))


def key_column_values(reader: TableReader, frame: pd.DataFrame, name: str) -> pd.Series:
    """The key column ``name`` of a table read whole into ``frame``; from a CSV file, as its text.

    A CSV reader takes ``00123`` for the integer 123; a key's text is what
    a verdict names, so the column is read again as text.
    """
    col = frame[name]
    if reader.format == "csv" and not (pd.api.types.is_string_dtype(col.dtype) or col.dtype == object):
        batches = list(reader.iter_batches(columns=[name], csv_types={name: pa.string()}))
        col = pa.Table.from_batches(batches).column(name).to_pandas()
    return col.reset_index(drop=True)


def _data_text(values: pd.Series) -> pd.Series:
    """The data's keys as the text :func:`~vae_anomaly.features.row_keys.key_text` writes (None: missing)."""
    if pd.api.types.is_integer_dtype(values.dtype):  # vectorized: exact for every int64 and uint64
        return values.astype("string").astype(object).where(values.notna(), None)
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_float_dtype(values.dtype):
        try:
            return values.str.strip().astype(object).where(values.notna(), None)
        except AttributeError:  # objects that are not all text
            pass
    return pd.Series([k.strip() if isinstance(k, str) else k for k in map(key_text, values)], dtype=object)


def _verdict_text(values: pd.Series, like: pd.Series) -> pd.Series:
    """A verdicts file's keys (text) as text comparable with the data's keys ``like`` (:func:`_data_text`)."""
    if pd.api.types.is_integer_dtype(like.dtype) or pd.api.types.is_float_dtype(like.dtype):
        numbers = pd.to_numeric(values.astype(object), errors="coerce")
        if pd.api.types.is_integer_dtype(like.dtype):
            # Exact integers beyond 2**53: parse the text itself where it is an integer.
            exact = [int(v) if isinstance(v, str) and v.lstrip("+-").isdigit() else None for v in values]
            return pd.Series([key_text(e) if e is not None else key_text(n)
                              for e, n in zip(exact, numbers, strict=True)], dtype=object)
        return pd.Series([key_text(v) for v in numbers], dtype=object)
    return pd.Series([k.strip() if isinstance(k, str) else k for k in map(key_text, values)], dtype=object)


def join_verdicts(verdicts: VerdictFile, key: RowKey, data_keys: pd.Series, where: str) -> Verdicts:
    """Match each verdict to the rows of the data whose key it names.

    Parameters
    ----------
    verdicts : VerdictFile
    key : RowKey
        The key the verdicts name.
    data_keys : Series
        The key of each data row (for the hash key, :func:`content_keys`).
    where : str
        The data's name, for the error message.

    Raises
    ------
    InvalidInputError
        If a verdict's key is not in the data.
    """
    data_text = _data_text(data_keys.reset_index(drop=True))
    wanted = _verdict_text(verdicts.keys, data_keys)
    if key.is_hash:
        wanted = wanted.str.lower()
    known = pd.Index(data_text.dropna().unique())
    missing = ~wanted.isin(known).to_numpy()
    if missing.any():
        hint = (f" ({HASH_KEY} is a hash of the values of the model's columns: fit with the columns of the "
                "model that wrote the keys, on rows whose values have not changed)" if key.is_hash else "")
        raise InvalidInputError(f"{int(missing.sum()):,} of {len(wanted):,} verdict key(s) are not in "
                                f"{where}'s {key.name!r}: {_quoted(verdicts.keys[missing])}{hint}")
    anomalous = data_text.isin(set(wanted[verdicts.labels])).to_numpy()
    normal = data_text.isin(set(wanted[~verdicts.labels])).to_numpy()
    counts = data_text[anomalous | normal].value_counts()
    return Verdicts(verdicts, key, anomalous, normal, int((counts > 1).sum()))


def key_not_a_feature(reader: TableReader, name: str, label_column: str | None,
                      features: Sequence[str]) -> None:
    """Check that ``name``, the verdicts' key column, is in the data and may be left out of the features.

    Raises
    ------
    InvalidInputError
        If the data lack it, or it is the label column, a column named as a
        feature (``--columns``, ``--include``) or a window's time or group column.
    """
    reader.require_columns([name], what="key column")
    if name == label_column or name in set(features):
        raise InvalidInputError(f"column {name!r} is the verdicts' key; it cannot also be the label column, "
                                "a feature (--columns, --include) or the time or group column")


def verdict_rows(reader: TableReader, frame: pd.DataFrame, verdicts: VerdictFile,
                 model_columns: Sequence[str]) -> Verdicts:
    """The verdicts of a file joined to the rows of a table read whole (``frame``).

    The hash key is that of ``model_columns``, the columns the model is
    given (those of the model whose report wrote the keys, when the same
    options pick them).
    """
    key = (RowKey(HASH_KEY, "hash", tuple(sorted(model_columns))) if verdicts.key == HASH_KEY
           else RowKey(verdicts.key, "column"))
    return join_verdicts(verdicts, key, data_keys(reader, frame, key), reader.path.name)


def merged_labels(known: np.ndarray | None, verdicts: Verdicts, label_column: str | None) -> np.ndarray:
    """The known anomalies of a label column (or None) and of the verdicts, together.

    Raises
    ------
    InvalidInputError
        If a verdict calls normal (0) a row the label column marks as an anomaly.
    """
    if known is None:
        return verdicts.anomalous.copy()
    clash = known & verdicts.normal
    if clash.any():
        rows = np.flatnonzero(clash)
        raise InvalidInputError(f"{rows.size:,} row(s) that label column {label_column!r} marks as anomalies "
                                f"have the verdict normal (0) in {Path(verdicts.file.path).name} (rows "
                                f"{_rows(rows)}); correct one or the other")
    return known | verdicts.anomalous


def model_key(key: str | None, meta: dict, columns: Sequence[str], model_columns: Sequence[str],
              where: str = "the data") -> RowKey:
    """The row key a report of a model (its file's metadata ``meta``) shows for a table with ``columns``.

    ``key`` if given (``row_key`` for the hash); else the key of the
    verdicts the model was fitted with, when the table has it; else as
    :func:`~vae_anomaly.features.row_keys.choose_key` decides.

    Raises
    ------
    InvalidInputError
        If ``key`` is not a column of the table.
    """
    recorded = recorded_verdicts(meta)
    if key is None and recorded is not None:
        name = recorded["key"]["name"]
        if name == HASH_KEY or name in set(columns):
            key = name
    return choose_key(key, meta.get("ignored_columns") or {}, columns, model_columns, where)


def data_keys(reader: TableReader, frame: pd.DataFrame, key: RowKey) -> pd.Series:
    """The key of each row of a table read whole: its key column, or the hash of ``key.hashed``."""
    if key.is_hash:
        return pd.Series(content_keys(frame, key.hashed), dtype=object)
    return key_column_values(reader, frame, key.name)
