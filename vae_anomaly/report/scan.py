"""The report's passes over the data: score each record batch once and keep bounded summaries.

:func:`scan_table` scores every row (in worker threads, in input order,
with window context carried between batches as ``vae-detect score`` does)
and feeds the summaries of :mod:`vae_anomaly.report.summaries` and
:mod:`vae_anomaly.report.strips`. :func:`scan_series` reads the data again for
the few series that get a strip, scoring only their rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ..features import series
from ..features.row_keys import RowKey, content_keys, key_text
from ..jobs.metrics import binary_labels
from ..jobs.stream import details as score_details
from ..jobs.stream import frames, in_order
from .strips import ALL_ROWS, SeriesStats, Strip
from .summaries import ColumnStats, RowSample, ScoreHistogram, TopRows

__all__ = ["ROW", "OWNER", "Scan", "numbered", "scan_table", "scan_series", "time_numbers"]

ROW = "__vae_report_row__"  # row number in the input, from 0
OWNER = "__vae_report_owner__"  # in the row sample: the sampled row a window row belongs to
SCORE = "__vae_report_score__"  # in the row sample: the sampled row's anomaly score
LABEL = "__vae_report_label__"  # in the row sample: the sampled row's label
SAMPLE_ROWS = 2000  # rows in the latent map
MAX_SERIES = 4  # series that get a strip
MAX_CHANNELS = 3  # channels drawn per strip


@dataclass
class Scan:
    """Everything the report keeps from the data (bounded except ``labels``/``scores``/``flags``)."""

    names: list
    features: list
    threshold: float
    calibration_scores: np.ndarray
    spec: object
    histogram: ScoreHistogram
    top: TopRows
    sample: RowSample
    columns: ColumnStats
    series: SeriesStats | None
    label_name: str = ""
    rows: int = 0
    flagged: int = 0
    time_kind: str | None = None
    labels: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    strips: dict = field(default_factory=dict)
    fitted: pd.DataFrame | None = None
    key: RowKey | None = None


def numbered(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches with their row numbers (from 0) added as column :data:`ROW`."""
    start = 0
    for batch in batches:
        rows = pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64))
        start += batch.num_rows
        yield batch.append_column(ROW, rows)


def time_numbers(col: pd.Series) -> tuple[np.ndarray, str]:
    """A time column as float64 numbers that order like it (see
    :func:`vae_anomaly.features.series.time_values`), and its kind
    (:func:`vae_anomaly.features.series.time_kind`)."""
    return series.time_values(col).astype(np.float64), series.time_kind(col)


def _fitted_columns(scorer, features: list) -> pd.DataFrame:
    """What the model saw of each input column at fit: kind, mean, sd, min, max, levels."""
    pre = scorer.preprocessor_
    num = {n: j for j, n in enumerate(pre.num_names_)}
    levels = {s.name: list(s.categories) for s in pre.schema_ if s.categories is not None}
    rows = []
    for name in features:
        j = num.get(name)
        rows.append({"column": name, "kind": "numeric" if j is not None else "categorical",
                     "mean": float(pre.mean_[j]) if j is not None else np.nan,
                     "sd": float(pre.std_[j]) if j is not None else np.nan,
                     "min": float(pre.quantiles_[j, 0]) if j is not None else np.nan,
                     "max": float(pre.quantiles_[j, -1]) if j is not None else np.nan,
                     "levels": levels.get(name)})
    return pd.DataFrame(rows).set_index("column")


def _new_scan(scorer, names: list, label_name: str, top: int, key: RowKey | None) -> Scan:
    features = scorer.feature_names() if hasattr(scorer, "feature_names") else list(names)
    cal = np.sort(np.asarray(scorer.calibration_scores_, dtype=np.float64))
    lo, mid, hi = np.quantile(cal, [0.05, 0.5, 0.95]) if cal.size else (0.0, 0.0, 1.0)
    fitted = _fitted_columns(scorer, features)
    numeric = {n: (r["min"], r["max"]) for n, r in fitted.iterrows() if r["kind"] == "numeric"}
    categorical = {n: r["levels"] for n, r in fitted.iterrows() if r["levels"] is not None}
    spec = getattr(scorer, "window_spec_", None)
    return Scan(names=names, features=features, threshold=float(scorer.threshold_),
                calibration_scores=cal, spec=spec, histogram=ScoreHistogram(mid, (hi - lo) / 2),
                top=TopRows(top), sample=RowSample(SAMPLE_ROWS, OWNER),
                columns=ColumnStats(numeric, categorical, features),
                series=SeriesStats(features) if spec is not None else None,
                label_name=label_name, fitted=fitted, key=key)


