"""Columns with little spread in training (set-points, idle sensors, rare levels) still flag a change.

Each test starts from the smallest input that showed a fault (issue 14) and
asserts what a user sees: the share of rows flagged, an exit code, a message.
Windowed warm-up rows are in ``tests/scoring/test_warmup.py``; dtypes from
pyarrow and databases in ``test_column_types.py``; exports and fleets in
``test_exports_and_fleets.py``; settings changed after fit in
``tests/estimator/test_settings_after_fit.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers import invoke
from vae_anomaly import VAEDetector
from vae_anomaly.features.windows import summary_frame, window_index

RATE = 0.01  # target_fpr, the default
BAND = 0.05  # a model's flagged share of fresh normal rows stays below this in every test here


def flagged(det, frame) -> float:
    return float((det.predict(frame) == -1).mean())


def setpoints(n: int, seed: int, **constants) -> pd.DataFrame:
    """Two N(0, 1) columns and one constant column per keyword."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return frame.assign(**{name: np.full(n, value) for name, value in constants.items()})


# ------------------------------------------------------------------------------------------
# 1. constant columns
# ------------------------------------------------------------------------------------------
UNITS = {"one": 1.0, "hundred": 100.0, "hundredth": 0.01, "setpoint": 14.62, "pressure_pa": -3.5e6,
         "zero": 0.0}


@pytest.fixture(scope="module")
def constants_model(one_torch_thread):
    return VAEDetector(random_state=0).fit(setpoints(2000, 0, **UNITS))


def test_a_constant_column_has_a_spread_relative_to_its_size(constants_model):
    pre = constants_model.preprocessor_
    scale = dict(zip(pre.num_names_, pre.scale_, strict=True))
    for name, value in UNITS.items():
        assert scale[name] == pytest.approx(1e-6 * abs(value) if value else 1e-6), name


def test_a_float32_extract_of_unchanged_values_is_not_flagged(constants_model):
    """Issue 14, class 1: the same rows read back as float32 were flagged 100% of the time."""
    new = setpoints(500, 1, **UNITS)
    as_float64, as_float32 = flagged(constants_model, new), flagged(constants_model, new.astype(np.float32))
    assert as_float64 <= BAND
    # A row at the threshold may move: the other columns round too.
    assert abs(as_float32 - as_float64) <= 2 / 500


@pytest.mark.parametrize("name", sorted(UNITS))
def test_a_changed_constant_is_flagged_whatever_its_unit(constants_model, name):
    """Halving a set-point was flagged 10%, 100% or 0% of the time depending on its unit."""
    new = setpoints(300, 2, **UNITS)
    new[name] = UNITS[name] / 2 if UNITS[name] else 1.0
    assert flagged(constants_model, new) == 1.0
    nudged = setpoints(300, 2, **UNITS)  # a change within float32 rounding is no change
    nudged[name] = UNITS[name] * (1 + 5e-8)
    assert flagged(constants_model, nudged) <= BAND


@pytest.mark.parametrize("scaler", ["quantile", "standard"])
def test_every_scaler_recognises_a_constant(scaler, one_torch_thread):
    det = VAEDetector(scaler=scaler, random_state=0).fit(setpoints(1000, 0, setpoint=14.62))
    new = setpoints(500, 1, setpoint=14.62)
    assert abs(flagged(det, new.astype(np.float32)) - flagged(det, new)) <= 2 / 500
    assert flagged(det, new.assign(setpoint=7.31)) == 1.0


def test_the_cli_scores_a_float32_extract_like_the_float64_one(tmp_path):
    """Fit on a float64 extract, score a float32 one: was "500 anomalies (100.00%)" with exit 0."""
    setpoints(2000, 0, setpoint=14.62).to_parquet(tmp_path / "train.parquet")
    new = setpoints(500, 1, setpoint=14.62)
    new.to_parquet(tmp_path / "new64.parquet")
    new.astype(np.float32).to_parquet(tmp_path / "new32.parquet")
    assert invoke("fit", tmp_path / "train.parquet", "-m", tmp_path / "m.vae", "--seed", 0,
                  "-q").exit_code == 0
    shares = {}
    for name in ("new64", "new32"):
        result = invoke("score", tmp_path / f"{name}.parquet", "-m", tmp_path / "m.vae", "-o",
                        tmp_path / f"{name}.s.parquet")
        assert result.exit_code == 0, result.output
        shares[name] = pd.read_parquet(tmp_path / f"{name}.s.parquet")["is_anomaly"].mean()
    assert shares["new64"] <= BAND and abs(shares["new32"] - shares["new64"]) <= 2 / 500


def test_window_statistics_of_a_constant_channel_are_exact():
    """The window spread of a constant channel was about 1e-15 instead of 0."""
    starts = np.r_[True, np.zeros(39, dtype=bool)]
    stats = summary_frame(pd.DataFrame({"c": np.full(40, 14.62)}), window_index(starts, 16), ["c"])
    assert (stats["std(c)"] == 0).all() and (stats["diff(c)"].iloc[1:] == 0).all()
    assert (stats["min(c)"] == 14.62).all() and (stats["max(c)"] == 14.62).all()


