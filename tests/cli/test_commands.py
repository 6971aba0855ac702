"""The ``vae-detect`` command line, end to end on a small slice of the sample data.

One tiny model (3 epochs on 500 rows) is fitted once per module through the
CLI and reused by every test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import ROOT, invoke
from vae_anomaly import VAEDetector
from vae_anomaly.features.columns import choose_columns
from vae_anomaly.jobs.evaluate import binary_labels, classification_metrics
from vae_anomaly.persistence.modelfile import load_scorer

SAMPLE = ROOT / "sample_data" / "tabular.parquet"
SENSORS = SAMPLE.with_name("sensors.parquet")
OUTPUT_COLUMNS = ["anomaly_score", "is_anomaly", "p_value", "top_feature"]

@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Folder with train.parquet (first 500 rows) and new.parquet (the next 300)."""
    where = tmp_path_factory.mktemp("cli")
    data = pd.read_parquet(SAMPLE)
    data.iloc[:500].to_parquet(where / "train.parquet", index=False)
    data.iloc[500:800].reset_index(drop=True).to_parquet(where / "new.parquet", index=False)
    return where


@pytest.fixture(scope="module")
def fitted(work) -> tuple[Path, dict]:
    """Model fitted through the CLI, and the JSON summary it printed."""
    model = work / "model.vae"
    result = invoke("fit", work / "train.parquet", "-m", model, "--exclude", "label",
                    "--epochs", 3, "--seed", 0, "--json")
    assert result.exit_code == 0, result.output
    return model, json.loads(result.stdout)


@pytest.fixture(scope="module")
def detector(fitted) -> VAEDetector:
    return VAEDetector.load(fitted[0])


