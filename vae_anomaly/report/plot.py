"""Figures of a detector's results for notebooks and the HTML report, as matplotlib Figures.

Every function returns a :class:`matplotlib.figure.Figure` built without
pyplot, so nothing is drawn on screen, no global figure list grows and the
active backend is never changed; a notebook shows the returned figure, and
``fig.savefig(path)`` writes it. matplotlib is an optional dependency:
install the ``report`` extra (``pip install 'vae-anomaly[report]'``);
without it each function raises
:class:`~vae_anomaly.MissingExtraError` naming the extra.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .figures import FLAG, GREY, NORMAL, new_figure
from .summaries import ScoreHistogram

__all__ = ["score_histogram", "series_with_flags", "latent_map", "contributions", "training_curves"]


def _histogram(scores, calibration_scores) -> ScoreHistogram:
    ref = np.asarray(calibration_scores if calibration_scores is not None and len(calibration_scores)
                     else scores, dtype=np.float64)
    lo, mid, hi = np.quantile(ref, [0.05, 0.5, 0.95]) if ref.size else (0.0, 0.0, 1.0)
    hist = ScoreHistogram(mid, (hi - lo) / 2)
    hist.add(scores)
    return hist


def score_histogram(scores=None, *, threshold: float | None = None, calibration_scores=None,
                    histogram: ScoreHistogram | None = None, title: str | None = None):
    """Histogram of anomaly scores with the threshold and the calibration scores overlaid.

    Around the bulk of the scores the x axis is linear; when the scores
    reach far beyond it, the axis turns logarithmic in the tails (an asinh
    scale centred on the calibration median), so a few huge scores do not
    squash everything else into one bar. Counts are on a log axis when
    they span more than two decades.

    Parameters
    ----------
    scores : array-like (n,), optional
        Anomaly scores (higher = more anomalous). Give this or ``histogram``.
    threshold : float, optional
        Drawn as a vertical line.
    calibration_scores : array-like (m,), optional
        Held-out scores the threshold came from; drawn as an outline scaled
        to the same number of rows.
    histogram : ScoreHistogram, optional
        Pre-computed counts (the report streams them).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed.
    """
    fig = new_figure()
    hist = histogram if histogram is not None else _histogram(np.asarray(scores), calibration_scores)
    ax = fig.subplots()
    u_lo, u_hi = hist.to_u(np.array([hist.min, hist.max]))
    if threshold is not None:
        u_t = float(hist.to_u(threshold))
        u_lo, u_hi = min(u_lo, u_t), max(u_hi, u_t)
    log_x = u_hi - u_lo > 6.0  # the range reaches well past the linear region
    edges, counts = hist.bars(80, (u_lo, u_hi), linear=not log_x)
    ax.stairs(counts, edges, fill=True, color=NORMAL, alpha=0.75, label=f"scored rows ({hist.total:,})")
    if calibration_scores is not None and len(calibration_scores):
        cal = np.asarray(calibration_scores, dtype=np.float64)
        expected, _ = np.histogram(np.clip(cal, edges[0], edges[-1]), bins=edges)
        ax.stairs(expected * hist.total / cal.size, edges, color="black", linewidth=1.0,
                  label=f"held-out calibration rows ({cal.size:,}), scaled")
    if threshold is not None:
        ax.axvline(threshold, color=FLAG, linestyle="--", linewidth=1.5, label=f"threshold {threshold:.4g}")
    if log_x:
        ax.set_xscale("function", functions=(hist.to_u, hist.from_u))
        ticks = hist.from_u(np.linspace(u_lo, u_hi, 8))
        ax.set_xticks([float(f"{t:.2g}") for t in ticks])
        ax.set_xlabel("anomaly score (linear near the bulk, logarithmic in the tails)")
    else:
        ax.set_xlabel("anomaly score")
    positive = counts[counts > 0]
    if positive.size and positive.max() > 100 * positive.min():
        ax.set_yscale("log")
    ax.set_ylabel("rows")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_title(title or "Anomaly scores", loc="left", fontsize=11)
    return fig


def series_with_flags(frame: pd.DataFrame, channels, *, x: str | None = None, score: str | None = None,
                      threshold: float | None = None, flagged=None, gaps=None, title: str | None = None):
    """Channels of one series over time, with flagged rows marked and time gaps shaded.

    Parameters
    ----------
    frame : DataFrame
        Rows of one series, in time order.
    channels : sequence of str
        Numeric columns to draw, one panel each.
    x : str, optional
        Column on the x axis (a time column); the row position by default.
    score : str, optional
        Column of anomaly scores, drawn in a last panel.
    threshold : float, optional
        Flags rows whose ``score`` is above it, and is drawn in the score panel.
    flagged : array-like of bool (n,), optional
        Flags to mark instead of ``score > threshold``.
    gaps : sequence of (start, end), optional
        Time gaps to shade, in ``x`` units.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    channels = list(channels)
    panels = channels + ([score] if score is not None else [])
    fig = new_figure(9.0, 0.35 + 1.05 * len(panels))
    axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True))
    xs = frame[x].to_numpy() if x is not None else np.arange(len(frame))
    if flagged is None:
        flagged = (frame[score].to_numpy() > threshold) if score is not None and threshold is not None \
            else np.zeros(len(frame), dtype=bool)
    flagged = np.asarray(flagged, dtype=bool)
    for ax, name in zip(axes, panels, strict=True):
        values = frame[name].to_numpy(dtype=np.float64)
        ax.plot(xs, values, color=NORMAL if name != score else "black", linewidth=0.8)
        ax.scatter(xs[flagged], values[flagged], s=9, color=FLAG, zorder=3, linewidths=0)
        for start, end in gaps or ():
            ax.axvspan(start, end, color=GREY, alpha=0.35, linewidth=0)
        ax.set_ylabel(name if len(name) <= 14 else name[:13] + "…", fontsize=8)
        ax.tick_params(labelsize=8)
    if score is not None and threshold is not None:
        axes[-1].axhline(threshold, color=FLAG, linestyle="--", linewidth=1)
    if score is not None and len(frame):
        s = frame[score].to_numpy(dtype=np.float64)
        if np.nanmin(s) > 0 and np.nanmax(s) > 30 * np.nanmin(s):
            axes[-1].set_yscale("log")
    axes[0].set_title(title or "Series", loc="left", fontsize=10)
    axes[-1].set_xlabel(x or "row", fontsize=8)
    return fig