def test_a_windowed_model_scores_a_float32_extract_of_a_constant_channel_alike(one_torch_thread):
    rng = np.random.default_rng(0)
    n = 1500
    frame = pd.DataFrame({"t": np.tile(np.arange(n // 3), 3), "m": np.repeat(["a", "b", "c"], n // 3),
                          "x": rng.normal(size=n), "setpoint": 14.62})
    det = VAEDetector(window=8, time_column="t", group_column="m", random_state=0).fit(frame)
    new = frame.assign(x=np.random.default_rng(1).normal(size=n))
    as_float32 = new.astype({"x": np.float32, "setpoint": np.float32})
    assert flagged(det, new) <= BAND
    assert abs(flagged(det, as_float32) - flagged(det, new)) <= 3 / n
    assert flagged(det, new.assign(setpoint=7.31)) == 1.0


# ------------------------------------------------------------------------------------------
# 2. columns whose interquartile range is 0
# ------------------------------------------------------------------------------------------
def idle_sensor(seed: int, spikes=(50.0, 70.0, 90.0)) -> pd.DataFrame:
    """1,600 rows at 0.1, 400 spread over [0.1, 0.2], a few spikes, and a noise column."""
    rng = np.random.default_rng(seed)
    idle = np.r_[np.full(1600, 0.1), rng.uniform(0.1, 0.2, 400), spikes]
    return pd.DataFrame({"idle": idle, "noise": rng.normal(size=idle.size)})


def test_an_idle_sensors_spread_ignores_a_few_spikes(one_torch_thread):
    """New readings of 0.5, 1 and 5 scored 1.0-3.3 against a threshold of 7.8: none flagged."""
    det = VAEDetector(random_state=0).fit(idle_sensor(0))
    assert det.preprocessor_.scale_[0] < 0.05  # the spikes (up to 90) used to set it to about 3
    new = pd.DataFrame({"idle": [0.5, 1.0, 5.0], "noise": [0.0, 0.0, 0.0]})
    assert (det.predict(new) == -1).all()
    assert flagged(det, idle_sensor(1, spikes=())) <= BAND


def test_zero_inflated_counts_flag_a_burst_and_not_the_usual_counts(one_torch_thread):
    """Counts that are 0 in 90% of the rows, with three bursts in training."""
    rng = np.random.default_rng(0)

    def counts(n, seed):
        r = np.random.default_rng(seed)
        return np.where(r.random(n) < 0.9, 0, r.poisson(2.0, n) + 1).astype(np.int64)

    train = pd.DataFrame({"errors": np.r_[counts(2000, 0), 400, 500, 600], "load": rng.normal(size=2003)})
    det = VAEDetector(random_state=0).fit(train)
    usual = pd.DataFrame({"errors": counts(1000, 1), "load": np.random.default_rng(2).normal(size=1000)})
    assert flagged(det, usual) <= BAND
    assert flagged(det, usual.assign(errors=40)) == 1.0


def test_quantised_readings_flag_a_jump_of_a_few_steps(one_torch_thread):
    """A sensor on a 0.5 grid that reads 20.0 in 85% of the rows."""
    def readings(n, seed):
        r = np.random.default_rng(seed)
        return pd.DataFrame({"temp": 20.0 + 0.5 * r.choice([-1, 0, 1], n, p=[0.075, 0.85, 0.075]),
                             "load": r.normal(size=n)})

    det = VAEDetector(random_state=0).fit(readings(2000, 0))
    assert det.preprocessor_.scale_[0] == pytest.approx(1.0 / 3.290, rel=1e-3)  # the central 90% range
    assert flagged(det, readings(1000, 1)) <= BAND
    assert flagged(det, readings(300, 2).assign(temp=22.5)) == 1.0


def test_a_column_constant_except_for_one_row_is_a_constant(one_torch_thread):
    frame = setpoints(2000, 0, setpoint=14.62)
    frame.loc[7, "setpoint"] = 20.0
    det = VAEDetector(random_state=0).fit(frame)
    assert det.preprocessor_.scale_[2] == pytest.approx(1e-6 * 14.62)
    new = setpoints(500, 1, setpoint=14.62)
    assert flagged(det, new) <= BAND
    assert abs(flagged(det, new.astype(np.float32)) - flagged(det, new)) <= 2 / 500
    assert flagged(det, new.assign(setpoint=7.31)) == 1.0


# ------------------------------------------------------------------------------------------
# 3. booleans and categories with a level seldom or never seen
# ------------------------------------------------------------------------------------------
def test_a_boolean_always_true_in_training_flags_false_and_a_missing_value(one_torch_thread):
    """Never false and never missing in training: a False and a missing flag are both flagged."""
    det = VAEDetector(random_state=0).fit(setpoints(2000, 0).assign(ok=True))
    new = setpoints(500, 1).assign(ok=True)
    assert flagged(det, new) <= BAND
    assert flagged(det, new.assign(ok=False)) == 1.0
    assert flagged(det, new.assign(ok=pd.array([None] * 500, dtype="boolean"))) == 1.0


def test_a_category_seen_once_is_flagged_for_most_rows(one_torch_thread):
    """A level seen once in 2,000 rows is rarer than the 1% rate: most rows holding it are flagged,
    as with a level never seen."""
    levels = np.random.default_rng(0).choice(["a", "b", "c"], 2000).astype(object)
    levels[5] = "once"
    det = VAEDetector(random_state=0).fit(setpoints(2000, 0).assign(kind=levels))
    new = setpoints(500, 1).assign(kind=np.random.default_rng(1).choice(["a", "b", "c"], 500))
    assert flagged(det, new) <= BAND
    assert flagged(det, new.assign(kind="once")) >= 0.5 and flagged(det, new.assign(kind="never")) >= 0.5
