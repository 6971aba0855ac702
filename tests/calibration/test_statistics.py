"""The drift check's p-values without SciPy equal SciPy's (or the exact value), tails and near 1 too."""

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from scipy import stats

from vae_anomaly.calibration import drift
from vae_anomaly.calibration.drift_reference import DriftReference, column_reference
from vae_anomaly.calibration.statistics import beta_binomial_sf, chi2_sf, kolmogorov_sf, pearson_chi2

RTOL = 1e-9
TINY = 1e-300  # below this both SciPy and we lose digits to subnormal numbers; both must stay tiny


def assert_same_p(ours: float, ref: float, what: str) -> None:
    """Equal to a relative RTOL; where one side is below TINY the other must be too (no earlier underflow)."""
    if ref < TINY or ours < TINY:
        assert ours < TINY and ref < TINY, f"{what}: ours {ours!r}, reference {ref!r}"
    else:
        assert abs(ours - ref) <= RTOL * ref, f"{what}: ours {ours!r}, reference {ref!r}"


def kolmogorov_grid(n: int) -> list[float]:
    """Distances across every method's range, at its boundaries, on the lattice k/n, and into the 1e-300s."""
    ds = list(np.geomspace(0.3 / n, 0.999, 25)) + [k / n for k in (1, 2, 3, n // 2, n - 1)]
    for nd2 in (0.754693, 2.2, 4.0, 18.0, 300.0, 350.0, 354.0, 355.0, 370.0):
        d = (nd2 / n) ** 0.5
        ds += [d * (1 - 1e-9), d, d * (1 + 1e-9)]
    ds += [(1.4 / n) ** (2 / 3) * f for f in (0.999, 1.0, 1.001)] + [0.4999999, 0.5, 0.55, 0.6]
    return sorted({d for d in ds if 0.0 < d < 1.0})


@pytest.mark.parametrize("n", [1, 2, 3, 10, 40, 99, 140, 141, 500, 5000, 20000])
def test_kolmogorov_sf_equals_scipys_kstwo(n):
    for d in kolmogorov_grid(n):
        assert_same_p(kolmogorov_sf(d, n), float(stats.kstwo.sf(d, n)), f"kstwo n={n} d={d!r}")


@pytest.mark.parametrize("n", [100_000, 100_001])
def test_kolmogorov_sf_equals_scipys_kstwo_either_side_of_the_largest_durbin_matrix(n):
    # up to n = 100,000 small distances take Durbin's matrix, above Pelz and Good's series
    for d in [(1.4 / n) ** (2 / 3) * f for f in (0.5, 0.9, 1.0, 1.1)] + [0.003, 0.005, 0.02, 0.0594]:
        assert_same_p(kolmogorov_sf(d, n), float(stats.kstwo.sf(d, n)), f"kstwo n={n} d={d!r}")


def test_drift_score_p_value_is_ks_2samps_asymptotic_one():
    rng = np.random.default_rng(11)
    for n_cal, m, shift in [(200, 50, 0.0), (300, 4000, 0.3), (2000, 300, 0.1), (5000, 60000, 0.05),
                            (1000, 1000, 1.5), (20000, 100, 0.0)]:
        cal = np.round(rng.standard_normal(n_cal), 2)  # ties within and across the samples
        batch = np.round(rng.standard_normal(m) + shift, 2)
        report = drift.check_drift(DriftReference(cal, 1.5), batch)
        expected = stats.ks_2samp(batch, cal, method="asymp")
        assert report.scores["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-12)
        assert_same_p(report.scores["p_value"], float(expected.pvalue), f"ks_2samp n={n_cal} m={m}")


def exact_beta_binomial_sf(n: int, a: int, b: int) -> list[float]:
    """P(X > x) for x = 0 .. n - 1, in rational arithmetic, each correctly rounded to a float."""
    weights = [comb(j + a - 1, j) * comb(n - j + b - 1, n - j) for j in range(n + 1)]
    total, above, out = comb(n + a + b - 1, n), 0, []
    for w in reversed(weights[1:]):
        above += w
        out.append(float(Fraction(above, total)))
    return out[::-1]


@pytest.mark.parametrize(("n_cal", "m"), [(1, 7), (200, 50), (200, 1500), (1000, 300), (500, 2000)])
def test_beta_binomial_sf_is_the_exact_tail_from_1_to_1e_300(n_cal, m):
    for k in sorted({0, 1, n_cal // 100, n_cal // 10, n_cal // 2, n_cal - 1, n_cal}):
        a, b = k + 1, max(n_cal - k, 1)
        exact = exact_beta_binomial_sf(m, a, b)
        mean = m * a / (a + b)
        xs = np.r_[np.linspace(0, m - 1, 15), mean + np.arange(-3, 4), 0.97 * m].astype(int)
        for x in sorted({int(x) for x in xs if 0 <= x < m}):
            assert_same_p(beta_binomial_sf(x, m, a, b), exact[x], f"betabinom x={x} n={m} a={a} b={b}")


def test_beta_binomial_sf_agrees_with_scipy_within_scipys_rounding():
    # SciPy returns 1 - (sum of the other side): right to about 1e-10 absolute, not relative.
    for m, a, b in [(50, 1, 200), (5000, 3, 198), (300, 11, 990), (50_000, 10, 991), (20_000, 251, 250)]:
        for x in np.unique(np.linspace(0, m - 1, 12).astype(int)):
            assert abs(beta_binomial_sf(int(x), m, a, b) - float(stats.betabinom.sf(x, m, a, b))) < 1e-9
    assert beta_binomial_sf(-1, 10, 1, 5) == 1.0 and beta_binomial_sf(10, 10, 1, 5) == 0.0


@pytest.mark.parametrize("df", range(1, 16))
def test_chi2_sf_equals_scipys_for_whole_degrees_of_freedom(df):
    for x in np.r_[np.geomspace(1e-12, 1600, 120), [df - 0.5, df, df + 1.0, 1380.0, 1400.0, 1420.0, 1440.0]]:
        assert_same_p(chi2_sf(float(x), df), float(stats.chi2.sf(x, df)), f"chi2 df={df} x={x!r}")
    assert chi2_sf(0.0, df) == 1.0


def test_pearson_chi2_equals_chi2_contingency_without_correction():
    rng = np.random.default_rng(12)
    for _ in range(300):
        k = int(rng.integers(2, 11))
        table = np.vstack([rng.integers(0, 60, k) + rng.integers(0, 2) * rng.integers(0, 3000, k),
                           rng.integers(1, 500, k)])
        statistic, p = pearson_chi2(table)
        ref = stats.chi2_contingency(table, correction=False)
        assert statistic == pytest.approx(ref.statistic, rel=1e-12)
        assert_same_p(p, float(ref.pvalue), f"chi2_contingency {table.tolist()}")
    assert pearson_chi2([[3], [5]]) == (0.0, 1.0)


def test_drift_reports_the_p_values_scipy_gives_down_to_the_smallest():
    rng = np.random.default_rng(13)
    cal_values = rng.standard_normal((1000, 4))
    cal_scores = (cal_values**2).sum(axis=1)
    threshold = float(np.quantile(cal_scores, 0.99))
    ref = DriftReference(np.sort(cal_scores), threshold, *column_reference(cal_values), list("abcd"))
    k = int(np.sum(cal_scores > threshold))
    # family p-values from 1 down to about 1e-223
    for m, shift in [(60, 0.0), (3000, 0.2), (400, 1.2), (3000, 1.0), (2000, 1.5), (8000, 0.05)]:
        values = rng.standard_normal((m, 4))
        values[:, :2] += shift
        scores = (values**2).sum(axis=1)
        report = drift.check_drift(ref, scores, values)
        count = int(np.sum(scores > threshold))
        flagged = exact_beta_binomial_sf(m, k + 1, 1000 - k)[count - 1] if count else 1.0
        assert_same_p(report.flagged["p_value"], flagged, "flagged")
        ks = stats.ks_2samp(scores, cal_scores, method="asymp")
        assert_same_p(report.scores["p_value"], float(ks.pvalue), "scores")
        expected = []
        for j in range(4):
            bins = np.searchsorted(ref.column_edges[j], values[:, j], side="right")
            batch = np.bincount(bins, minlength=10)
            table = np.vstack([batch, ref.column_counts[j]])
            table = table[:, table.sum(axis=0) > 0]
            expected.append(float(stats.chi2_contingency(table, correction=False).pvalue))
        assert_same_p(report.columns["p_value"], min(1.0, 4 * min(expected)), "columns")
        for row in report.columns["top"]:
            assert_same_p(row["p_value"], expected["abcd".index(row["name"])], f"column {row['name']}")
