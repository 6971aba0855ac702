"""An extract of 0 rows is normal: every way of scoring it exits 0 with a 0-row output of the full schema.

Issue 27.3: a quiet hour gives an extract with no rows, and a pipeline that
alerts on exit 1 must not page anyone for it. Each case starts from the
minimal input (a Parquet file written from ``base.iloc[:0]``, a header-only
CSV file, a folder whose parts are all empty) and compares with the same
command on one row. ``fit`` on 0 rows stays an error: a model needs rows.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from tests.helpers import invoke
from vae_anomaly import VAEDetector
from vae_anomaly.jobs.score import MIN_DRIFT_ROWS
from vae_anomaly.report.run import write_report

from .hostile import OUTPUT_COLUMNS, assert_refused, snapshot, write_frame

SCORE_METHODS = ("score_samples", "predict", "p_values", "decision_function")


def _schema(path):
    return pq.read_schema(path).remove_metadata()


def _refused(inp, out, *args) -> str:
    """The one error line of a command that refuses its input, leaving nothing behind."""
    return assert_refused(invoke(*args), inp, snapshot(inp), out)


@pytest.fixture()
def one_and_none(base, dirs):
    """``in/one.parquet`` (1 row) and ``in/none.parquet`` (0 rows) of the base table."""
    inp, _ = dirs
    return write_frame(base.iloc[:1], inp / "one.parquet"), write_frame(base.iloc[:0], inp / "none.parquet")


# ------------------------------------------------------------------------------------------
# the library
# ------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::vae_anomaly.CalibrationWarning")  # 2 epochs on 300 rows
def test_the_library_scores_0_rows_of_a_frame_or_an_array_as_empty_results(base):
    """0 rows in, 0 results out, of the dtypes and widths 1 row gives; a 0-row array no longer raises."""
    X = base.drop(columns="label")
    frame_det = VAEDetector(max_iter=2, random_state=0).fit(X)
    numbers = X[["a", "b", "d"]].to_numpy()
    array_det = VAEDetector(max_iter=2, random_state=0).fit(numbers)
    for det, data in ((frame_det, X), (array_det, numbers)):
        none, one = data[:0], data[:1]
        for name in SCORE_METHODS:
            got, want = getattr(det, name)(none), getattr(det, name)(one)
            assert got.shape == (0,) and got.dtype == want.dtype, name
        got, want = det.feature_contributions(none), det.feature_contributions(one)
        assert type(got) is type(want) and got.shape == (0, want.shape[1])
        details = det.score_details(none)
        assert details.anomaly_score.shape == details.p_value.shape == details.is_anomaly.shape == (0,)
        assert details.contributions.shape == (0, want.shape[1]) and details.is_anomaly.dtype == bool
    # an array of the wrong width is still refused, by scikit-learn's check
    with pytest.raises(ValueError, match="2 features, but VAEDetector is expecting 3"):
        array_det.predict(np.empty((0, 2)))


def test_fitting_on_0_rows_stays_a_clear_error(base, dirs):
    inp, out = dirs
    with pytest.raises(ValueError, match="Found 0 sample"):
        VAEDetector(max_iter=1).fit(base.iloc[:0])
    with pytest.raises(ValueError, match="Found array with 0 sample"):
        VAEDetector(max_iter=1).fit(np.empty((0, 3)))
    for name in ("none.parquet", "none.csv"):
        data = write_frame(base.iloc[:0], inp / name)
        line = _refused(inp, out, "fit", data, "-m", out / "m.vae", "-x", "label")
        assert line == f"error: {name} has no rows", line


# ------------------------------------------------------------------------------------------
# vae-detect score
# ------------------------------------------------------------------------------------------
def test_score_of_0_rows_writes_the_full_schema_and_exits_0(base, model, dirs, one_and_none):
    inp, out = dirs
    one, none = one_and_none
    assert invoke("score", one, "-m", model, "-o", out / "one.parquet", "-q").exit_code == 0
    result = invoke("score", none, "-m", model, "-o", out / "none.parquet")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("0 rows scored: the input holds no rows")
    assert _schema(out / "none.parquet") == _schema(out / "one.parquet")
    assert list(_schema(out / "none.parquet").names) == list(base.columns) + OUTPUT_COLUMNS
    assert pq.read_metadata(out / "none.parquet").num_rows == 0
    # CSV and Arrow IPC outputs: the header, or the schema, of every column
    for suffix in (".csv", ".arrow"):
        assert invoke("score", none, "-m", model, "-o", out / f"none{suffix}", "-q").exit_code == 0
    header = ",".join(f'"{c}"' for c in _schema(out / "one.parquet").names)
    assert (out / "none.csv").read_text().strip() == header
    arrow = feather.read_table(out / "none.arrow")
    assert arrow.num_rows == 0 and arrow.schema.remove_metadata() == _schema(out / "one.parquet")


def test_score_of_a_header_only_csv_file_and_to_stdout(base, model, dirs):
    inp, out = dirs
    data = write_frame(base.iloc[:0], inp / "none.csv")
    result = invoke("score", data, "-m", model, "-o", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ",".join(f'"{c}"' for c in list(base.columns) + OUTPUT_COLUMNS)
    assert "0 rows scored" in result.stderr and "-> stdout" in result.stderr
    assert invoke("score", data, "-m", model, "-o", out / "none.parquet", "-q").exit_code == 0
    one = write_frame(base.iloc[:1], inp / "one.csv")
    assert invoke("score", one, "-m", model, "-o", out / "one.parquet", "-q").exit_code == 0
    got, want = _schema(out / "none.parquet"), _schema(out / "one.parquet")
    # The model's columns get the types they were fitted with; a CSV column the model does not read
    # (the label) has no type in a file without rows, and is written as a column of nulls.
    assert got.field("label").type == "null" and want.field("label").type == "int64"
    assert got.remove(got.get_field_index("label")) == want.remove(want.get_field_index("label"))


def test_score_of_a_folder_of_empty_parts(base, model, dirs):
    inp, out = dirs
    lake = inp / "lake"
    lake.mkdir()
    for i in range(3):
        write_frame(base.iloc[:0], lake / f"part-{i}.parquet")
    result = invoke("score", lake, "-m", model, "-o", out / "none.parquet", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == summary["anomalies"] == 0 and summary["rows_per_s"] is None
    assert list(_schema(out / "none.parquet").names) == list(base.columns) + OUTPUT_COLUMNS


def test_json_and_fail_on_drift_on_0_rows_say_the_drift_check_did_not_run(model, dirs, one_and_none):
    _, out = dirs
    result = invoke("score", one_and_none[1], "-m", model, "-o", out / "s.parquet", "--json",
                    "--fail-on-drift")
    assert result.exit_code == 0, result.output
    drift = json.loads(result.stdout)["drift"]
    assert drift["detected"] is False and drift["n_rows"] == 0
    assert drift["note"] == f"not checked: not enough rows (0; the check needs at least {MIN_DRIFT_ROWS})"


def test_fail_on_drift_needs_enough_rows(base, model, dirs):
    """5 rows far from the training data are anomalies, not drift; 60 such rows are drift (exit 3)."""
    inp, out = dirs
    far = pd.concat([base] * 2, ignore_index=True).assign(a=1e3)
    few = write_frame(far.iloc[:5], inp / "few.parquet")
    result = invoke("score", few, "-m", model, "-o", out / "few.scores.parquet", "--fail-on-drift")
    assert result.exit_code == 0, result.output
    assert f"note: drift not checked: not enough rows (5; the check needs at least {MIN_DRIFT_ROWS})" \
        in result.stderr
    assert "drift detected" not in result.stderr
    assert pd.read_parquet(out / "few.scores.parquet")["is_anomaly"].all()
    many = write_frame(far.iloc[:MIN_DRIFT_ROWS + 10], inp / "many.parquet")
    result = invoke("score", many, "-m", model, "-o", out / "many.scores.parquet", "--fail-on-drift", "-q")
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("drift detected")


def test_0_rows_are_still_checked_against_the_model(base, model, dirs):
    """A missing model column, or one of a type the model cannot read, is refused on 0 rows as on rows."""
    inp, out = dirs
    missing = write_frame(base.drop(columns="b").iloc[:0], inp / "missing.parquet")
    line = _refused(inp, out, "score", missing, "-m", model, "-o", out / "s.parquet")
    assert "column 'b' is missing" in line, line
    text = write_frame(base.assign(b=base["b"].astype(str)).iloc[:0], inp / "text.parquet")
    line = _refused(inp, out, "score", text, "-m", model, "-o", out / "s.parquet")
    assert "column 'b' was numeric" in line, line


# ------------------------------------------------------------------------------------------
# a windowed model: window_fill too
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    where = tmp_path_factory.mktemp("empty_windows")
    n = 200
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=n // 2, freq="min").tolist() * 2,
                          "machine": np.repeat(["m1", "m2"], n // 2), "v": rng.normal(size=n)})
    data = write_frame(frame, where / "train.parquet")
    result = invoke("fit", data, "-m", where / "w.vae", "--window", 4, "--time-column", "ts",
                    "--group-column", "machine", "--epochs", 2, "-q")
    assert result.exit_code == 0, result.output
    return where, frame


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_windowed_model_scores_0_rows_with_window_fill(windowed, suffix, tmp_path):
    where, frame = windowed
    data = write_frame(frame.iloc[:0], tmp_path / f"none{suffix}")
    result = invoke("score", data, "-m", where / "w.vae", "-o", tmp_path / "s.parquet")
    assert result.exit_code == 0, result.output
    schema = _schema(tmp_path / "s.parquet")
    assert list(schema.names) == ["ts", "machine", "v", *OUTPUT_COLUMNS, "window_fill"]
    assert str(schema.field("window_fill").type) == "double"
    assert str(schema.field("ts").type).startswith("timestamp")


# ------------------------------------------------------------------------------------------
# --dask local
# ------------------------------------------------------------------------------------------
def test_dask_writes_one_empty_part_with_the_schema_of_the_others(base, model, dirs):
    """0 rows: one part file of 0 rows, with the columns and types of the parts workers write.

    A folder where one part is empty among full ones keeps every row (rows in equal rows out).
    """
    pytest.importorskip("distributed")
    inp, out = dirs
    lake = inp / "lake"
    lake.mkdir()
    write_frame(base.iloc[:100], lake / "part-0.parquet")
    write_frame(base.iloc[:0], lake / "part-1.parquet")
    write_frame(base.iloc[100:200], lake / "part-2.parquet")
    result = invoke("score", lake, "-m", model, "-o", out / "full", "--dask", "local", "-q")
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out / "full")) == 200
    full_schema = _schema(next(iter(sorted((out / "full").iterdir()))))
    for name in ("none.parquet", "empty_lake"):
        if name == "empty_lake":
            (inp / name).mkdir()
            for i in range(2):
                write_frame(base.iloc[:0], inp / name / f"part-{i}.parquet")
        else:
            write_frame(base.iloc[:0], inp / name)
        target = out / f"{name}.scores"
        result = invoke("score", inp / name, "-m", model, "-o", target, "--dask", "local")
        assert result.exit_code == 0, result.output
        assert result.stderr.startswith("0 rows scored"), result.stderr
        parts = sorted(target.iterdir())
        assert [p.name for p in parts] == ["part.00000.parquet"]
        assert pq.read_metadata(parts[0]).num_rows == 0 and _schema(parts[0]) == full_schema
        shutil.rmtree(target)


def test_score_dask_on_partitions_a_filter_emptied(base, detector):
    """The library: a Dask DataFrame whose partitions a filter emptied scores to 0 rows, with every column."""
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(base, npartitions=3)
    from vae_anomaly.jobs.dask import score_dask

    some = score_dask(ddf[ddf["a"] > 0], detector).compute()
    none = score_dask(ddf[ddf["a"] > 1e9], detector).compute()
    assert len(none) == 0 and list(none.columns) == list(base.columns) + OUTPUT_COLUMNS
    assert none.dtypes.to_dict() == some.dtypes.to_dict()


# ------------------------------------------------------------------------------------------
# evaluate and report
# ------------------------------------------------------------------------------------------
def test_evaluate_of_0_rows_says_the_metrics_are_undefined(model, one_and_none):
    result = invoke("evaluate", one_and_none[1], "-m", model, "-l", "label", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n_rows"] == metrics["tp"] == metrics["fp"] == metrics["tn"] == metrics["fn"] == 0
    for key in ("auc_roc", "auc_pr", "precision", "recall", "f1"):
        assert metrics[key] is None, key
    assert metrics["note"] == "the table holds no rows: every metric is undefined"
    text = invoke("evaluate", one_and_none[1], "-m", model, "-l", "label")
    assert text.exit_code == 0 and "every metric is undefined" in text.stdout
    assert "precision  n/a" in text.stdout


def test_report_of_0_rows_is_a_page_that_says_so(model, dirs, one_and_none, detector, base):
    _, out = dirs
    result = invoke("report", one_and_none[1], "-m", model, "-o", out / "r.html", "-l", "label")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("report of 0 rows: the data hold no rows")
    page = (out / "r.html").read_text()
    assert 'id="no-rows">There were no rows' in page
    assert '<section id="summary">' in page and '<section id="training">' in page
    assert '<section id="scores">' not in page and '<section id="top-rows">' not in page
    summary = write_report(detector, base.drop(columns="label").iloc[:0], out / "lib.html")
    assert summary["rows"] == 0 and summary["sections"] == ["summary", "training"]
