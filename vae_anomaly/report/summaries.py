"""Bounded summaries of a stream of scored rows: histogram, top rows, row sample, column statistics.

Each summary takes one record batch at a time and keeps a fixed amount of
state whatever the number of rows, so a report over a file of any size
needs the same memory. Results do not depend on how the rows were split
into batches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ScoreHistogram", "TopRows", "RowSample", "ColumnStats", "sample_keys"]


class ScoreHistogram:
    """Exact counts of anomaly scores in fixed, fine bins that reach from tiny to huge scores.

    Bin edges are uniform in ``asinh((score - center) / width)``: about
    ``width / 100`` wide around ``center``, growing in proportion to the
    distance beyond ``width``, so the bulk of the scores and a tail that
    spans orders of magnitude are both resolved with a few thousand
    counters. Scores past the outermost edges (beyond ``center +- width *
    sinh(span / 2)``) are counted in the outermost bins; the exact minimum
    and maximum are kept as well.

    Parameters
    ----------
    center, width : float
        Where the linear region lies and how wide it is, in score units
        (for example the median and spread of the calibration scores).
    n_bins : int, default=4096
    span : float, default=40.0
        Width of the binned range in asinh units.
    """

    def __init__(self, center: float, width: float, n_bins: int = 4096, span: float = 40.0):
        self.center = float(center)
        self.width = float(width) if np.isfinite(width) and width > 0 else 1.0
        self.u_edges = np.linspace(-span / 2, span / 2, n_bins + 1)
        self.counts = np.zeros(n_bins, dtype=np.int64)
        self.min = np.inf
        self.max = -np.inf

    def to_u(self, scores: np.ndarray) -> np.ndarray:
        """Scores in the binning coordinate ``asinh((score - center) / width)``."""
        return np.arcsinh((np.asarray(scores, dtype=np.float64) - self.center) / self.width)

    def from_u(self, u: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_u`."""
        return self.center + self.width * np.sinh(u)

    @property
    def total(self) -> int:
        """Number of scores added."""
        return int(self.counts.sum())

    def add(self, scores: np.ndarray) -> None:
        """Count ``scores`` (n,); non-finite scores are refused by the scorer before this."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.size == 0:
            return
        u = np.clip(self.to_u(scores), self.u_edges[0], self.u_edges[-1])
        idx = np.minimum(np.searchsorted(self.u_edges, u, side="right") - 1, self.counts.size - 1)
        self.counts += np.bincount(idx, minlength=self.counts.size)
        self.min = min(self.min, float(scores.min()))
        self.max = max(self.max, float(scores.max()))

    def bars(self, n_bars: int = 80, u_range: tuple[float, float] | None = None, linear: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
        """Coarser bars for a plot: ``(edges (m+1,) in score units, counts (m,))``.

        Fine bins are summed into ``n_bars`` bars spanning the observed range
        (or ``u_range``, in asinh units): bars of equal width in asinh units,
        or with ``linear`` of equal width in score units (each fine bin then
        goes to the bar holding its centre, so bar edges are exact to a fine
        bin). Every count lands in exactly one bar.
        """
        used = np.flatnonzero(self.counts)
        if used.size == 0:
            return self.from_u(self.u_edges[[0, -1]]), np.zeros(1, dtype=np.int64)
        lo, hi = (used[0], used[-1] + 1) if u_range is None else (
            int(np.clip(np.searchsorted(self.u_edges, u_range[0], side="right") - 1, 0, used[0])),
            int(np.clip(np.searchsorted(self.u_edges, u_range[1], side="left"), used[-1] + 1,
                        self.counts.size)))
        if linear:
            x_lo, x_hi = self.from_u(self.u_edges[[lo, hi]])
            centres = self.from_u((self.u_edges[lo:hi] + self.u_edges[lo + 1:hi + 1]) / 2)
            bar = np.clip(((centres - x_lo) / (x_hi - x_lo) * n_bars).astype(np.int64), 0, n_bars - 1)
            counts = np.bincount(bar, weights=self.counts[lo:hi], minlength=n_bars)
            return np.linspace(x_lo, x_hi, n_bars + 1), np.rint(counts).astype(np.int64)
        step = max(1, int(np.ceil((hi - lo) / n_bars)))
        starts = np.arange(lo, hi, step)
        counts = np.add.reduceat(self.counts[lo:hi], starts - lo)
        edges = np.append(self.u_edges[starts], self.u_edges[min(starts[-1] + step, self.counts.size)])
        return self.from_u(edges), counts


def sample_keys(rows: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random keys (uint64) of row numbers, for :class:`RowSample`."""
    return pd.util.hash_array(np.asarray(rows, dtype=np.int64) + 1, categorize=False)


