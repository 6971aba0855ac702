"""From a checked input frame to the rows the network scores, and back.

Without windows a model row is an input row. With windows, rows are sorted
by group and time, each becomes the window ending at it, and results are
put back in the caller's order afterwards. Rows given as ``context`` (the
tail of the previous batch when streaming) fill the first windows but get no
result of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import windows
from .preprocessing import Encoded, TabularPreprocessor
from .schema import check_numeric

__all__ = ["Prepared", "prepare", "summary_training_frame", "feature_owner", "aggregate", "missing_mask"]


@dataclass
class Prepared:
    """Model rows plus what is needed to return results in the caller's order.

    Attributes
    ----------
    enc : Encoded
        Rows as the network sees them (windowed when the model uses windows).
    back : ndarray of int (n_caller,)
        ``result[back]`` puts per-model-row results in the caller's row order,
        leaving out context rows.
    fill : ndarray (n_model,)
        Share of each window holding real rows (all ones without windows).
    sorted_frame : DataFrame or None
        The input rows in window order (None without windows).
    starts : ndarray of bool or None
        Where each group begins in ``sorted_frame``.
    """

    enc: Encoded
    back: np.ndarray
    fill: np.ndarray
    sorted_frame: pd.DataFrame | None = None
    starts: np.ndarray | None = None


def prepare(frame: pd.DataFrame, pre: TabularPreprocessor, spec: windows.WindowSpec | None,
            context: pd.DataFrame | None = None, summary: pd.DataFrame | None = None) -> Prepared:
    """Encode ``frame`` (after optional ``context`` rows) into model rows.

    Parameters
    ----------
    frame : DataFrame
        Checked input rows.
    pre : TabularPreprocessor
        Fitted encoder of the feature columns.
    spec : WindowSpec or None
        Windowing, or None for row-wise models.
    context : DataFrame, optional
        Earlier rows of the same series (windowed models only).
    summary : DataFrame, optional
        Summary windows without ``context`` only: the statistics of
        ``frame`` as :func:`summary_training_frame` returned them, so that
        fitting does not compute them twice.
    """
    if spec is None:
        enc = pre.transform(frame)
        n = len(enc)
        return Prepared(enc, np.arange(n), np.ones(n))
    for rows in (frame, context):  # before sorting, so an error names the caller's row
        if rows is None:
            continue
        windows.check_key_columns(rows, spec)
        if spec.features == "summary":
            windows.check_channels(rows, spec.summarised)
        else:
            check_numeric(rows, pre.num_names_)
    n_ctx = 0 if context is None else len(context)
    full = frame if not n_ctx else pd.concat([context[frame.columns], frame], ignore_index=True)
    order, sorted_frame, starts, idx = _in_window_order(full, spec)
    features = sorted_frame.drop(columns=spec.key_columns())
    if spec.features == "summary":
        if summary is None or n_ctx:
            summary = windows.summary_frame(features, idx, spec.summarised)
        enc = pre.transform(summary)
    else:
        enc = windows.stack_windows(pre.transform(features), idx)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return Prepared(enc, inverse[n_ctx:], windows.window_fill(idx), sorted_frame, starts)


def _in_window_order(frame: pd.DataFrame, spec: windows.WindowSpec):
    """``(order, sorted_frame, starts, idx)``: the rows sorted by group and time, where each
    series starts, and the rows of each window (:func:`windows.window_index`)."""
    order = windows.order_rows(frame, spec)
    sorted_frame = frame.iloc[order].reset_index(drop=True)
    starts = windows.group_starts(sorted_frame, spec)
    return order, sorted_frame, starts, windows.window_index(starts, spec.size)


def summary_training_frame(frame: pd.DataFrame, spec: windows.WindowSpec) -> pd.DataFrame:
    """The per-window statistics of ``frame`` (window order), to fit the preprocessor on."""
    _, sorted_frame, _, idx = _in_window_order(frame, spec)
    return windows.summary_frame(sorted_frame.drop(columns=spec.key_columns()), idx, spec.summarised)


def feature_owner(pre: TabularPreprocessor, window_size: int = 1) -> np.ndarray:
    """Input column (index into ``pre.schema_``) behind each model feature.

    Model features are the numeric ones then the categorical ones; with
    windows each block is laid out position-major.
    """
    position = {s.name: i for i, s in enumerate(pre.schema_)}
    num = np.array([position[n] for n in pre.num_names_], dtype=np.int64)
    cat = np.array([position[s.name] for s in pre.cat_specs_], dtype=np.int64)
    return np.concatenate([np.tile(num, window_size), np.tile(cat, window_size)])


def aggregate(terms: np.ndarray, owner: np.ndarray, n_columns: int) -> np.ndarray:
    """Sum per-feature values into their input columns, (n, n_columns)."""
    perm = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[perm], np.arange(n_columns))
    return np.add.reduceat(terms[:, perm], bounds, axis=1) if terms.shape[0] else np.zeros((0, n_columns))


def missing_mask(enc: Encoded) -> np.ndarray:
    """Bool (n, d_num + d_cat): True where a model feature is missing or padding."""
    return np.concatenate([np.isnan(enc.num), enc.cat < 0], axis=1)
