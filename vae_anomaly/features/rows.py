"""The rows the network sees: from a checked input frame to encoded model rows, and back.

Without windows a model row is an input row. With windows, the rows (after
any ``context`` rows, the tail of the previous batch when streaming) are
checked and put in window order once (:func:`order_windowed`); each becomes
the window ending at it, and results are put back in the caller's order
afterwards. Context rows fill the first windows but get no result of their
own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from . import series, windows
from .encoder import Encoded, TabularPreprocessor
from .schema import check_numeric
from .series import WindowSpec
from .summation import reduceat_like_numpy

__all__ = ["Ordered", "Prepared", "order_windowed", "prepare", "training_rows", "cut_short", "feature_owner",
           "aggregate", "missing_mask", "own_missing", "holding", "contribution_columns"]


@dataclass
class Ordered:
    """A windowed batch, checked once and sorted once by series and time.

    Attributes
    ----------
    frame : DataFrame
        The context rows and the batch's rows together, in window order.
    order : ndarray of int (n_context + n,)
        ``frame`` row ``i`` is row ``order[i]`` of the context rows followed
        by the batch's rows.
    n_context : int
        How many of those rows came from the context.
    starts : ndarray of bool (n_context + n,)
        True where a series begins in ``frame``.
    """

    frame: pd.DataFrame
    order: np.ndarray
    n_context: int
    starts: np.ndarray

    @property
    def from_context(self) -> np.ndarray:
        """Bool (n_context + n,): which rows of ``frame`` came from the context."""
        return self.order < self.n_context


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
        Where each series begins in ``sorted_frame``.
    """

    enc: Encoded
    back: np.ndarray
    fill: np.ndarray
    sorted_frame: pd.DataFrame | None = None
    starts: np.ndarray | None = None


def order_windowed(frame: pd.DataFrame, pre: TabularPreprocessor, spec: WindowSpec,
                   context: pd.DataFrame | None = None, context_checked: bool = False) -> Ordered:
    """Check ``frame`` and ``context`` for a windowed model, then sort them once.

    The checks run on the caller's rows, before sorting, so an error names
    the caller's row: key columns present, complete and of the fitted time
    kind; channels numeric and finite. ``context_checked`` skips them for
    context rows that were checked with an earlier batch (a stream).

    Raises
    ------
    InvalidInputError, SchemaMismatchError
        Naming the column (and row) at fault.
    """
    for rows in (frame, None if context_checked else context):
        if rows is None:
            continue
        series.check_key_columns(rows, spec)
        if spec.features == "summary":
            windows.check_channels(rows, spec.summarised)
        else:
            check_numeric(rows, pre.num_names_)
    n_ctx = 0 if context is None else len(context)
    full = frame if not n_ctx else pd.concat([context[frame.columns], frame], ignore_index=True)
    order, starts = series.window_order(full, spec)  # context rows are in order already
    if order is None:  # rows already in window order are not copied
        return Ordered(full.reset_index(drop=True), np.arange(len(full)), n_ctx, starts)
    return Ordered(full.iloc[order].reset_index(drop=True), order, n_ctx, starts)


def prepare(frame: pd.DataFrame | None, pre: TabularPreprocessor, spec: WindowSpec | None,
            context: pd.DataFrame | None = None, summary: pd.DataFrame | None = None,
            ordered: Ordered | None = None) -> Prepared:
    """Encode ``frame`` (after optional ``context`` rows) into model rows.

    Parameters
    ----------
    frame : DataFrame or None
        Checked input rows (None when ``ordered`` is given).
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
    ordered : Ordered, optional
        Windowed models: the rows as :func:`order_windowed` returned them,
        so that a streamed batch is checked and sorted once.
    """
    if spec is None:
        enc = pre.transform(frame)
        n = len(enc)
        return Prepared(enc, np.arange(n), np.ones(n))
    if ordered is None:
        ordered = order_windowed(frame, pre, spec, context)
    idx = windows.window_index(ordered.starts, spec.size)
    features = ordered.frame.drop(columns=spec.key_columns())
    if spec.features == "summary":
        if summary is None or ordered.n_context:
            summary = windows.summary_frame(features, idx, spec.summarised)
        enc = pre.transform(summary)
    else:
        enc = windows.stack_windows(pre.transform(features), idx)
    inverse = np.empty_like(ordered.order)
    inverse[ordered.order] = np.arange(ordered.order.size)
    return Prepared(enc, inverse[ordered.n_context:], windows.window_fill(idx), ordered.frame, ordered.starts)


def training_rows(frame: pd.DataFrame, spec: WindowSpec | None, scaler: str,
                  max_categories: int) -> tuple[Prepared, TabularPreprocessor, WindowSpec | None]:
    """The training rows as model rows, the encoder fitted on them, and the window settings completed.

    With windows, ``spec`` is completed from the rows
    (:func:`~vae_anomaly.features.windows.training_windows`) and with the
    median time step within their series (:func:`~vae_anomaly.features.series.median_step`).

    Parameters
    ----------
    frame : DataFrame
        Checked training rows (with the time and group columns, for windows).
    spec : WindowSpec or None
        The windows asked for (:func:`~vae_anomaly.features.series.requested_window`).
    scaler : {"robust", "quantile", "standard"}
    max_categories : int
        As ``VAEDetector``'s parameters of the same names.
    """
    features, summary = frame, None
    if spec is not None:
        spec, features = windows.training_windows(frame, spec, max_categories)
        summary = features if spec.features == "summary" else None
    pre = TabularPreprocessor(scaler, max_categories).fit(features)
    prep = prepare(frame, pre, spec, summary=summary)
    if spec is not None:
        spec = replace(spec, median_step_s=series.median_step(prep.sorted_frame, spec, prep.starts))
    return prep, pre, spec