class RowSample:
    """A uniform sample of at most ``k`` rows that depends only on the row numbers.

    Keeps the ``k`` rows with the smallest hash of their row number
    (bottom-k sampling; Cohen and Kaplan, "Summarizing data using bottom-k
    sketches", PODC 2007), so the same file gives the same sample whatever
    the batch size or the number of threads. Each sampled row may bring
    several payload rows (a window's earlier rows), tagged with its number
    in the column ``owner``.

    Parameters
    ----------
    k : int
        Largest number of sampled rows.
    owner : str
        Payload column holding the sampled row's number.
    """

    def __init__(self, k: int, owner: str):
        self.k = int(k)
        self.owner = owner
        self.keys = np.empty(0, dtype=np.uint64)
        self.rows = np.empty(0, dtype=np.int64)
        self.payload: pd.DataFrame | None = None

    def cutoff(self) -> int | None:
        """Hash a new row must be below to enter (None while the sample is not full)."""
        return None if self.keys.size < self.k else int(self.keys.max())

    def candidates(self, rows: np.ndarray, cutoff: int | None) -> np.ndarray:
        """Positions in ``rows`` that may enter the sample, given a (possibly stale) ``cutoff``.

        A stale cutoff only admits extra candidates, which :meth:`add` then
        drops; it never loses a row that belongs in the sample.
        """
        keys = sample_keys(rows)
        pos = np.flatnonzero(keys < np.uint64(cutoff)) if cutoff is not None else np.arange(rows.size)
        if pos.size > self.k:
            pos = pos[np.argsort(keys[pos], kind="stable")[: self.k]]
        return np.sort(pos)

    def add(self, rows: np.ndarray, payload: pd.DataFrame) -> None:
        """Offer the rows numbered ``rows`` with their ``payload``; keep the ``k`` smallest keys."""
        rows = np.asarray(rows, dtype=np.int64)
        keys = np.concatenate([self.keys, sample_keys(rows)])
        all_rows = np.concatenate([self.rows, rows])
        keep = np.argsort(keys, kind="stable")[: self.k]
        self.keys, self.rows = keys[keep], all_rows[keep]
        parts = [p for p in (self.payload, payload) if p is not None and len(p)]
        merged = pd.concat(parts, ignore_index=True) if parts else payload
        self.payload = merged[merged[self.owner].isin(self.rows)].reset_index(drop=True)


class TopRows:
    """The ``k`` highest-scoring rows seen so far, with their results and values.

    Ties are broken by the lower row number, so the result does not depend
    on the batch order of equal scores.
    """

    def __init__(self, k: int):
        self.k = int(k)
        self.table: pd.DataFrame | None = None

    def add(self, table: pd.DataFrame) -> None:
        """Offer rows; ``table`` holds ``row`` (row number) and ``anomaly_score`` columns."""
        if len(table) > self.k:  # only the batch's own top k can enter
            idx = np.argpartition(-table["anomaly_score"].to_numpy(), self.k - 1)[: self.k]
            table = table.iloc[np.sort(idx)]
        parts = [t for t in (self.table, table) if t is not None and len(t)]
        if not parts:
            return
        merged = pd.concat(parts, ignore_index=True)
        self.table = merged.sort_values(["anomaly_score", "row"], ascending=[False, True],
                                        kind="stable").head(self.k).reset_index(drop=True)


class ColumnStats:
    """Per-column summaries of scored rows: mean and spread, missing share, unseen levels, contributions.

    Numeric columns keep a count, mean and sum of squared deviations, merged
    batch by batch with the pairwise update of Chan, Golub and LeVeque
    ("Algorithms for computing the sample variance", 1983), and the number
    of values outside ``fitted_range``. Categorical columns keep the number
    of values not among the fitted levels. Each column's contributions are
    summed over all rows, and the columns that were ``top_feature`` of a
    flagged row are counted.

    Parameters
    ----------
    numeric : dict of str to (float, float)
        Numeric column -> (min, max) of its fitted values.
    categorical : dict of str to sequence
        Categorical column -> its fitted levels.
    features : sequence of str
        Column names of the contributions, in order.
    """

    def __init__(self, numeric: dict, categorical: dict, features):
        self.numeric = dict(numeric)
        self.categorical = {k: pd.Index(v) for k, v in categorical.items()}
        self.features = list(features)
        n = len(self.numeric)
        self.count, self.mean, self.m2 = np.zeros(n), np.zeros(n), np.zeros(n)
        self.outside = np.zeros(n, dtype=np.int64)
        self.missing = dict.fromkeys(list(self.numeric) + list(self.categorical), 0)
        self.unseen = dict.fromkeys(self.categorical, 0)
        self.rows = 0
        self.contribution_sum = np.zeros(len(self.features))
        self.top_counts = np.zeros(len(self.features), dtype=np.int64)

    def add(self, frame: pd.DataFrame, contributions: np.ndarray, flagged: np.ndarray) -> None:
        """Count a batch: ``frame`` holds the columns, ``contributions`` (n, n_features)."""
        self.rows += len(frame)
        for j, (name, (lo, hi)) in enumerate(self.numeric.items()):
            v = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
            ok = v[~np.isnan(v)]
            self.missing[name] += int(v.size - ok.size)
            self.outside[j] += int(np.count_nonzero((ok < lo) | (ok > hi)))
            if ok.size:
                n_a, n_b, mean_b = self.count[j], ok.size, float(ok.mean())
                delta = mean_b - self.mean[j]
                total = n_a + n_b
                self.m2[j] += float(((ok - mean_b) ** 2).sum()) + delta * delta * n_a * n_b / total
                self.mean[j] += delta * n_b / total
                self.count[j] = total
        for name, levels in self.categorical.items():
            col = frame[name]
            missing = col.isna()
            self.missing[name] += int(missing.sum())
            self.unseen[name] += int((~missing & ~col.isin(levels)).sum())
        self.contribution_sum += contributions.sum(axis=0)
        if flagged.any():
            top = np.argmax(contributions[flagged], axis=1)
            self.top_counts += np.bincount(top, minlength=len(self.features))

    def std(self) -> np.ndarray:
        """Standard deviation (population) of each numeric column's observed values."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(np.where(self.count > 0, self.m2 / self.count, np.nan))
