"""What exports, drivers and fleets send (issue 14, class 7) scores like the table fitted on.

Each case is one way a scheduled job's extract differs from the table the
model was fitted on while meaning the same thing (or, for a change of unit,
meaning something else), or one way a fleet's machines share a table. The
assertions are what a user sees: identical scores, the share of rows
flagged, an exit code, a drift report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.helpers import invoke
from vae_anomaly import VAEDetector
from vae_anomaly.cli.app import app

runner = CliRunner()
BAND = 0.025  # fresh normal rows flagged at target_fpr=0.01 stay below this here


def flagged(det, frame) -> float:
    return float((det.predict(frame) == -1).mean())


def plant(n: int, seed: int) -> pd.DataFrame:
    """A numeric reading, a temperature in degrees Celsius, a count and a status flag."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "temp_c": rng.normal(20, 2, n),
                         "count": rng.poisson(5, n).astype("int64"), "ok": rng.random(n) < 0.9})


def fleet(machines: int, rows: int, seed: int, start: str = "2026-01-01") -> pd.DataFrame:
    """White-noise sensors, one row per minute per machine, times in UTC."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=rows, freq="min", tz="UTC")
    parts = [pd.DataFrame({"machine": f"m{seed}-{k}", "time": times, "temp": rng.normal(20, 0.5, rows),
                           "rpm": rng.normal(1500, 10, rows)}) for k in range(machines)]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def plant_model(one_torch_thread):
    return VAEDetector(max_iter=15, random_state=0).fit(plant(3000, 0))


@pytest.fixture(scope="module")
def fleet_model(one_torch_thread):
    return VAEDetector(window=8, time_column="time", group_column="machine", max_iter=15,
                       random_state=0).fit(fleet(4, 800, 0))


def test_a_boolean_written_as_text_scores_like_the_boolean(plant_model, tmp_path):
    # A JSON or database export spells booleans as text; before, 41% of such rows were flagged.
    fresh = plant(1000, 1)
    want = plant_model.score_samples(fresh)
    for spelled in ({True: "true", False: "false"}, {True: "T", False: "F"}, {True: "1", False: "0"}):
        np.testing.assert_array_equal(plant_model.score_samples(fresh.assign(ok=fresh["ok"].map(spelled))),
                                      want)
    plant_model.save(tmp_path / "m.vae")
    fresh.assign(ok=fresh["ok"].map({True: "True", False: "False"})).to_parquet(tmp_path / "text.parquet")
    result = runner.invoke(app, ["score", str(tmp_path / "text.parquet"), "-m", str(tmp_path / "m.vae"),
                                 "-o", str(tmp_path / "s.parquet")])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(pd.read_parquet(tmp_path / "s.parquet")["anomaly_score"], -want)


def test_an_integer_column_read_back_as_float_with_nulls_scores_like_the_integers(plant_model):
    # pandas turns an integer column with one null into float64
    fresh = plant(1000, 2)
    want = plant_model.score_samples(fresh)
    as_float = fresh.assign(count=fresh["count"].astype("float64"))
    np.testing.assert_array_equal(plant_model.score_samples(as_float), want)
    as_float.loc[as_float.index[:5], "count"] = np.nan
    got = plant_model.score_samples(as_float)
    np.testing.assert_array_equal(got[5:], want[5:])
    assert np.isfinite(got[:5]).all()


def test_missing_values_as_none_nan_or_na_score_alike(plant_model):
    fresh = plant(1000, 3)
    nan = fresh.copy()
    nan.loc[nan.index[:20], "a"] = np.nan
    none = fresh.assign(a=fresh["a"].astype(object))
    none.loc[none.index[:20], "a"] = None
    na = fresh.assign(a=fresh["a"].astype("Float64"))
    na.loc[na.index[:20], "a"] = pd.NA
    want = plant_model.score_samples(nan)
    np.testing.assert_array_equal(plant_model.score_samples(none), want)
    np.testing.assert_array_equal(plant_model.score_samples(na), want)


def test_a_change_of_unit_is_flagged_and_reported_as_drift(plant_model):
    fresh = plant(1000, 4)
    assert flagged(plant_model, fresh) < BAND and not plant_model.drift(fresh).detected
    fahrenheit = fresh.assign(temp_c=fresh["temp_c"] * 9 / 5 + 32)
    assert flagged(plant_model, fahrenheit) > 0.99
    report = plant_model.drift(fahrenheit)
    assert report.detected and report.columns["top"][0]["name"] == "temp_c"


def test_duplicate_timestamps_within_a_machine_score_the_same_in_any_row_order(fleet_model):
    # Two readings logged in the same minute: before, the window holding them depended on the
    # order the rows arrived in, and scores moved by up to 7 when the rows were shuffled.
    fresh = fleet(3, 200, 5)
    fresh.loc[fresh.index[10:20], "time"] = fresh["time"].iloc[10]
    want = fleet_model.score_samples(fresh)
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(fresh))
        got = np.empty_like(want)
        got[perm] = fleet_model.score_samples(fresh.iloc[perm])
        np.testing.assert_array_equal(got, want)


def test_a_time_column_in_another_time_zone_scores_the_same_instants_alike(fleet_model):
    fresh = fleet(3, 200, 6)
    berlin = fresh.assign(time=fresh["time"].dt.tz_convert("Europe/Berlin"))
    np.testing.assert_array_equal(fleet_model.score_samples(berlin), fleet_model.score_samples(fresh))


def test_new_machines_with_a_single_row_are_flagged_at_the_rate(fleet_model):
    # Each of 300 machines joining the fleet sends one row: all warm-up rows with one real row.
    rng = np.random.default_rng(7)
    new = pd.DataFrame({"machine": [f"new{i}" for i in range(300)],
                        "time": pd.Timestamp("2026-02-01", tz="UTC"),
                        "temp": rng.normal(20, 0.5, 300), "rpm": rng.normal(1500, 10, 300)})
    details = fleet_model.score_details(new)
    assert np.all(details.window_fill == 1 / 8)
    assert np.mean(details.is_anomaly) < BAND


def test_a_list_cell_in_rows_sharing_a_timestamp_is_refused_by_name(one_torch_thread):
    rng = np.random.default_rng(8)
    times = pd.date_range("2026-01-01", periods=600, freq="min")
    train = pd.DataFrame({"m": "a", "t": times, "x": rng.normal(size=600), "c": rng.choice(["p", "q"], 600)})
    det = VAEDetector(window=4, time_column="t", group_column="m", max_iter=3, random_state=0).fit(train)
    bad = train.iloc[:20].astype({"c": object})
    bad.at[bad.index[3], "c"] = ["p"]
    bad.loc[bad.index[2:5], "t"] = bad["t"].iloc[2]  # the tie is ordered before the cells are encoded
    with pytest.raises(ValueError, match="column 'c' holds list values"):
        det.score_samples(bad)


def setpoints(n: int, seed: int) -> pd.DataFrame:
    """Two N(0, 1) columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})


