"""Figures that check a run: scores against labels (ROC, precision-recall), scored data against fitted data.

Like :mod:`vae_anomaly.report.plot`, each function returns a matplotlib Figure
built without pyplot; matplotlib comes with the ``report`` extra.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .figures import FLAG, GREY, NORMAL, new_figure

__all__ = ["roc_pr_curves", "column_shift"]


def roc_pr_curves(labels, scores, *, threshold: float | None = None, title: str | None = None):
    """ROC and precision-recall curves of scores against labels, with the threshold's point marked.

    Parameters
    ----------
    labels : array-like of bool (n,)
        True for known anomalies; both classes must be present.
    scores : array-like (n,)
        Anomaly scores, higher = more anomalous.
    threshold : float, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import precision_recall_curve, roc_curve

    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    fig = new_figure(9.0, 3.8)
    ax_roc, ax_pr = fig.subplots(1, 2)
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores, drop_intermediate=True)
    ax_roc.plot(fpr, tpr, color=NORMAL)
    ax_roc.plot([0, 1], [0, 1], color=GREY, linestyle=":", linewidth=0.8)
    ax_pr.step(recall, precision, where="post", color=NORMAL)
    ax_pr.axhline(labels.mean(), color=GREY, linestyle=":", linewidth=0.8)
    if threshold is not None:
        flags = scores > threshold
        tp = np.count_nonzero(flags & labels)
        rec = tp / max(labels.sum(), 1)
        ax_roc.plot(np.count_nonzero(flags & ~labels) / max((~labels).sum(), 1), rec, "o", color=FLAG,
                    label="at the threshold")
        ax_pr.plot(rec, tp / max(flags.sum(), 1), "o", color=FLAG, label="at the threshold")
        ax_roc.legend(fontsize=8, frameon=False, loc="lower right")
    ax_roc.set(xlabel="false-positive rate", ylabel="true-positive rate (recall)")
    ax_pr.set(xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.xaxis.label.set_size(8)
        ax.yaxis.label.set_size(8)
        ax.tick_params(labelsize=8)
    ax_roc.set_title(title or "ROC", loc="left", fontsize=10)
    ax_pr.set_title("Precision-recall", loc="left", fontsize=10)
    return fig


def column_shift(table: pd.DataFrame, *, title: str | None = None):
    """Which columns moved: standardised mean shift and share of values outside the fitted range.

    Parameters
    ----------
    table : DataFrame
        Indexed by column name, with ``shift_sd`` ((scored mean - fitted
        mean) / fitted standard deviation) and ``outside_share`` (0 to 1).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure(9.0, 0.9 + 0.26 * max(len(table), 1))
    ax_shift, ax_out = fig.subplots(1, 2, sharey=True)
    pos = np.arange(len(table))[::-1]
    shift = table["shift_sd"].to_numpy(dtype=np.float64)
    ax_shift.barh(pos, shift, color=np.where(np.abs(shift) >= 0.5, FLAG, NORMAL))
    ax_shift.axvline(0, color="black", linewidth=0.6)
    reach = np.nanmax(np.abs(shift), initial=0.0)
    ax_shift.set_xlim(-max(1.1 * reach, 0.5), max(1.1 * reach, 0.5))  # noise stays a sliver
    outside = 100 * table["outside_share"].to_numpy(dtype=np.float64)
    ax_out.barh(pos, outside, color=GREY)
    ax_out.set_xlim(0, max(1.1 * np.nanmax(outside, initial=0.0), 1.0))
    ax_shift.set_yticks(pos, [str(c) for c in table.index], fontsize=8)
    ax_shift.set_xlabel("mean shift, in fitted standard deviations", fontsize=8)
    ax_out.set_xlabel("% of values outside the fitted range", fontsize=8)
    for ax in (ax_shift, ax_out):
        ax.tick_params(labelsize=8)
    ax_shift.set_title(title or "Columns: scored data against the fitted data", loc="left", fontsize=10)
    return fig
