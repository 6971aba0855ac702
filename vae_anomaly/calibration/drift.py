"""Whether a scored batch still looks like the calibration rows: flagged share, scores, columns.

Three families of tests compare a batch of ``m`` rows with the ``n``
held-out calibration rows (reasoning and measurements: docs/concepts.md, "Drift checks"):

``flagged``
    Rows above the threshold against beta-binomial(m, k + 1, n - k), ``k``
    being the calibration scores above it, so that the threshold's own
    estimation error is part of the null.
``scores``
    Two-sample Kolmogorov-Smirnov distance, with the asymptotic p-value of
    ``scipy.stats.ks_2samp`` (the one-sample distribution ``kstwo`` at
    ``m n / (m + n)``).
``columns``
    Per column, Pearson's chi-square test of homogeneity of its values
    binned at the calibration deciles (``scipy.stats.chi2_contingency``
    without continuity correction); Bonferroni over the columns.

The p-values come from :mod:`vae_anomaly.calibration.statistics`, which
equals SciPy's functions without importing SciPy. Drift is detected when a
family's p-value times the number of families (Bonferroni) is at most
``alpha``. Everything is counted, so a :class:`DriftTally` takes a stream of
record batches in bounded memory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..exceptions import InvalidInputError
from .drift_reference import DriftReference, bin_counts, finite_2d
from .statistics import beta_binomial_sf, kolmogorov_sf, pearson_chi2

__all__ = ["DRIFT_ALPHA", "DriftReport", "DriftTally", "check_drift"]

#: Significance level of the drift check, for the three families together.
DRIFT_ALPHA = 0.01


@dataclass(frozen=True)
class DriftReport:
    """Outcome of a drift check; :meth:`to_dict` gives plain JSON-able data.

    Attributes
    ----------
    detected : bool
        Some family's Bonferroni-adjusted p-value is at most ``alpha``.
    alpha : float
        Significance level for the families together.
    p_value : float
        Smallest adjusted family p-value (1.0 for an empty batch).
    n_rows : int
        Rows in the batch.
    flagged : dict
        ``count``, ``share``, ``reference_share`` (``(k + 1) / (n_cal + 1)``,
        the most a normal batch's expected share can be) and ``p_value``.
    scores : dict
        ``ks_statistic`` and ``p_value``.
    columns : dict or None
        ``p_value`` (Bonferroni over the columns tested) and ``top``: the
        ``n_columns`` columns that moved most (smallest p-value first), each
        with ``name``, ``statistic`` (chi-square), ``p_value``, ``top_share``
        (share of the batch's rows above the column's calibration 90th
        percentile) and ``reference_top_share`` (the calibration's, about 0.1).
    """

    detected: bool
    alpha: float
    p_value: float
    n_rows: int
    flagged: dict
    scores: dict
    columns: dict | None

    def to_dict(self) -> dict:
        """The report as plain JSON-able data."""
        return asdict(self)


class DriftTally:
    """Counts of a batch streamed in pieces, for a drift check in bounded memory.

    Memory is ``O(n_cal + d * n_bins)`` whatever the batch size; the
    report equals that of :func:`check_drift` on the whole batch at once.

    Parameters
    ----------
    reference : DriftReference
        What to compare against.
    """

    def __init__(self, reference: DriftReference):
        self.reference = reference
        n_cal = reference.calibration_scores.size
        self.n_rows = 0
        self.n_flagged = 0
        self._below = np.zeros(n_cal, dtype=np.int64)  # batch scores < each calibration score
        self._at_or_below = np.zeros(n_cal, dtype=np.int64)  # batch scores <= each calibration score
        ref_counts = reference.column_counts
        self._columns = None if ref_counts is None else np.zeros(np.shape(ref_counts), dtype=np.int64)

    def add(self, scores, column_values=None) -> None:
        """Count one piece of the batch.

        Parameters
        ----------
        scores : array-like (m,)
            Anomaly scores (higher = more anomalous), finite.
        column_values : array-like (m, d), optional
            Their per-column values (as given to
            :func:`~vae_anomaly.calibration.drift_reference.column_reference`); required when the reference
            has a column part.

        Raises
        ------
        InvalidInputError
            Non-finite values, or column values missing or of the wrong shape.
        """
        s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
        if not np.isfinite(s).all():
            raise InvalidInputError(f"scores must be finite, got {s[~np.isfinite(s)][0]!r}")
        ref = self.reference
        if self._columns is not None:
            if column_values is None:
                raise InvalidInputError("this drift reference has columns: pass the column values too")
            x = finite_2d(column_values, "column values")
            if x.shape != (s.size, self._columns.shape[0]):
                raise InvalidInputError(f"column values of shape {x.shape} do not fit {s.size} scores "
                                        f"and {self._columns.shape[0]} columns")
            self._columns += bin_counts(x, ref.column_edges, self._columns.shape[1])
        self.n_rows += s.size
        self.n_flagged += int(s.size - np.searchsorted(s, ref.threshold, side="right"))
        self._below += np.searchsorted(s, ref.calibration_scores, side="left")
        self._at_or_below += np.searchsorted(s, ref.calibration_scores, side="right")

    def merge(self, other: DriftTally) -> None:
        """Add the counts of ``other`` (same reference), e.g. from another worker."""
        if other.reference is not self.reference:
            raise InvalidInputError("only tallies against the same reference can be merged")
        self.n_rows += other.n_rows
        self.n_flagged += other.n_flagged
        self._below += other._below
        self._at_or_below += other._at_or_below
        if self._columns is not None:
            self._columns += other._columns

    def _flagged(self) -> dict:
        cal, m = self.reference.calibration_scores, self.n_rows
        n = cal.size
        k = int(n - np.searchsorted(cal, self.reference.threshold, side="right"))
        p = beta_binomial_sf(self.n_flagged - 1, m, k + 1, max(n - k, 1))
        return {"count": self.n_flagged, "share": self.n_flagged / m,
                "reference_share": (k + 1) / (n + 1), "p_value": min(p, 1.0)}

    def _scores(self) -> dict:
        cal, m = self.reference.calibration_scores, self.n_rows
        n = cal.size
        gap_below = np.abs(self._below / m - np.searchsorted(cal, cal, side="left") / n)
        gap_at = np.abs(self._at_or_below / m - np.searchsorted(cal, cal, side="right") / n)
        d = float(max(gap_below.max(), gap_at.max()))
        return {"ks_statistic": d, "p_value": kolmogorov_sf(d, max(round(m * n / (m + n)), 1))}

    def _column_tests(self, n_columns: int) -> dict:
        ref = self.reference
        rows = []
        for name, batch, calib in zip(ref.feature_names, self._columns, ref.column_counts, strict=True):
            used = (batch + calib) > 0
            if used.sum() < 2:
                continue  # one value throughout: nothing to compare
            chi2, p = pearson_chi2(np.vstack([batch[used], calib[used]]))
            rows.append({"name": name, "statistic": float(chi2), "p_value": float(p),
                         "top_share": float(batch[-1] / batch.sum()),
                         "reference_top_share": float(calib[-1] / calib.sum())})
        rows.sort(key=lambda r: (r["p_value"], -r["statistic"]))
        p_family = min(1.0, rows[0]["p_value"] * len(rows)) if rows else 1.0
        return {"p_value": p_family, "top": rows[:n_columns]}

    def report(self, alpha: float = DRIFT_ALPHA, n_columns: int = 5) -> DriftReport:
        """The drift check on everything added so far.

        Parameters
        ----------
        alpha : float, default=DRIFT_ALPHA
            Significance level, in (0, 1).
        n_columns : int, default=5
            Columns listed in ``columns["top"]``.

        Returns
        -------
        DriftReport
        """
        if not 0.0 < alpha < 1.0:
            raise InvalidInputError(f"alpha must lie in (0, 1), got {alpha!r}")
        if self.n_rows == 0:
            return DriftReport(False, alpha, 1.0, 0,
                               {"count": 0, "share": 0.0, "reference_share": None, "p_value": 1.0},
                               {"ks_statistic": 0.0, "p_value": 1.0}, None)
        flagged, scores = self._flagged(), self._scores()
        columns = None if self._columns is None else self._column_tests(n_columns)
        families = [flagged["p_value"], scores["p_value"]] + ([] if columns is None else [columns["p_value"]])
        p = min(1.0, len(families) * min(families))
        return DriftReport(bool(p <= alpha), alpha, p, self.n_rows, flagged, scores, columns)


def check_drift(reference: DriftReference, scores, column_values=None, *, alpha: float = DRIFT_ALPHA,
                n_columns: int = 5) -> DriftReport:
    """Compare one batch's scores (and per-column values) with the calibration rows.

    Parameters
    ----------
    reference : DriftReference
        Calibration scores, threshold and (optionally) column bins.
    scores : array-like (m,)
        The batch's anomaly scores.
    column_values : array-like (m, d), optional
        The batch's per-column values, as given to
        :func:`~vae_anomaly.calibration.drift_reference.column_reference` for the calibration rows (needed
        when ``reference`` has columns).
    alpha : float, default=DRIFT_ALPHA
        Significance level for the three tests together.
    n_columns : int, default=5
        Columns listed in the report.

    Returns
    -------
    DriftReport

    Raises
    ------
    InvalidInputError
        Non-finite inputs, column values missing or of the wrong shape, or
        ``alpha`` outside (0, 1).
    """
    tally = DriftTally(reference)
    tally.add(scores, column_values)
    return tally.report(alpha, n_columns)
