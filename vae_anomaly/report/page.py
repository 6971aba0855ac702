"""The report's page: figures from the scan's summaries, tables, and the HTML layout.

Figures come from :mod:`vae_anomaly.report.plot` and :mod:`vae_anomaly.report.eval_figures`
and are embedded as base64 PNGs; jinja2 lays out the page from
``templates/report.html.j2`` with every value HTML-escaped. The page has
inline CSS only: no script, no external URL.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pandas as pd

from ..jobs.metrics import classification_metrics
from . import eval_figures as plot_eval
from . import plot
from .scan import LABEL, OWNER, ROW, SCORE, Scan
from .strips import ALL_ROWS

__all__ = ["render", "section_ids", "png", "fmt"]

TOP_COLUMNS = 3  # columns listed for each top row
HEATMAP_ROWS = 20  # top rows in the contribution heat map
SERIES_LISTED = 20  # series in the table of most anomalous series


def png(fig, dpi: int = 100) -> str:
    """A figure as a base64 ``data:`` URI (PNG, no creation metadata, so the bytes are reproducible)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def fmt(value, digits: int = 4) -> str:
    """A value for a table cell: integers with separators, floats to ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    return str(value)


def section_ids(scan: Scan) -> list[str]:
    """Ids of the report's sections, in page order (for a table of 0 rows, the summary and training only)."""
    if not scan.rows:
        return ["summary", "training"]
    ids = ["summary", "scores", "top-rows", "columns"]
    ids += ["series"] if scan.strips else []
    ids += ["latent", "training"]
    return ids + (["labels"] if scan.labels else [])


def _top_rows(scan: Scan, detector) -> tuple[list[dict], list[str], pd.DataFrame]:
    table = scan.top.table
    values = table[[f"value:{c}" for c in scan.names]].set_axis(scan.names, axis=1)
    contrib = table[[f"contrib:{c}" for c in scan.features]].set_axis(scan.features, axis=1)
    recon = None
    if scan.spec is None:
        recon = detector.reconstruct(values)
    scale = max(float(contrib.to_numpy().max(initial=0.0)), 1e-12)
    keys = [] if scan.spec is None else scan.spec.key_columns()
    rows = []
    for i, r in table.iterrows():
        c = contrib.iloc[i].sort_values(ascending=False, kind="stable").head(TOP_COLUMNS)
        rows.append({
            "rank": i + 1, "row": int(r["row"]), "score": fmt(r["anomaly_score"]),
            "p": fmt(r["p_value"], 3), "flagged": bool(r["anomaly_score"] > scan.threshold),
            "keys": [fmt(values.at[i, k]) for k in keys],
            "label": fmt(bool(r["label"])) if "label" in table else None,
            "key": (r["key"] or "–") if "key" in table else None,
            "columns": [{"name": name, "contribution": fmt(v, 3), "width": max(0.0, 100 * v / scale),
                         "observed": fmt(values.at[i, name]) if name in values else "–",
                         "reconstructed": (fmt(recon.at[i, name]) if recon is not None and name in recon
                                           else None)}
                        for name, v in c.items()],
        })
    contrib.index = [f"#{i + 1} row {int(r)}" for i, r in enumerate(table["row"])]
    return rows, keys, contrib


def _columns(scan: Scan) -> tuple[list[dict], pd.DataFrame]:
    st, fitted = scan.columns, scan.fitted
    std = st.std()
    out, shift = [], {}
    for j, name in enumerate(st.features):
        f = fitted.loc[name]
        row = {"name": name, "kind": f["kind"], "mean_contribution": fmt(st.contribution_sum[j] / st.rows, 3),
               "top_of_flagged": fmt(int(st.top_counts[j])),
               "missing": fmt(100 * st.missing.get(name, 0) / st.rows, 3)}
        if name in st.numeric:
            k = list(st.numeric).index(name)
            s = (st.mean[k] - f["mean"]) / f["sd"] if st.count[k] else np.nan
            outside = st.outside[k] / st.count[k] if st.count[k] else np.nan
            shift[name] = {"shift_sd": s, "outside_share": outside}
            row.update(fitted_mean=fmt(f["mean"]), fitted_sd=fmt(f["sd"]), mean=fmt(st.mean[k]),
                       sd=fmt(std[k]), shift=f"{s:+.2f}" if np.isfinite(s) else "–",
                       outside=fmt(100 * outside, 3), unseen="")
        elif name in st.unseen:
            row.update(fitted_mean="", fitted_sd="", mean="", sd="", shift="", outside="",
                       unseen=fmt(100 * st.unseen[name] / st.rows, 3))
        out.append(row)
    table = pd.DataFrame.from_dict(shift, orient="index", columns=["shift_sd", "outside_share"])
    table = table.reindex(table["shift_sd"].abs().sort_values(ascending=False, kind="stable").index)
    return out, table.head(25)


