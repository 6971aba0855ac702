"""Tail-fitted thresholds and p-values, on score distributions whose truth is known."""

import json

import numpy as np
import pytest
from scipy import stats

from vae_anomaly.calibration import tail
from vae_anomaly.calibration import thresholds as calibration
from vae_anomaly.exceptions import InvalidInputError, VAEAnomalyError

# Light, heavy and bounded upper tails (xi about -0.1, +0.33 and -0.2).
DISTS = {"chi2": stats.chi2(20), "student_t": stats.t(3), "beta": stats.beta(2, 5)}
N_CAL = 2000


def _cal(name, seed, n=N_CAL):
    return DISTS[name].rvs(size=n, random_state=np.random.default_rng(seed))


def _ratios(rate, seeds=range(4)):
    """flagged / target on unlimited fresh rows (the exact tail share), tail and conformal."""
    out = []
    for name, dist in DISTS.items():
        for seed in seeds:
            cal = _cal(name, seed)
            fit = tail.fit_tail(cal)
            t_tail = calibration.threshold_for_rate(cal, rate, fit)
            t_conf = calibration.threshold_for_rate(cal, rate)
            out.append((dist.sf(t_tail) / rate, dist.sf(t_conf) / rate))
    return np.array(out)


def test_rare_rate_from_2000_rows_flags_near_the_target():
    # 1e-3 is two calibration rows: the conformal threshold is the second largest score.
    r = _ratios(1e-3)
    assert 0.6 <= np.median(r[:, 0]) <= 1.6
    assert np.mean((r[:, 0] >= 0.5) & (r[:, 0] <= 2.0)) >= 2 / 3
    # 1e-4 is beyond the calibration set: conformal can only flag above the maximum (about 5x the target).
    r = _ratios(1e-4)
    assert np.median(r[:, 1]) > 2.5
    assert 0.4 <= np.median(r[:, 0]) <= 2.5
    assert abs(np.log(np.median(r[:, 0]))) < abs(np.log(np.median(r[:, 1])))


def test_p_values_fall_with_the_score_and_go_below_the_conformal_floor():
    cal = _cal("chi2", 0)
    fit = tail.fit_tail(cal)
    grid = np.linspace(cal.min() - 1, cal.max() * 2, 5000)
    p = calibration.p_values(cal, grid, fit)
    assert np.all(np.diff(p) <= 0)
    assert np.all((p >= 0) & (p <= 1))
    # beyond the largest calibration score they keep falling, past the conformal floor 1 / (n_cal + 1)
    beyond = grid > cal.max()
    assert np.all(p[beyond] <= fit.junction_rate)
    assert np.all(p[grid > 1.2 * cal.max()] < 1 / (N_CAL + 1))
    assert p[-1] < 1e-6
    # where the calibration set resolves them they are the conformal p-values
    inside = grid <= fit.junction
    assert np.array_equal(p[inside], calibration.conformal_p_values(cal, grid[inside]))
    assert fit.junction_count == tail.CONFORMAL_COUNT


@pytest.mark.parametrize("conformal_count", [tail.CONFORMAL_COUNT, None])
@pytest.mark.parametrize("rate", [0.05, 0.01, 4e-3, 1e-3, 1e-5])
def test_flagged_exactly_when_the_p_value_is_at_most_the_rate(rate, conformal_count):
    cal = _cal("student_t", 1)
    fit = tail.fit_tail(cal, conformal_count=conformal_count)
    scores = np.concatenate([cal, DISTS["student_t"].rvs(size=20000, random_state=2) * 3])
    t = calibration.threshold_for_rate(cal, rate, fit)
    assert np.array_equal(scores > t, calibration.p_values(cal, scores, fit) <= rate)


def test_rates_the_calibration_set_supports_keep_the_conformal_threshold():
    cal = _cal("beta", 2)
    fit = tail.fit_tail(cal)
    supported = tail.CONFORMAL_COUNT / (N_CAL + 1)
    for rate in (supported, 0.01, 0.2):
        assert calibration.rule_for_rate(fit, rate) == "conformal"
        assert calibration.threshold_for_rate(cal, rate, fit) == calibration.threshold_for_rate(cal, rate)
    assert calibration.rule_for_rate(fit, supported * 0.99) == "tail"
    # asked for the tail: it sets every threshold below the share of scores above u
    forced = tail.fit_tail(cal, conformal_count=None)
    assert calibration.rule_for_rate(forced, 0.01) == "tail"
    assert calibration.threshold_for_rate(cal, 0.01, forced) != calibration.threshold_for_rate(cal, 0.01)