def _window_blocks(batch_rows, spec, rows: np.ndarray) -> pd.DataFrame:
    """For each row numbered in ``rows``, itself and the earlier rows of its window, tagged with OWNER.

    ``batch_rows`` is the batch after its context rows, in window order (see
    :func:`vae_anomaly.features.rows.order_windowed`).
    """
    ordered, from_context = batch_rows.frame, batch_rows.from_context
    own = ordered[ROW].to_numpy()
    pos = np.flatnonzero(~from_context & np.isin(own, rows))
    n = len(ordered)
    if spec.group_column is not None and n:
        key = ordered[spec.group_column].astype(str).to_numpy()
        new = np.r_[True, key[1:] != key[:-1]]
    else:
        new = np.r_[True, np.zeros(max(n - 1, 0), dtype=bool)]
    first = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    idx = pos[:, None] + np.arange(-spec.size + 1, 1)[None, :]
    ok = idx >= first[pos][:, None]
    blocks = ordered.iloc[idx[ok]].reset_index(drop=True)
    blocks[OWNER] = np.repeat(own[pos], ok.sum(axis=1))
    return blocks


def _sample_part(scan: Scan, frame, ordered, details, cand: np.ndarray, labels) -> pd.DataFrame:
    rows = frame[ROW].to_numpy()[cand]
    if scan.spec is None:
        part = frame.iloc[cand].reset_index(drop=True)
        part[OWNER] = rows
    else:
        part = _window_blocks(ordered, scan.spec, rows)
    by_row = pd.DataFrame({OWNER: rows, SCORE: details.anomaly_score[cand],
                           LABEL: labels[cand] if labels is not None else False})
    return part.merge(by_row, on=OWNER, how="left")


def _series_keys(spec, frame: pd.DataFrame, seen: SeriesStats) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Series name and x coordinate of each row, and the time's kind.

    x is the time as numbers, or without a time column the row's position
    in its series (counting the rows already in ``seen``).
    """
    groups = (frame[spec.group_column].to_numpy() if spec.group_column is not None
              else np.full(len(frame), ALL_ROWS, dtype=object))
    if spec.time_column is not None:
        x, kind = time_numbers(frame[spec.time_column])
        return groups, x, kind
    keys = pd.Series(groups)
    return (groups,
            seen.rows_before(keys) + keys.groupby(keys, sort=False).cumcount().to_numpy(dtype=np.float64),
            None)


def _top_part(scan: Scan, frame: pd.DataFrame, details, labels) -> pd.DataFrame:
    """The batch's ``k`` highest-scoring rows: row number, results, ``value:`` and ``contrib:`` columns."""
    k = min(scan.top.k, len(frame))
    idx = np.sort(np.argpartition(-details.anomaly_score, k - 1)[:k])
    part = pd.DataFrame({"row": frame[ROW].to_numpy()[idx], "anomaly_score": details.anomaly_score[idx],
                         "p_value": details.p_value[idx]})
    if labels is not None:
        part["label"] = labels[idx]
    if scan.key is not None:  # the key of the top rows only: a hash of every row would cost every row
        rows = frame.iloc[idx]
        part["key"] = (content_keys(rows, scan.key.hashed) if scan.key.is_hash
                       else [key_text(v) for v in rows[scan.key.name]])
    values = frame.iloc[idx][scan.names].reset_index(drop=True)
    values.columns = [f"value:{c}" for c in scan.names]
    contrib = pd.DataFrame(details.contributions[idx], columns=[f"contrib:{c}" for c in scan.features])
    return pd.concat([part, values, contrib], axis=1)


