"""Drift checks on an exact Gaussian model: quiet on normal batches, loud on shifted ones."""

import json

import numpy as np
import pytest
from scipy import stats

from vae_anomaly.calibration import drift
from vae_anomaly.calibration import thresholds as calibration
from vae_anomaly.calibration.drift_reference import DriftReference, column_reference
from vae_anomaly.exceptions import InvalidInputError

D = 10


class GaussianModel:
    """Scores of standard normal rows as a VAE with a perfect fit gives them: each column's
    term is z**2 / 2, its contribution that term less its calibration median, the score the sum."""

    def __init__(self, rng, n_cal=2000, rate=0.01):
        terms = self.terms(rng.standard_normal((n_cal, D)))
        self.median = np.median(terms, axis=0)
        scores = terms.sum(axis=1)
        edges, counts = column_reference(terms - self.median)
        self.reference = DriftReference(scores, calibration.threshold_for_rate(scores, rate), edges, counts,
                                              [f"c{j}" for j in range(D)])

    @staticmethod
    def terms(x):
        return 0.5 * x**2

    def check(self, x, **kw):
        terms = self.terms(x)
        return drift.check_drift(self.reference, terms.sum(axis=1), terms - self.median, **kw)


def test_normal_batches_raise_alarms_at_most_at_the_documented_rate():
    rng = np.random.default_rng(0)
    model = GaussianModel(rng)
    reports = [model.check(rng.standard_normal((300, D))) for _ in range(200)]
    alarms = sum(r.detected for r in reports)
    # alpha = 1%: about 2 of 200; 6 or more has probability below 2% even at exactly 1%
    assert alarms <= 5
    # the three tests are not blind either: their p-values spread over (0, 1]
    ks = np.array([r.scores["p_value"] for r in reports])
    assert 0.2 < np.median(ks) < 0.8


def test_large_normal_batches_are_not_blamed_for_the_thresholds_estimation_error():
    # A binomial test of the flagged share against the target would alarm on big batches whenever
    # the realised rate of the calibrated threshold is off; over models, alarms stay near alpha.
    rng = np.random.default_rng(1)
    alarms, binomial_alarms = 0, 0
    for _ in range(40):
        model = GaussianModel(rng, n_cal=1000)
        report = model.check(rng.standard_normal((50_000, D)))
        alarms += report.detected
        binom = stats.binomtest(report.flagged["count"], report.n_rows, 0.01, alternative="greater")
        binomial_alarms += binom.pvalue <= drift.DRIFT_ALPHA
    assert alarms <= 3
    assert binomial_alarms >= 5


def test_a_shift_of_half_a_standard_deviation_in_three_columns_is_detected():
    rng = np.random.default_rng(2)
    model = GaussianModel(rng)
    shifted = {"c1", "c4", "c7"}
    detected, named = 0, 0
    for _ in range(10):
        x = rng.standard_normal((2000, D))
        x[:, [1, 4, 7]] += 0.5
        report = model.check(x, n_columns=3)
        detected += report.detected
        named += len(shifted & {c["name"] for c in report.columns["top"]})
    assert detected >= 9
    assert named >= 24  # of the 30 top-3 places, mostly the shifted columns


def test_a_batch_half_flagged_is_drift():
    rng = np.random.default_rng(3)
    model = GaussianModel(rng)
    x = rng.standard_normal((400, D))
    x[:200] *= 3
    report = model.check(x)
    assert report.detected
    assert report.flagged["share"] > 0.3 and report.flagged["p_value"] < 1e-9
    assert report.flagged["reference_share"] <= 0.01


def test_a_stream_of_pieces_gives_the_report_of_the_whole_batch():
    rng = np.random.default_rng(4)
    model = GaussianModel(rng)
    x = rng.standard_normal((3001, D))
    x[:, 0] += 0.3
    terms = model.terms(x)
    whole = model.check(x)
    tally, other = drift.DriftTally(model.reference), drift.DriftTally(model.reference)
    for piece in np.array_split(np.arange(2000), 7):
        tally.add(terms[piece].sum(axis=1), terms[piece] - model.median)
    other.add(terms[2000:].sum(axis=1), terms[2000:] - model.median)
    tally.merge(other)
    assert tally.report() == whole
    report = json.loads(json.dumps(whole.to_dict()))
    assert set(report) == {"detected", "alpha", "p_value", "n_rows", "flagged", "scores", "columns"}


def test_score_distance_is_the_two_sample_kolmogorov_smirnov_statistic():
    rng = np.random.default_rng(5)
    cal = np.round(rng.standard_normal(500), 1)  # ties within and across the samples
    batch = np.round(rng.standard_normal(321) + 0.2, 1)
    report = drift.check_drift(DriftReference(cal, 1.5), batch)
    expected = stats.ks_2samp(batch, cal, method="asymp")
    assert report.scores["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-12)
    assert report.scores["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)
    assert report.columns is None


def test_constant_columns_and_an_empty_batch_are_fine():
    rng = np.random.default_rng(6)
    cal_contrib = np.c_[np.zeros(500), rng.standard_normal(500)]
    cal_scores = cal_contrib.sum(axis=1)
    ref = DriftReference(cal_scores, 2.0, *column_reference(cal_contrib), ["flat", "z"])
    report = drift.check_drift(ref, cal_scores[:100], cal_contrib[:100])
    assert [c["name"] for c in report.columns["top"]] == ["z"]
    empty = drift.check_drift(ref, np.array([]), np.zeros((0, 2)))
    assert not empty.detected and empty.n_rows == 0


def test_bad_input_is_refused_naming_it():
    rng = np.random.default_rng(7)
    model = GaussianModel(rng, n_cal=300)
    x = rng.standard_normal((50, D))
    terms = model.terms(x)
    with pytest.raises(InvalidInputError, match="nan"):
        drift.check_drift(model.reference, np.r_[terms.sum(axis=1)[:-1], np.nan], terms)
    with pytest.raises(InvalidInputError, match="pass the column values"):
        drift.check_drift(model.reference, terms.sum(axis=1))
    with pytest.raises(InvalidInputError, match=r"\(50, 9\)"):
        drift.check_drift(model.reference, terms.sum(axis=1), terms[:, 1:])
    with pytest.raises(InvalidInputError, match="alpha"):
        model.check(x, alpha=1.5)
    with pytest.raises(InvalidInputError, match="feature names"):
        DriftReference(np.ones(3), 1.0, np.zeros((2, 9)), np.ones((2, 10)), ["only_one"])