def assert_user_error(result, *leftovers: Path) -> str:
    """Exit 1, exactly one ``error:`` line on stderr, no traceback, nothing left behind."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for path in leftovers:
        assert not path.exists(), path
        assert not list(path.parent.glob(f".{path.name}.*.tmp"))
    return lines[0]


# ------------------------------------------------------------------------------------------
# fit
# ------------------------------------------------------------------------------------------
def test_fit_summary_names_used_ignored_and_excluded_columns(fitted):
    model, summary = fitted
    assert model.exists()
    assert summary["rows"] == 500 and summary["epochs"] == 3
    assert "id" in summary["columns_ignored"] and "id?" in summary["columns_ignored"]["id"]
    assert summary["columns_excluded"] == ["label"]
    assert "label" not in summary["columns_used"] and "pressure" in summary["columns_used"]
    assert summary["threshold"] > 0 and summary["calibration"]["method"] == "target_fpr"


def test_fit_prints_a_readable_summary_to_stderr(work):
    model = work / "tiny.vae"
    result = invoke("fit", work / "train.parquet", "-m", model, "-x", "label", "-c", "pressure",
                    "-c", "temperature", "-c", "label", "--epochs", 1, "--contamination", "0.05")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "columns used (2): temperature, pressure" in result.stderr
    assert "contamination = 0.05" in result.stderr
    assert invoke("fit", work / "train.parquet", "-m", model, "-c", "pressure", "--epochs", 1,
                  "--quiet").stderr == ""


def test_fit_refuses_an_unknown_column_and_leaves_no_model(work):
    model = work / "never.vae"
    result = invoke("fit", work / "train.parquet", "-m", model, "--exclude", "lable", "--epochs", 1)
    assert "column 'lable' is not in the data" in assert_user_error(result, model)


def test_choose_columns_gives_a_reason_for_each_ignored_column():
    frame = pd.DataFrame({
        "id": [f"r{i}" for i in range(80)],
        "when": pd.date_range("2024-01-01", periods=80),
        "empty": np.full(80, np.nan),
        "x": np.arange(80.0),
        "label": np.zeros(80, dtype=int),
    })
    choice = choose_columns(frame, exclude=["label"])
    assert choice.used == ["x"]
    assert choice.excluded == ["label"]
    assert set(choice.ignored) == {"id", "when", "empty"}
    assert "all values are missing" in choice.ignored["empty"]
    assert "dates or times" in choice.ignored["when"]


# ------------------------------------------------------------------------------------------
# score
# ------------------------------------------------------------------------------------------
def test_score_writes_input_columns_plus_results_next_to_the_input(work, fitted, detector):
    result = invoke("score", work / "new.parquet", "-m", fitted[0])
    assert result.exit_code == 0, result.output
    assert "scored 300 rows" in result.stderr
    out = pd.read_parquet(work / "new.scores.parquet")
    data = pd.read_parquet(work / "new.parquet")
    assert list(out.columns) == list(data.columns) + OUTPUT_COLUMNS
    pd.testing.assert_frame_equal(out[data.columns], data)
    assert out["anomaly_score"].dtype == np.float64 and out["p_value"].dtype == np.float64
    assert out["is_anomaly"].dtype == bool
    details = detector.score_details(data)
    np.testing.assert_array_equal(out["anomaly_score"], details.anomaly_score)
    np.testing.assert_array_equal(out["top_feature"].astype(str), details.top_feature().astype(str))


def test_streaming_in_small_batches_equals_scoring_the_whole_file(work, fitted, detector):
    data = pd.read_parquet(work / "new.parquet")
    data.to_parquet(work / "groups.parquet", row_group_size=37, index=False)
    out = work / "groups.out.parquet"
    result = invoke("score", work / "groups.parquet", "-m", fitted[0], "-o", out, "--batch-size", 50,
                    "--jobs", 3)
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)
    want = detector.score_details(data)
    np.testing.assert_array_equal(got["anomaly_score"].to_numpy(), want.anomaly_score)
    np.testing.assert_array_equal(got["p_value"].to_numpy(), want.p_value)
    np.testing.assert_array_equal(got["is_anomaly"].to_numpy(), want.is_anomaly)
    np.testing.assert_array_equal(got["top_feature"].astype(str).to_numpy(), want.top_feature().astype(str))


def test_extra_columns_are_carried_through_and_columns_out_limits_them(work, fitted):
    data = pd.read_parquet(work / "new.parquet").assign(note="batch-7")
    data.to_parquet(work / "extra.parquet", index=False)
    result = invoke("score", work / "extra.parquet", "-m", fitted[0], "--columns-out", "id",
                    "--columns-out", "note", "-o", work / "extra.csv", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    out = pd.read_csv(work / "extra.csv")
    assert list(out.columns) == ["id", "note"] + OUTPUT_COLUMNS
    assert (out["note"] == "batch-7").all()


def test_dash_writes_csv_to_stdout(work, fitted):
    result = invoke("score", work / "new.parquet", "-m", fitted[0], "-o", "-", "--quiet")
    assert result.exit_code == 0, result.output
    from io import StringIO

    out = pd.read_csv(StringIO(result.stdout))
    assert len(out) == 300 and out.columns[-4:].tolist() == OUTPUT_COLUMNS


def test_csv_input_and_directory_input(work, fitted):
    data = pd.read_parquet(work / "new.parquet")
    data.to_csv(work / "new.csv", index=False)
    assert invoke("score", work / "new.csv", "-m", fitted[0], "-o", work / "from_csv.parquet").exit_code == 0
    parts = work / "landing"
    parts.mkdir()
    data.iloc[:100].to_parquet(parts / "a.parquet", index=False)
    data.iloc[100:].to_parquet(parts / "b.parquet", index=False)
    assert invoke("score", parts, "-m", fitted[0]).exit_code == 0
    from_dir = pd.read_parquet(work / "landing.scores.parquet")
    from_csv = pd.read_parquet(work / "from_csv.parquet")
    np.testing.assert_allclose(from_dir["anomaly_score"], from_csv["anomaly_score"], rtol=1e-12)


@pytest.fixture(scope="module")
def windowed(tmp_path_factory) -> tuple[Path, Path]:
    """A 4-row-window model on 1,200 sensor rows, and the next 800 rows to score."""
    where = tmp_path_factory.mktemp("windows")
    sensors = pd.read_parquet(SENSORS)
    sensors.iloc[:1200].to_parquet(where / "train.parquet", index=False)
    sensors.iloc[1200:2000].reset_index(drop=True).to_parquet(where / "new.parquet", index=False)
    model = where / "w.vae"
    result = invoke("fit", where / "train.parquet", "-m", model, "--window", 4, "--time-column", "timestamp",
                    "--group-column", "machine", "-x", "label", "--epochs", 2, "--seed", 0, "-q")
    assert result.exit_code == 0, result.output
    return model, where / "new.parquet"


def test_windowed_model_streams_with_context_across_batches(windowed, tmp_path):
    model, new = windowed
    out = tmp_path / "w.parquet"
    assert invoke("score", new, "-m", model, "-o", out, "--batch-size", 37, "-q").exit_code == 0
    got = pd.read_parquet(out)
    want = VAEDetector.load(model).score_details(pd.read_parquet(new))
    np.testing.assert_array_equal(got["anomaly_score"].to_numpy(), want.anomaly_score)
    np.testing.assert_array_equal(got["window_fill"].to_numpy(), want.window_fill)
    assert got.columns[-5:].tolist() == OUTPUT_COLUMNS + ["window_fill"]


@pytest.mark.parametrize("batch_size", [65536, 37, 5])
def test_score_reports_each_time_gap_once(windowed, tmp_path, batch_size):
    """M3 misses half an hour of readings (sample_data/README.md): reported once, whatever the batches."""
    model, _ = windowed
    sensors = pd.read_parquet(SENSORS)
    around_gap = sensors[(sensors["timestamp"] >= "2024-03-04 23:00")
                         & (sensors["timestamp"] < "2024-03-05 00:30")]
    data = tmp_path / "gap.parquet"
    around_gap.to_parquet(data, index=False)
    result = invoke("score", data, "-m", model, "-o", tmp_path / "out.parquet", "--batch-size", batch_size)
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "1 time gap(s) longer than 3x" in warning[0], result.stderr
    assert "M3 2024-03-04 23:19:00 -> 2024-03-04 23:50:00 (1860 s)" in warning[0]


def test_gap_tolerance_sets_which_gaps_are_reported(windowed, tmp_path):
    """The 31-minute gap is 31 fitted steps of one minute: reported under 20x, not under 40x."""
    model, _ = windowed
    sensors = pd.read_parquet(SENSORS)
    data = tmp_path / "gap.parquet"
    sensors[sensors["machine"] == "M3"].to_parquet(data, index=False)
    for tolerance, expected in ((20, 1), (40, 0)):
        result = invoke("score", data, "-m", model, "-o", tmp_path / "out.parquet", "--gap-tolerance",
                        tolerance)
        assert result.exit_code == 0, result.output
        warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warning) == expected, result.stderr
        if expected:
            assert warning[0].startswith(f"warning: 1 time gap(s) longer than {tolerance}x"), warning[0]


@pytest.mark.parametrize("extra, message", [
    (["-x", "timestamp"], "'timestamp' is the window's time or group column; it cannot also be excluded"),
    (["-c", "timestamp", "-c", "machine"], "no column is left to model besides the time and group columns"),
    (["--group-column", "timestamp"], "time_column and group_column are both 'timestamp'"),
])
def test_windowed_fit_refuses_contradictory_key_columns(extra, message, tmp_path):
    model = tmp_path / "k.vae"
    args = ["fit", SENSORS, "-m", model, "--window", 4, "--time-column", "timestamp", "-x", "label",
            "--epochs", 1]
    if "--group-column" not in extra:
        args += ["--group-column", "machine"]
    assert message in assert_user_error(invoke(*args, *extra), model)


def test_time_column_of_another_kind_is_refused_at_score_time(windowed, tmp_path):
    """Times as text would sort as text; times as numbers would be read in other units than at fit."""
    model, new = windowed
    frame = pd.read_parquet(new)
    out = tmp_path / "o.parquet"
    text = tmp_path / "text.parquet"
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%m/%d/%Y %H:%M")).to_parquet(text, index=False)
    assert "holds text, not datetimes or numbers" in assert_user_error(
        invoke("score", text, "-m", model, "-o", out), out)
    numbers = tmp_path / "numbers.parquet"
    frame.assign(timestamp=frame["timestamp"].astype("int64")).to_parquet(numbers, index=False)
    assert "holds numbers, but the model was fitted on datetimes" in assert_user_error(
        invoke("score", numbers, "-m", model, "-o", out), out)


def test_dates_and_aware_times_order_like_datetimes(windowed, tmp_path):
    """A UTC-aware time column is refused by a model fitted on naive times, and scores like them when
    fitted on it; Arrow dates (Python date objects in pandas) are datetimes too."""
    model, new = windowed
    frame = pd.read_parquet(new)
    aware = tmp_path / "aware.parquet"
    frame.assign(timestamp=frame["timestamp"].dt.tz_localize("UTC")).to_parquet(aware, index=False)
    out = tmp_path / "o.parquet"
    assert "holds time-zone-aware datetimes, but the model was fitted on datetimes" in assert_user_error(
        invoke("score", aware, "-m", model, "-o", out), out)
    det = VAEDetector(window=4, time_column="timestamp", group_column="machine", max_iter=1, random_state=0)
    naive = frame.drop(columns="label")
    in_utc = naive.assign(timestamp=naive["timestamp"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"))
    np.testing.assert_array_equal(det.fit(naive).score_samples(naive), det.fit(in_utc).score_samples(in_utc))
    assert det.window_config_["time_kind"] == "datetime-tz" and det.window_config_["median_step_s"] == 60.0
    days = pd.DataFrame({"day": pd.date_range("2024-01-01", periods=60, freq="D").date, "x": np.arange(60.0)})
    fitted = VAEDetector(window=4, time_column="day", max_iter=1).fit(days.iloc[::-1])
    assert fitted.window_config_["time_kind"] == "datetime"
    assert fitted.window_config_["median_step_s"] == 86400.0


def test_repeated_timestamps_do_not_hide_gaps(tmp_path):
    """Every reading twice: the time step is still one minute, so a half-hour gap is reported."""
    sensors = pd.read_parquet(SENSORS)
    m3 = sensors[sensors["machine"] == "M3"].drop(columns=["label", "machine"])
    doubled = tmp_path / "doubled.parquet"
    pd.concat([m3.iloc[:2000], m3.iloc[:2000]]).to_parquet(doubled, index=False)
    model = tmp_path / "d.vae"
    assert invoke("fit", doubled, "-m", model, "--window", 4, "--time-column", "timestamp", "--epochs", 1,
                  "-q").exit_code == 0
    data = tmp_path / "m3.parquet"
    m3.to_parquet(data, index=False)
    result = invoke("score", data, "-m", model, "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output
    assert "1 time gap(s) longer than 3x" in result.stderr and "(1860 s)" in result.stderr, result.stderr
    assert "time step 60 s" in invoke("info", model).stdout


def test_windowed_model_refuses_batches_that_go_back_in_time(windowed, tmp_path):
    model, new = windowed
    shuffled = tmp_path / "shuffled.parquet"
    pd.read_parquet(new).sample(frac=1.0, random_state=0).to_parquet(shuffled, index=False)
    out = tmp_path / "s.parquet"
    line = assert_user_error(invoke("score", shuffled, "-m", model, "-o", out, "--batch-size", 100), out)
    assert "not in timestamp order" in line
    assert invoke("score", shuffled, "-m", model, "-o", out, "-q").exit_code == 0


# ------------------------------------------------------------------------------------------
# evaluate and info
# ------------------------------------------------------------------------------------------
def test_evaluate_json_matches_the_metrics_of_the_scores(work, fitted, detector):
    result = invoke("evaluate", work / "train.parquet", "-m", fitted[0], "--label-column", "label", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert {"auc_roc", "auc_pr", "precision", "recall", "f1", "tp", "fp", "tn", "fn"} <= set(metrics)
    data = pd.read_parquet(work / "train.parquet")
    details = detector.score_details(data)
    want = classification_metrics(data["label"] == 1, details.anomaly_score, details.is_anomaly)
    assert metrics["auc_roc"] == pytest.approx(want["auc_roc"])
    assert metrics["tp"] + metrics["fp"] + metrics["tn"] + metrics["fn"] == 500
    text = invoke("evaluate", work / "train.parquet", "-m", fitted[0], "-l", "label")
    assert "AUC-ROC" in text.stdout and "confusion" in text.stdout


def test_metrics_and_labels_helpers():
    m = classification_metrics(np.array([0, 0, 1, 1], bool), np.array([0.1, 0.4, 0.35, 0.8]),
                               np.array([0, 1, 0, 1], bool))
    assert m["auc_roc"] == pytest.approx(0.75)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (1, 1, 1, 1)
    assert m["precision"] == m["recall"] == m["f1"] == 0.5
    assert classification_metrics(np.zeros(3, bool), np.arange(3.0), np.zeros(3, bool))["auc_roc"] is None
    np.testing.assert_array_equal(binary_labels(pd.Series(["Yes", "no", "anomaly"])), [True, False, True])


def test_info_reports_columns_calibration_and_training(fitted):
    model, summary = fitted
    result = invoke("info", model, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    kinds = {c["name"]: c["kind"] for c in info["columns"]}
    assert kinds["pressure"] == "numeric" and kinds["region"] == "categorical"
    assert info["calibration"]["method"] == "target_fpr" and info["calibration"]["rate"] == 0.01
    assert info["calibration"]["n_calibration"] == 100
    assert info["threshold"] == pytest.approx(summary["threshold"])
    assert info["training"]["epochs"] == 3 and info["training"]["device"] == "cpu"
    assert "vae_anomaly" in info["versions"] and info["params"]["max_iter"] == 3
    text = invoke("info", model).stdout
    assert "threshold" in text and "pressure" in text and "target_fpr" in text


# ------------------------------------------------------------------------------------------
# errors and usage
# ------------------------------------------------------------------------------------------
def _bad_inputs(work: Path) -> dict[str, Path]:
    data = pd.read_parquet(work / "new.parquet")
    paths = {}
    paths["missing_column"] = work / "no_pressure.parquet"
    data.drop(columns="pressure").to_parquet(paths["missing_column"])
    paths["changed_dtype"] = work / "text_pressure.parquet"
    data.assign(pressure=data["pressure"].astype(str)).to_parquet(paths["changed_dtype"])
    paths["unreadable"] = work / "garbage.parquet"
    paths["unreadable"].write_bytes(b"PAR1 not really")
    paths["empty"] = work / "empty.parquet"
    paths["empty"].write_bytes(b"")
    paths["not_a_table"] = work / "notes.txt"
    paths["not_a_table"].write_text("hello")
    paths["no_parquet_dir"] = work / "nothing_here"
    paths["no_parquet_dir"].mkdir(exist_ok=True)
    return paths


@pytest.mark.parametrize(("case", "message"), [
    ("missing_column", "error: column 'pressure' is missing (it was present at fit time)"),
    ("changed_dtype", "error: column 'pressure' was numeric"),
    ("unreadable", "error: garbage.parquet is not a readable Parquet file"),
    ("empty", "error: empty.parquet is empty"),
    ("not_a_table", "error: cannot tell the format of 'notes.txt'"),
    ("no_parquet_dir", "error: directory"),
])
def test_bad_input_is_one_line_and_exit_1(work, fitted, case, message):
    data = _bad_inputs(work)[case]
    out = work / f"{case}.out.parquet"
    line = assert_user_error(invoke("score", data, "-m", fitted[0], "-o", out), out)
    assert line.startswith(message)


def test_corrupt_model_and_bad_output_directory(work, fitted):
    corrupt = work / "corrupt.vae"
    raw = bytearray(fitted[0].read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(raw))
    out = work / "c.parquet"
    assert "corrupt" in assert_user_error(invoke("score", work / "new.parquet", "-m", corrupt, "-o", out),
                                          out)
    assert "corrupt" in assert_user_error(invoke("info", corrupt))
    missing_dir = work / "no" / "such" / "dir.parquet"
    line = assert_user_error(invoke("score", work / "new.parquet", "-m", fitted[0], "-o", missing_dir))
    assert "does not exist" in line
    line = assert_user_error(invoke("fit", work / "train.parquet", "-m", missing_dir.with_suffix(".vae")))
    assert "does not exist" in line


def test_unwritable_output_directory_is_one_line(work, fitted, monkeypatch):
    import vae_anomaly.tables.write as vio

    real_access = os.access
    monkeypatch.setattr(vio.os, "access",
                        lambda path, mode: Path(path).name != "readonly" and real_access(path, mode))
    (work / "readonly").mkdir(exist_ok=True)
    out = work / "readonly" / "x.parquet"
    line = assert_user_error(invoke("score", work / "new.parquet", "-m", fitted[0], "-o", out), out)
    assert "is not writable" in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_directory(work, fitted):
    locked = work / "locked"
    locked.mkdir(exist_ok=True)
    locked.chmod(0o500)
    try:
        result = invoke("score", work / "new.parquet", "-m", fitted[0], "-o", locked / "x.parquet")
        assert "not writable" in assert_user_error(result, locked / "x.parquet")
    finally:
        locked.chmod(0o700)


def test_failure_mid_stream_keeps_the_previous_output(work, fitted):
    data = pd.read_parquet(work / "new.parquet")
    parts = work / "half_bad"
    parts.mkdir()
    data.iloc[:150].to_parquet(parts / "a.parquet", index=False)
    data.iloc[150:].assign(pressure="high").to_parquet(parts / "b.parquet", index=False)
    out = work / "half_bad.scores.parquet"
    out.write_bytes(b"yesterday's scores")
    result = invoke("score", parts, "-m", fitted[0], "--batch-size", 64)
    assert_user_error(result)
    assert out.read_bytes() == b"yesterday's scores"
    assert not list(work.glob(".half_bad.scores.parquet.*.tmp"))


@pytest.mark.parametrize("args", [
    ["score"],
    ["evaluate", "x.parquet"],
    ["fit", "x.parquet", "--contamination", "0.7"],
    ["fit", "x.parquet", "--target-fpr", "0"],
    ["score", "x.parquet", "--batch-size", "0"],
    ["fit", "x.parquet", "--time-column", "t"],
    ["fit", "x.parquet", "--likelihood", "cauchy"],
    ["score", "x.parquet", "--gap-tolerance", "0"],
    ["score", "x.parquet", "--gap-tolerance", "nan"],
])
def test_usage_errors_exit_2(args):
    assert invoke(*args).exit_code == 2


@pytest.mark.parametrize("command", ["fit", "score", "evaluate", "info"])
def test_every_command_has_help_with_an_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout and f"vae-detect {command}" in result.stdout
    assert "--quiet" in result.stdout


# ------------------------------------------------------------------------------------------
# the installed script
# ------------------------------------------------------------------------------------------
def test_installed_entry_point(work, fitted):
    script = Path(sys.executable).with_name("vae-detect")
    assert script.exists(), script
    ok = subprocess.run([str(script), "score", str(work / "new.parquet"), "-m", str(fitted[0]), "-o", "-",
                         "-q"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0].endswith('"anomaly_score","is_anomaly","p_value","top_feature"')
    assert len(ok.stdout.splitlines()) == 301 and ok.stderr == ""
    bad = subprocess.run([str(script), "info", str(work / "nope.vae")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [f"error: model file {work / 'nope.vae'} does not exist"]


def test_refitting_the_same_data_gives_the_same_scores_by_default(work, fitted):
    """A scheduled refit of an unchanged extract must not change results by chance."""
    model, summary = fitted
    again = work / "again.vae"
    result = invoke("fit", work / "train.parquet", "-m", again, "--exclude", "label", "--epochs", 3, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["threshold"] == summary["threshold"]
    rows = pd.read_parquet(work / "new.parquet")
    first, second = (load_scorer(m).score_details(rows).anomaly_score for m in (model, again))
    assert np.array_equal(first, second)


def test_info_of_a_windowed_model_lists_the_channels_not_the_statistics(windowed):
    model, _ = windowed
    info = json.loads(invoke("info", model, "--json").stdout)
    channels = ["temperature", "vibration", "pressure", "flow", "current", "rpm"]
    assert [c["name"] for c in info["columns"]] == channels
    assert info["window"]["features"] == "summary" and info["window"]["size"] == 4
    text = invoke("info", model).stdout
    assert "4 rows, per-channel statistics" in text and "mean(" not in text


def test_info_of_a_windowed_student_t_model_shows_its_likelihood_and_channel_dtypes(tmp_path):
    sensors = pd.read_parquet(SENSORS).iloc[:600].drop(columns="label")
    sensors["rpm"] = sensors["rpm"].round().astype("int64")
    sensors.to_parquet(tmp_path / "train.parquet", index=False)
    model = tmp_path / "w.vae"
    result = invoke("fit", tmp_path / "train.parquet", "-m", model, "--window", 4, "--time-column",
                    "timestamp",
                    "--group-column", "machine", "--epochs", 1, "--likelihood", "student-t", "-q")
    assert result.exit_code == 0, result.output
    info = json.loads(invoke("info", model, "--json").stdout)
    dtypes = {c["name"]: c["dtype"] for c in info["columns"]}
    assert dtypes["rpm"] == "int64" and dtypes["temperature"] == "float64"
    assert info["params"]["likelihood"] == "student-t"