def cut_short(prep: Prepared, pre: TabularPreprocessor, spec: WindowSpec, rows: np.ndarray,
              real: int) -> Encoded:
    """Model rows of the windows ending at ``rows``, cut to their last ``real`` input rows.

    They are what the same rows would be as row number ``real`` of a new
    series (a warm-up row): with summary statistics, those of the last
    ``real`` readings only; with stacked windows, the older positions
    masked.

    Parameters
    ----------
    prep : Prepared
        Windowed model rows, as :func:`prepare` returned them.
    pre : TabularPreprocessor
        The fitted encoder.
    spec : WindowSpec
        The window settings.
    rows : ndarray of int
        Model rows (positions in ``prep.sorted_frame``).
    real : int
        Input rows kept in each window, 1 to ``spec.size``.
    """
    idx = windows.cut_windows(windows.window_index(prep.starts, spec.size)[rows], real)
    needed = np.unique(idx[idx >= 0])  # only the input rows these windows hold
    idx = np.where(idx >= 0, np.searchsorted(needed, idx), -1)
    features = prep.sorted_frame.drop(columns=spec.key_columns()).iloc[needed]
    if spec.features == "summary":
        return pre.transform(windows.summary_frame(features, idx, spec.summarised))
    return windows.stack_windows(pre.transform(features), idx)


def feature_owner(pre: TabularPreprocessor, window_size: int = 1) -> np.ndarray:
    """Input column (index into ``pre.schema_``) behind each model feature.

    Model features are the numeric ones then the categorical ones; with
    windows each block is laid out position-major.
    """
    position = {s.name: i for i, s in enumerate(pre.schema_)}
    num = np.array([position[n] for n in pre.num_names_], dtype=np.int64)
    cat = np.array([position[s.name] for s in pre.cat_specs_], dtype=np.int64)
    return np.concatenate([np.tile(num, window_size), np.tile(cat, window_size)])


def aggregate(terms: np.ndarray, owner: np.ndarray, n_columns: int, block: int = 4096) -> np.ndarray:
    """Sum per-feature values into their input columns, (n, n_columns).

    Each column's features are added in the order of ``owner`` as
    ``np.add.reduceat`` adds them, so the sums are its to the last bit;
    rows go a block at a time, features as contiguous rows of the block.
    """
    perm = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[perm], np.arange(n_columns + 1))
    if not terms.shape[0]:
        return np.zeros((0, n_columns))
    if (np.diff(bounds) == 0).any():  # a column without features: reduceat's own rule for it
        return np.add.reduceat(terms[:, perm], bounds[:-1], axis=1)
    out = np.empty((terms.shape[0], n_columns))
    for start in range(0, terms.shape[0], block):
        features = terms[start: start + block].T[perm]  # (d, rows): each feature contiguous
        for c in range(n_columns):
            first = bounds[c]
            out[start: start + block, c] = reduceat_like_numpy(lambda j, a=first, f=features: f[a + j],
                                                               bounds[c + 1] - first)
    return out


def missing_mask(enc: Encoded) -> np.ndarray:
    """Bool (n, d_num + d_cat): True where a model feature is missing or padding."""
    return np.concatenate([np.isnan(enc.num), enc.cat < 0], axis=1)


def own_missing(prep: Prepared, pre: TabularPreprocessor, spec: WindowSpec | None) -> np.ndarray:
    """Bool (n_model, n_columns): which cells of the input row behind each model row are missing.

    The row a window ends at, for windowed models; the columns are those
    contributions are reported for (the schema's, or a summary window's
    channels). Padding is never missing: only a row's own cells count.
    """
    if spec is None:
        position = {s.name: i for i, s in enumerate(pre.schema_)}
        out = np.zeros((len(prep.enc), len(pre.schema_)), dtype=bool)
        out[:, [position[n] for n in pre.num_names_]] = np.isnan(prep.enc.num)
        out[:, [position[s.name] for s in pre.cat_specs_]] = prep.enc.cat < 0
        return out
    return prep.sorted_frame[contribution_columns(pre, spec)].isna().to_numpy()


def contribution_columns(pre: TabularPreprocessor, spec: WindowSpec | None) -> list[str]:
    """The input columns contributions are reported for: a summary window's channels, else the schema's."""
    if spec is not None and spec.features == "summary":
        return list(spec.channels)
    return [s.name for s in pre.schema_]


def holding(prep: Prepared, marked: np.ndarray, spec: WindowSpec | None) -> np.ndarray:
    """Bool (n_model,): the model rows that are, or (windows) hold, an input row marked in ``marked``.

    Without windows a model row is its input row. With windows, each window
    holding a marked row, at its end or earlier, is marked: a known anomaly
    shapes the statistics (or positions) of every window it is in. The
    marked rows stay in the series, filling the windows of the rows after
    them.

    Parameters
    ----------
    prep : Prepared
        The rows as :func:`prepare` returned them.
    marked : ndarray of bool (n_caller,)
        One flag per input row, in the caller's order.
    spec : WindowSpec or None
        The fitted window settings.
    """
    out = np.zeros(len(prep.enc), dtype=bool)
    out[prep.back] = marked
    if spec is None:
        return out
    idx = windows.window_index(prep.starts, spec.size)
    return (out[idx] & (idx >= 0)).any(axis=1)