def test_few_calibration_scores_get_an_exponential_tail_beyond_their_range_only():
    cal = _cal("chi2", 3, n=400)  # 10% is 40 excesses, too few to estimate a shape
    fit = tail.fit_tail(cal)
    assert fit.status == "shape_fixed" and fit.shape == 0.0 and fit.junction == cal.max()
    # rates the 400 rows resolve keep the conformal threshold and p-values
    assert calibration.rule_for_rate(fit, 1 / 401) == "conformal"
    assert calibration.threshold_for_rate(cal, 0.01, fit) == calibration.threshold_for_rate(cal, 0.01)
    inside = np.linspace(0, cal.max(), 100)
    assert np.array_equal(calibration.p_values(cal, inside, fit), calibration.conformal_p_values(cal, inside))
    # beyond the largest score the tail takes over, below the conformal floor 1 / 401
    assert calibration.rule_for_rate(fit, 1e-4) == "tail"
    t = calibration.threshold_for_rate(cal, 1e-4, fit)
    assert t > cal.max() and 0.2 < DISTS["chi2"].sf(t) / 1e-4 < 5
    beyond = np.linspace(cal.max() * 1.01, 2 * cal.max(), 100)
    p = calibration.p_values(cal, beyond, fit)
    assert np.all(p < 1 / 401) and np.all(np.diff(p) < 0)
    assert np.array_equal(beyond > t, p <= 1e-4)


def test_too_few_calibration_scores_fall_back_to_conformal():
    cal = _cal("chi2", 3, n=19)  # under 20 scores: no tail at all
    fit = tail.fit_tail(cal)
    assert fit.status == "too_few_scores" and not fit.usable
    assert calibration.rule_for_rate(fit, 1e-4) == "conformal"
    assert calibration.threshold_for_rate(cal, 1e-4, fit) == cal.max()
    scores = np.linspace(0, 2 * cal.max(), 100)
    assert np.array_equal(calibration.p_values(cal, scores, fit), calibration.conformal_p_values(cal, scores))
    with pytest.raises(InvalidInputError, match="too_few_scores"):
        tail.tail_survival(fit, scores)


@pytest.mark.parametrize("cal", [np.full(3000, 7.0), np.r_[np.arange(2700.0), np.full(300, 5000.0)]],
                         ids=["constant", "tied_top"])
def test_tied_scores_fall_back_to_conformal(cal):
    fit = tail.fit_tail(cal)
    assert fit.status == "tied_scores"
    assert calibration.threshold_for_rate(cal, 1e-4, fit) == calibration.threshold_for_rate(cal, 1e-4)


def test_a_wild_shape_is_bounded_and_thresholds_stay_finite():
    rng = np.random.default_rng(4)
    cal = rng.pareto(0.4, size=N_CAL)  # xi = 2.5: infinite mean
    fit = tail.fit_tail(cal)
    assert fit.status == "shape_bounded" and fit.shape == tail.SHAPE_RANGE[1]
    thresholds = [calibration.threshold_for_rate(cal, r, fit) for r in (1e-3, 1e-4, 1e-6)]
    assert np.all(np.isfinite(thresholds)) and np.all(np.diff(thresholds) > 0)


def test_fit_quality_exposes_a_poor_fit():
    rng = np.random.default_rng(5)
    good = tail.fit_tail(rng.standard_exponential(N_CAL))
    # the top 3% form a separate cluster: no single generalised Pareto fits the top 10%
    body = rng.standard_exponential(N_CAL)
    body[:60] = 9.0 + rng.random(60) * 0.1
    bad = tail.fit_tail(body)
    assert good.ks_p_value > 0.05 and bad.ks_p_value < 0.01
    assert bad.ks_statistic > 2 * good.ks_statistic


def test_fit_round_trips_through_json():
    fit = tail.fit_tail(_cal("chi2", 6))
    back = tail.TailFit.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert back == fit
    failed = tail.fit_tail(np.arange(10.0))
    assert tail.TailFit.from_dict(json.loads(json.dumps(failed.to_dict()))) == failed
    with pytest.raises(InvalidInputError, match="shape"):
        tail.TailFit.from_dict({k: v for k, v in fit.to_dict().items() if k != "shape"})


def test_bad_input_is_refused_with_the_value():
    with pytest.raises(InvalidInputError, match="nan"):
        tail.fit_tail(np.array([1.0, np.nan]))
    with pytest.raises(InvalidInputError, match="at least one"):
        tail.fit_tail(np.array([]))
    cal = _cal("chi2", 0)
    fit = tail.fit_tail(cal)
    for rate in (0.0, 1.0, -1e-4):
        with pytest.raises(VAEAnomalyError, match=repr(rate)):
            calibration.threshold_for_rate(cal, rate, fit)
    with pytest.raises(ValueError, match="conformal_count"):
        tail.fit_tail(cal, conformal_count=0)