def _project(latent: np.ndarray, extra: np.ndarray | None):
    """2-D principal components of ``latent`` (and ``extra`` projected the same way)."""
    latent = np.asarray(latent, dtype=np.float64)
    if latent.shape[1] <= 2:
        pad = [(0, 0), (0, 2 - latent.shape[1])]
        return np.pad(latent, pad), None if extra is None else np.pad(extra, pad), None
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, svd_solver="full").fit(latent)
    return (pca.transform(latent), None if extra is None else pca.transform(extra),
            pca.explained_variance_ratio_)


def latent_map(latent, scores, *, threshold: float | None = None, labels=None, highlight=None,
               title: str | None = None):
    """Rows in the latent space, projected on its first two principal components.

    Parameters
    ----------
    latent : array-like (n, latent_dim)
        Latent means of the rows (:meth:`VAEDetector.transform`).
    scores : array-like (n,)
        Anomaly scores, for the colour (diverging at ``threshold``).
    threshold : float, optional
    labels : array-like of bool (n,), optional
        Known anomalies; adds a second panel coloured by label.
    highlight : array-like (m, latent_dim), optional
        Further rows (the top-scored ones) drawn as black-edged markers.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Principal component analysis (Pearson, 1901) through scikit-learn's
    ``PCA``; a latent space of one or two dimensions is drawn as it is.
    """
    from matplotlib.colors import TwoSlopeNorm

    fig = new_figure(9.0 if labels is not None else 5.6, 4.2)
    axes = np.atleast_1d(fig.subplots(1, 2 if labels is not None else 1))
    xy, hi_xy, ratio = _project(np.asarray(latent), None if highlight is None else np.asarray(highlight))
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind="stable")  # the highest scores on top
    lo, top = np.quantile(scores, [0.0, 0.999]) if scores.size else (0.0, 1.0)
    centre = threshold if threshold is not None and lo < threshold < top else (lo + top) / 2
    norm = TwoSlopeNorm(vcenter=centre, vmin=min(lo, centre - 1e-9), vmax=max(top, centre + 1e-9))
    dots = axes[0].scatter(xy[order, 0], xy[order, 1], c=scores[order], cmap="coolwarm", norm=norm, s=7,
                           linewidths=0)
    fig.colorbar(dots, ax=axes[0], label="anomaly score" + (" (threshold at white)" if threshold else ""),
                 shrink=0.85)
    if labels is not None:
        labels = np.asarray(labels, dtype=bool)
        for value, colour, name in ((False, GREY, "labelled normal"), (True, FLAG, "labelled anomaly")):
            sel = labels == value
            axes[1].scatter(xy[sel, 0], xy[sel, 1], s=7 if not value else 12, color=colour, linewidths=0,
                            label=f"{name} ({int(sel.sum()):,})")
        axes[1].legend(fontsize=8, frameon=False, loc="best")
    for ax in axes:
        if hi_xy is not None and len(hi_xy):
            ax.scatter(hi_xy[:, 0], hi_xy[:, 1], s=22, facecolors="none", edgecolors="black", linewidths=0.8,
                       label=None)
        pct = ("", "") if ratio is None else tuple(f" ({100 * r:.0f}% of variance)" for r in ratio)
        ax.set_xlabel(f"component 1{pct[0]}", fontsize=8)
        ax.set_ylabel(f"component 2{pct[1]}", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].set_title(title or "Latent space", loc="left", fontsize=10)
    return fig


