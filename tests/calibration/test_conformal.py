"""Thresholds and conformal p-values, without fitting anything."""

import numpy as np
import pytest

from vae_anomaly.calibration.thresholds import conformal_p_values, threshold_for_rate


def test_p_values_formula_and_range():
    cal = np.array([3.0, 1.0, 2.0])
    p = conformal_p_values(cal, np.array([0.0, 1.0, 2.5, 3.0, 9.0]))
    assert np.allclose(p, [1.0, 1.0, 0.5, 0.5, 0.25])


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.2])
def test_threshold_hits_the_rate_on_exchangeable_data(rate):
    rng = np.random.default_rng(0)
    cal = rng.normal(size=5000)
    fresh = rng.normal(size=200000)
    t = threshold_for_rate(cal, rate)
    flagged = (fresh > t).mean()
    assert flagged <= rate + 3 * np.sqrt(rate / 5000)
    assert flagged >= rate - 3 * np.sqrt(rate / 5000) - 1 / 5000
    # the threshold is the conformal rule p <= rate
    assert np.array_equal(fresh > t, conformal_p_values(cal, fresh) <= rate)


def test_threshold_with_too_few_rows_flags_only_beyond_the_maximum():
    cal = np.arange(10.0)
    assert threshold_for_rate(cal, 0.01) == 9.0