def scan_table(scorer, batches: Callable[[], Iterator[pa.RecordBatch]], names: list, label: str | None,
               label_name: str, top: int, n_jobs: int = 1, on_rows=None, key: RowKey | None = None) -> Scan:
    """First pass: score every row once and keep the report's summaries (of 0 rows for an empty table).

    With ``key``, each top row keeps its key (:mod:`vae_anomaly.features.row_keys`);
    a key column that the model does not read must be in the batches.

    Raises
    ------
    InvalidInputError
        If a label is missing or unreadable.
    """
    scan = _new_scan(scorer, names, label_name, top, key)
    column = key is not None and not key.is_hash and key.name not in names
    read = names + [ROW] + ([key.name] if column else [])

    def work(batch, frame, ordered):
        details = score_details(scorer, frame, ordered)
        labels = (binary_labels(batch.column(label).to_pandas(), label_name or label)
                  if label is not None else None)
        cand = scan.sample.candidates(frame[ROW].to_numpy(), cutoff)
        return batch, frame, details, labels, _sample_part(scan, frame, ordered, details, cand, labels)

    cutoff = None
    for _batch, frame, details, labels, sampled in in_order(work, frames(scorer, batches(), read), n_jobs):
        scan.rows += len(frame)
        scan.flagged += int(np.count_nonzero(details.is_anomaly))
        scan.histogram.add(details.anomaly_score)
        scan.top.add(_top_part(scan, frame, details, labels))
        scan.sample.add(sampled.loc[sampled[ROW] == sampled[OWNER], OWNER].to_numpy(), sampled)
        cutoff = scan.sample.cutoff()
        scan.columns.add(frame, details.contributions, details.is_anomaly)
        if scan.series is not None:
            groups, x, scan.time_kind = _series_keys(scan.spec, frame, scan.series)
            scan.series.add(groups, x, details.anomaly_score, details.is_anomaly, details.contributions)
        if labels is not None:
            scan.labels.append(labels)
            scan.scores.append(details.anomaly_score)
            scan.flags.append(details.is_anomaly)
        if on_rows is not None:
            on_rows(len(frame))
    return scan


def scan_series(scorer, scan: Scan, batches: Callable[[], Iterator[pa.RecordBatch]], names: list,
                n_jobs: int = 1) -> None:
    """Second pass (windowed models): down-sampled strips of the most anomalous series.

    Only the rows of the chosen series are scored; each strip keeps the
    same bounded number of points whatever the series' length.
    """
    chosen = scan.series.most_anomalous(MAX_SERIES)
    allowed = set(scan.fitted.index[scan.fitted["kind"] == "numeric"])
    for _, row in chosen.iterrows():
        scan.strips[row["group"]] = Strip(scan.series.top_channels(row, allowed, MAX_CHANNELS),
                                          row["x_min"], row["x_max"])
    group = scan.spec.group_column
    wanted = list(scan.strips)

    def chosen_rows() -> Iterator[pa.RecordBatch]:
        for batch in batches():
            if group is None:
                yield batch
            else:  # pandas' isin matches the names whatever the column's Arrow type
                yield batch.filter(pa.array(batch.column(group).to_pandas().isin(wanted).to_numpy()))

    gaps: list = []
    seen = SeriesStats(scan.features)  # positions within each series, for tables without a time column
    for _batch, frame, details in in_order(lambda b, f, o: (b, f, score_details(scorer, f, o)),
                                           frames(scorer, chosen_rows(), names, gaps), n_jobs):
        groups, x, _ = _series_keys(scan.spec, frame, seen)
        for name, strip in scan.strips.items():
            sel = groups == name
            if sel.any():
                strip.add(x[sel], frame.loc[sel, strip.channels], details.anomaly_score[sel])
        seen.add(groups, x, details.anomaly_score, details.is_anomaly, details.contributions)
    if not gaps:
        return
    found = pd.concat(gaps, ignore_index=True)
    for name, strip in scan.strips.items():
        mine = found if group is None else found[found["group"] == name]
        if len(mine):
            before, after = time_numbers(mine["before"])[0], time_numbers(mine["after"])[0]
            strip.add_gaps(list(zip(before, after, mine["seconds"].to_numpy(dtype=np.float64), strict=True)))
