"""Per-series summaries for windowed models: which machines to show, and their down-sampled strips.

The first pass over the data counts rows, flags, the highest score, the
time range and the channels' contributions of each series
(:class:`SeriesStats`). The report then picks the most anomalous series
and reads the data a second time, for those series only, keeping in each
of a fixed number of time buckets the rows holding every channel's
smallest and largest value and the highest score (:class:`Strip`; the M4
aggregation of Jugel et al., "M4: A Visualization-Oriented Time Series
Data Aggregation", VLDB 2014). A strip therefore draws the same envelope
as the full series, spikes included, from a bounded number of points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SeriesStats", "Strip", "ALL_ROWS"]

#: Series name used when a windowed model has no group column (the whole table is one series).
ALL_ROWS = "all rows"


class SeriesStats:
    """Rows, flags, highest score, time range and flagged rows' contributions of every series.

    Memory grows with the number of series (not rows): a few numbers and
    one contribution per channel for each.

    Parameters
    ----------
    channels : sequence of str
        Names of the contribution columns.
    """

    def __init__(self, channels):
        self.channels = list(channels)
        self._c = [f"c{j}" for j in range(len(self.channels))]
        self.table: pd.DataFrame | None = None

    def add(self, groups: np.ndarray, x: np.ndarray, scores: np.ndarray, flagged: np.ndarray,
            contributions: np.ndarray) -> None:
        """Count one batch; ``x`` is the time (as numbers) or the row's position in its series."""
        frame = pd.DataFrame({"group": groups, "x_min": x, "x_max": x, "rows": 1,
                              "flagged": flagged.astype(np.int64), "max_score": scores})
        flagged_part = np.where(flagged[:, None], contributions, 0.0)
        frame[self._c] = flagged_part
        self.table = self._merge(frame if self.table is None else pd.concat([self.table, frame]))

    def _merge(self, frame: pd.DataFrame) -> pd.DataFrame:
        how = {"x_min": "min", "x_max": "max", "rows": "sum", "flagged": "sum", "max_score": "max",
               **dict.fromkeys(self._c, "sum")}
        return frame.groupby("group", sort=False).agg(how).reset_index()

    def rows_before(self, groups: pd.Series) -> np.ndarray:
        """Rows seen so far of each series named in ``groups`` (0 for a series not seen yet)."""
        if self.table is None:
            return np.zeros(len(groups))
        seen = self.table.set_index("group")["rows"]
        return seen.reindex(groups.to_numpy()).fillna(0).to_numpy(dtype=np.float64)

    def most_anomalous(self, n: int) -> pd.DataFrame:
        """The ``n`` series with the most flagged rows (then the highest score, then the name)."""
        table = self.table.assign(_name=self.table["group"].astype(str))
        table = table.sort_values(["flagged", "max_score", "_name"], ascending=[False, False, True],
                                  kind="stable")
        return table.drop(columns="_name").head(n).reset_index(drop=True)

    def top_channels(self, row: pd.Series, allowed, n: int = 3) -> list[str]:
        """The ``n`` channels of ``allowed`` that contributed most to a series' flagged rows."""
        weights = {ch: float(row[c]) for ch, c in zip(self.channels, self._c, strict=True) if ch in allowed}
        return sorted(weights, key=lambda ch: (-weights[ch], self.channels.index(ch)))[:n]


class Strip:
    """M4 down-sampling of one series to ``n_buckets`` time buckets, fed batch by batch.

    Parameters
    ----------
    channels : sequence of str
        Numeric columns to keep.
    x_min, x_max : float
        Range of the x coordinate (time as numbers, or position), from the first pass.
    n_buckets : int, default=400
    """

    def __init__(self, channels, x_min: float, x_max: float, n_buckets: int = 400):
        self.channels = list(channels)
        self.x_min, self.x_max = float(x_min), float(x_max)
        self.n_buckets = int(n_buckets)
        self.kept: pd.DataFrame | None = None
        self.gaps: list[tuple] = []

    def _bucket(self, x: np.ndarray) -> np.ndarray:
        span = self.x_max - self.x_min
        if span <= 0:
            return np.zeros(x.size, dtype=np.int64)
        return np.clip(((x - self.x_min) / span * self.n_buckets).astype(np.int64), 0, self.n_buckets - 1)

    def add(self, x: np.ndarray, values: pd.DataFrame, scores: np.ndarray) -> None:
        """Offer rows of this series: their x, channel values and anomaly scores."""
        frame = pd.DataFrame({"x": x, "bucket": self._bucket(np.asarray(x, dtype=np.float64)),
                              "anomaly_score": scores})
        for ch in self.channels:
            frame[ch] = pd.to_numeric(values[ch], errors="coerce").to_numpy(dtype=np.float64)
        pool = frame if self.kept is None else pd.concat([self.kept, frame], ignore_index=True)
        keep = [pool.groupby("bucket", sort=False)["anomaly_score"].idxmax()]
        for ch in self.channels:
            present = pool[pool[ch].notna()]
            if len(present):
                by = present.groupby("bucket", sort=False)[ch]
                keep += [by.idxmin(), by.idxmax()]
        index = np.unique(np.concatenate([k.to_numpy() for k in keep]))
        self.kept = pool.loc[index].reset_index(drop=True)

    def add_gaps(self, gaps: list[tuple], limit: int = 20) -> None:
        """Keep the ``limit`` longest time gaps, as ``(before, after, length)`` tuples."""
        self.gaps = sorted(self.gaps + list(gaps), key=lambda g: -g[2])[:limit]

    def points(self) -> pd.DataFrame:
        """Kept rows in x order: ``x``, ``anomaly_score`` and the channels."""
        if self.kept is None:
            return pd.DataFrame(columns=["x", "anomaly_score", *self.channels])
        return self.kept.sort_values("x", kind="stable").drop(columns="bucket").reset_index(drop=True)