def _latent(scan: Scan, detector) -> dict | None:
    sample = scan.sample.payload
    if sample is None or len(sample) < 2:
        return None
    if scan.spec is None:
        own = sample.sort_values(ROW, kind="stable")
        latent = detector.transform(own[scan.names])
        highlight = detector.transform(scan.top.table[[f"value:{c}" for c in scan.names]]
                                       .set_axis(scan.names, axis=1))
    else:  # every sampled row brought the rows of its window: score the union, keep the sampled rows
        union = sample.drop_duplicates(ROW).sort_values(ROW, kind="stable").reset_index(drop=True)
        all_latent = detector.transform(union[scan.names])
        mine = (union[ROW] == union[OWNER]).to_numpy() & union[ROW].isin(scan.sample.rows).to_numpy()
        own_rows = sample[sample[ROW] == sample[OWNER]].drop_duplicates(ROW).set_index(ROW)
        own = own_rows.loc[union.loc[mine, ROW]].reset_index()
        latent, highlight = all_latent[mine], None
    labels = own[LABEL].to_numpy(dtype=bool) if scan.labels else None
    fig = plot.latent_map(latent, own[SCORE].to_numpy(), threshold=scan.threshold, labels=labels,
                          highlight=highlight)
    return {"image": png(fig), "n": len(own)}


def _series(scan: Scan) -> tuple[list[dict], list[dict]]:
    table = scan.series.most_anomalous(SERIES_LISTED)
    listed = [{"name": fmt(r["group"]), "rows": fmt(int(r["rows"])), "flagged": fmt(int(r["flagged"])),
               "max_score": fmt(r["max_score"])} for _, r in table.iterrows()]
    figures = []
    for name, strip in scan.strips.items():
        pts = strip.points()
        gaps = strip.gaps
        stats = table[table["group"] == name].iloc[0]
        if scan.time_kind in ("datetime", "datetime-tz"):
            pts["x"] = pd.to_datetime(pts["x"].to_numpy(dtype=np.int64))
            gaps = [(pd.Timestamp(int(a)), pd.Timestamp(int(b)), s) for a, b, s in gaps]
        where = "all rows" if name is ALL_ROWS else f"{scan.spec.group_column} {name}"
        title = (f"{where}: {int(stats['rows']):,} rows, {int(stats['flagged']):,} flagged, "
                 f"highest score {stats['max_score']:.4g}")
        fig = plot.series_with_flags(pts, strip.channels, x="x", score="anomaly_score",
                                     threshold=scan.threshold, gaps=[(a, b) for a, b, _ in gaps],
                                     title=title)
        utc = " (UTC)" if scan.time_kind == "datetime-tz" else ""
        fig.axes[-1].set_xlabel(f"{scan.spec.time_column}{utc}" if scan.spec.time_column
                                else "position in the series", fontsize=8)
        figures.append({"name": fmt(name), "image": png(fig), "points": len(pts), "gaps": len(gaps),
                        "channels": strip.channels})
    return listed, figures


def _labels(scan: Scan) -> dict | None:
    if not scan.labels:
        return None
    labels, scores = np.concatenate(scan.labels), np.concatenate(scan.scores)
    metrics = classification_metrics(labels, scores, np.concatenate(scan.flags), threshold=scan.threshold)
    image = None
    if metrics["auc_roc"] is not None:
        image = png(plot_eval.roc_pr_curves(labels, scores, threshold=scan.threshold))
    return {"metrics": metrics, "shown": {k: fmt(v) for k, v in metrics.items()}, "image": image}


def render(scan: Scan, detector, info: dict, training: dict, data_name: str) -> bytes:
    """The whole report as UTF-8 HTML; for a table of 0 rows, a page that says so."""
    import jinja2

    figures = {"training": png(plot.training_curves(training.get("loss_curve") or [],
                                                    training.get("validation_loss_curve"),
                                                    best_epoch=training.get("best_epoch")))}
    top_rows, key_columns, columns = [], [], []
    if scan.rows:
        top_rows, key_columns, contrib = _top_rows(scan, detector)
        columns, shift = _columns(scan)
        figures.update(
            histogram=png(plot.score_histogram(histogram=scan.histogram, threshold=scan.threshold,
                                               calibration_scores=scan.calibration_scores)),
            heatmap=png(plot.contributions(contrib.head(HEATMAP_ROWS),
                                           title="Contributions of the top "
                                                 f"{min(len(contrib), HEATMAP_ROWS)} rows")),
            shift=png(plot_eval.column_shift(shift)) if len(shift) else None)
    listed, strips = _series(scan) if scan.strips else ([], [])
    env = jinja2.Environment(loader=jinja2.PackageLoader("vae_anomaly.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = fmt
    page = env.get_template("report.html.j2").render(
        scan=scan, info=info, training=training, data_name=data_name, sections=section_ids(scan),
        share=100 * scan.flagged / scan.rows if scan.rows else 0.0, figures=figures, top_rows=top_rows,
        key_columns=key_columns, key=scan.key, columns=columns,
        latent=_latent(scan, detector) if scan.rows else None,
        series=listed, strips=strips, labels=_labels(scan),
        histogram=scan.histogram)
    return page.encode("utf-8")