def test_a_column_that_became_all_null_in_an_extract_is_flagged_and_named(tmp_path):
    """A dead sensor in today's extract: every cell missing (a Parquet column of type null), in a
    column never missing in training. Every row is flagged, and the column at fault is the one named."""
    train = setpoints(2000, 0).assign(c=np.random.default_rng(5).normal(size=2000))
    train.to_parquet(tmp_path / "train.parquet")
    assert invoke("fit", tmp_path / "train.parquet", "-m", tmp_path / "m.vae", "--seed", 0,
                  "-q").exit_code == 0
    new = setpoints(500, 1).assign(c=None)
    new.to_parquet(tmp_path / "new.parquet")
    result = invoke("score", tmp_path / "new.parquet", "-m", tmp_path / "m.vae", "-o", tmp_path / "s.parquet")
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(tmp_path / "s.parquet")
    assert np.isfinite(scored["anomaly_score"]).all() and scored["is_anomaly"].all()
    assert (scored["top_feature"] == "c").all()


def test_timestamps_shared_by_machines_keep_each_machine_its_own_windows(one_torch_thread, tmp_path):
    """Four machines logging at the same minutes, rows sorted by time: every timestamp appears four
    times. Windows stay within a machine, no gap is reported, and each machine scores as it would alone."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2024-01-01", periods=300, freq="min")
    frame = pd.DataFrame({"t": np.repeat(times, 4), "m": np.tile(["a", "b", "c", "d"], 300),
                          "x": rng.normal(size=1200), "y": rng.normal(size=1200)})
    det = VAEDetector(window=8, time_column="t", group_column="m", max_iter=3, random_state=0).fit(frame)
    assert det.window_config_["median_step_s"] == 60.0
    together = det.score_details(frame)
    for machine in "abcd":
        alone = frame["m"] == machine
        np.testing.assert_allclose(det.score_details(frame[alone]).anomaly_score,
                                   together.anomaly_score[alone],
                                   rtol=1e-6)
    frame.to_parquet(tmp_path / "f.parquet")
    det.save(tmp_path / "m.vae")
    result = invoke("score", tmp_path / "f.parquet", "-m", tmp_path / "m.vae", "-o", tmp_path / "s.parquet")
    assert result.exit_code == 0 and "gap" not in result.stderr, result.output