def contributions(values, *, max_columns: int = 12, title: str | None = None):
    """Per-column contributions to anomaly scores: bars for one row, a heat map for several.

    Parameters
    ----------
    values : Series or DataFrame
        One row (Series indexed by column) or rows x columns, as returned
        by :meth:`VAEDetector.feature_contributions`.
    max_columns : int, default=12
        Columns shown: those with the largest total contribution.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    frame = values.to_frame().T if isinstance(values, pd.Series) else pd.DataFrame(values)
    order = frame.clip(lower=0).sum().sort_values(ascending=False, kind="stable").index[:max_columns]
    frame = frame[order]
    if len(frame) == 1:
        fig = new_figure(3.3, 0.8 + 0.2 * len(order))
        ax = fig.subplots()
        row = frame.iloc[0].to_numpy(dtype=np.float64)
        ax.barh(np.arange(len(order))[::-1], row, color=np.where(row > 0, FLAG, NORMAL))
        ax.set_yticks(np.arange(len(order))[::-1], [str(c) for c in order], fontsize=8)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_xlabel("contribution to the anomaly score", fontsize=8)
    else:
        from matplotlib.colors import TwoSlopeNorm

        fig = new_figure(9.0, 1.2 + 0.16 * len(frame))
        ax = fig.subplots()
        data = frame.to_numpy(dtype=np.float64)
        span = max(float(np.nanmax(np.abs(data))) if data.size else 1.0, 1e-9)
        image = ax.imshow(data, aspect="auto", cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -span, span),
                          interpolation="nearest")
        ax.set_xticks(np.arange(len(order)), [str(c) for c in order], rotation=30, ha="right", fontsize=8)
        ax.set_yticks(np.arange(len(frame)), [str(i) for i in frame.index], fontsize=6)
        fig.colorbar(image, ax=ax, label="contribution", shrink=0.9)
    ax.tick_params(labelsize=8)
    ax.set_title(title or "Contributions by column", loc="left", fontsize=10)
    return fig


def training_curves(loss, validation_loss=None, *, best_epoch: int | None = None, title: str | None = None):
    """Training (and validation) loss per epoch, with the best epoch marked.

    Parameters
    ----------
    loss, validation_loss : array-like (epochs,)
        ``loss_curve_`` and ``validation_loss_curve_`` of a fitted detector.
    best_epoch : int, optional
        1-based epoch whose weights were kept.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure(5.6, 3.2)
    ax = fig.subplots()
    loss = np.asarray(loss, dtype=np.float64)
    ax.plot(np.arange(1, loss.size + 1), loss, color=NORMAL, label="training loss")
    if validation_loss is not None and len(validation_loss):
        val = np.asarray(validation_loss, dtype=np.float64)
        ax.plot(np.arange(1, val.size + 1), val, color="black", label="validation loss")
    if best_epoch:
        ax.axvline(best_epoch, color=FLAG, linestyle=":", label=f"best epoch {best_epoch}")
    finite = loss[np.isfinite(loss)]
    if finite.size and finite.min() > 0 and finite.max() > 30 * finite.min():
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel("loss per row (negative ELBO)", fontsize=8)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title or "Training", loc="left", fontsize=10)
    return fig
