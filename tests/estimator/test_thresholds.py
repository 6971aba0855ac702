"""Thresholds of a fitted detector: conformal or tail, too few held-out rows, contamination, drift."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.helpers import correlated_normal
from vae_anomaly import CalibrationWarning, VAEDetector
from vae_anomaly.persistence.modelfile import load_scorer

FAST = {"max_iter": 15, "random_state": 0}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def rare():
    """Fitted on 10,000 rows (2,000 held out) for target_fpr=1e-3: twice what the held-out rows resolve."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)  # 2,000 rows support 1e-3: no warning
        return VAEDetector(target_fpr=1e-3, **FAST).fit(correlated_normal(10_000, seed=0))


@pytest.fixture(scope="module")
def fresh():
    return correlated_normal(200_000, seed=1)


def test_a_rare_rate_is_set_by_the_tail_and_flags_near_the_target(rare, fresh):
    assert rare.threshold_rule_ == "tail" and rare.tail_.status == "fitted"
    assert rare.tail_.ks_p_value > 0.01  # the fit describes the held-out tail
    flagged = np.mean(rare.predict(fresh) == -1)
    # docs/concepts.md: at 1e-3 from 2,000 held-out rows, 83% of fits flag within [0.5x, 2x] of the target
    assert 0.5e-3 <= flagged <= 2e-3, flagged


def test_flags_agree_with_p_values_and_p_values_go_below_the_conformal_floor(rare, fresh):
    p = rare.p_values(fresh)
    flagged = rare.predict(fresh) == -1
    assert np.array_equal(flagged, p <= rare.target_fpr)
    n_cal = rare.calibration_scores_.size
    beyond = -rare.score_samples(fresh) > rare.calibration_scores_.max()
    assert beyond.any() and np.all(p[beyond] < 1 / (n_cal + 1))
    assert rare.p_values(fresh[:1] + 50.0)[0] < 1e-6


def test_rates_the_held_out_rows_resolve_keep_the_conformal_threshold(rare):
    X = correlated_normal(10_000, seed=0)
    det = VAEDetector(target_fpr=0.01, **FAST).fit(X)
    plain = VAEDetector(target_fpr=0.01, threshold_method="conformal", **FAST).fit(X)
    assert det.threshold_rule_ == "conformal" and plain.tail_ is None
    assert det.threshold_ == plain.threshold_
    np.testing.assert_array_equal(det.p_values(X[:500]), plain.p_values(X[:500]))


def test_the_tail_round_trips_through_a_model_file(rare, fresh, tmp_path):
    rare.save(tmp_path / "m.vae")
    back = VAEDetector.load(tmp_path / "m.vae")
    assert back.tail_ == rare.tail_ and back.threshold_rule_ == "tail"
    np.testing.assert_array_equal(back.p_values(fresh[:5000]), rare.p_values(fresh[:5000]))
    details = load_scorer(tmp_path / "m.vae").score_details(fresh[:5000])
    np.testing.assert_array_equal(details.p_value, rare.p_values(fresh[:5000]))
    np.testing.assert_array_equal(details.is_anomaly, rare.predict(fresh[:5000]) == -1)


@pytest.mark.parametrize("method", ["auto", "conformal"])
def test_too_few_held_out_rows_warn_and_never_flag_against_the_p_values(method):
    """Issue 14, class 4: 60 rows leave 12 held out, whose smallest p-value is 1/13 > 0.01."""
    with pytest.warns(CalibrationWarning, match=r"12 held-out rows cannot support target_fpr=0.01.* "
                                                r"99 held-out rows would support it \(about 495 rows"):
        det = VAEDetector(threshold_method=method, **FAST).fit(correlated_normal(60))
    assert "no row will be flagged" in det.calibration_warning_
    fresh = correlated_normal(20_000, seed=1)
    p = det.p_values(fresh)
    assert np.array_equal(det.predict(fresh) == -1, p <= 0.01)
    assert not np.any(det.predict(fresh) == -1)


def test_a_tail_extends_the_rate_beyond_a_few_hundred_held_out_rows():
    """300 rows: 60 held out resolve p-values down to 1/61; an exponential tail carries them further."""
    with pytest.warns(CalibrationWarning, match="extrapolated from a tail fitted to the top 6"):
        det = VAEDetector(**FAST).fit(correlated_normal(300))
    assert det.threshold_rule_ == "tail" and det.tail_.status == "shape_fixed"
    fresh = correlated_normal(20_000, seed=1)
    flagged, p = det.predict(fresh) == -1, det.p_values(fresh)
    assert np.array_equal(flagged, p <= 0.01)
    assert 0 < flagged.mean() < 0.05


def test_a_float_contamination_flags_that_share_of_the_rows_given_to_fit():
    X = correlated_normal(1000)
    for share in (0.05, 0.1):
        det = VAEDetector(contamination=share, **FAST).fit(X)
        assert det.threshold_rule_ == "contamination"
        assert np.sum(det.predict(X) == -1) == round(share * len(X))
        assert np.sum(det.fit_predict(X) == -1) == round(share * len(X))


def test_a_windowed_model_with_contamination_flags_that_share_of_its_rows():
    rng = np.random.default_rng(0)
    X = np.cumsum(rng.normal(size=(800, 2)), axis=0) * 0.1 + rng.normal(size=(800, 2))
    det = VAEDetector(window=4, contamination=0.05, **FAST).fit(X)
    assert np.sum(det.predict(X) == -1) == 40


def test_drift_is_quiet_on_a_normal_batch_and_detected_on_a_shifted_one(rare):
    batch = correlated_normal(2000, seed=7)
    report = rare.drift(batch)
    assert not report.detected and report.alpha == 0.01 and report.n_rows == 2000
    assert report.columns is not None and len(report.columns["top"]) == 5
    shifted = batch.copy()
    spread = correlated_normal(10_000).std(axis=0)
    shifted[:, [1, 3]] += 0.5 * spread[[1, 3]]
    report = rare.drift(shifted)
    assert report.detected and report.p_value <= 0.01
    assert report.columns["top"][0]["name"] in {"x1", "x3"}  # correlated columns can share the blame


def test_the_scorer_gives_the_same_drift_report(rare, tmp_path):
    rare.save(tmp_path / "m.vae")
    batch = correlated_normal(1000, seed=8)
    assert load_scorer(tmp_path / "m.vae").drift(batch) == rare.drift(batch)
