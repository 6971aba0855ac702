"""Hostile tables given to ``fit``, ``score`` and ``evaluate``: refused in one line, or a documented result.

Every case ends one of two ways, as listed in docs/reliability.md: refused
(see :func:`tests.robustness.hostile.assert_refused`), or a documented
result, checked here. Every case passes; each was first written as a failing
test, then fixed. The library's answers to the same inputs are in
``tests/estimator/test_input_validation.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import invoke

from .hostile import OUTPUT_COLUMNS, assert_refused, command, make_input, snapshot, write_frame

# ------------------------------------------------------------------------------------------
# inputs refused by every command that reads a table
# ------------------------------------------------------------------------------------------
REFUSED = [
    ("empty", "csv", "error: in.csv is empty (0 bytes)"),
    ("empty", "parquet", "error: in.parquet is empty (0 bytes)"),
    ("plus_inf", "csv", "error: column 'a' holds an infinite value (inf) at row 7"),
    ("plus_inf", "parquet", "error: column 'a' holds an infinite value (inf) at row 7"),
    ("minus_inf", "parquet", "error: column 'a' holds an infinite value (-inf) at row 7"),
    ("huge", "csv", "error: column 'a' holds a value too large to model (1e+308)"),
    ("huge", "parquet", "error: column 'a' holds a value too large to model (1e+308)"),
    ("png", "parquet", "error: in.parquet is not a readable Parquet file"),
    ("random_bytes", "parquet", "error: in.parquet is not a readable Parquet file"),
    ("random_bytes", "csv", "error: in.csv is not a readable CSV file"),
    ("random_bytes", "arrow", "error: in.arrow is not a readable Arrow IPC file"),
    ("empty_dir", "dir", "error: directory "),
    ("dir_without_parquet", "dir", "error: directory "),
    pytest.param("png", "csv", "error: in.csv is not a readable CSV file"),
    pytest.param("latin1_header", "csv", "error: in.csv is not a readable CSV file"),
    pytest.param("duplicate_names", "csv", "error: in.csv has more than one column named 'a'"),
    pytest.param("duplicate_names", "parquet", "error: in.parquet has more than one column named 'a'"),
]


@pytest.mark.parametrize("name", ["fit", "score", "evaluate"])
@pytest.mark.parametrize(("case", "fmt", "message"), REFUSED)
def test_hostile_table_is_refused_in_one_line(name, case, fmt, message, base, model, dirs):
    inp, out = dirs
    data = make_input(case, fmt, inp, base)
    before = snapshot(inp)
    line = assert_refused(invoke(*command(name, data, out, model)), inp, before, out)
    assert line.startswith(message), line
    if case.endswith("dir"):
        assert line.endswith("holds no .parquet files"), line
    assert line.isprintable() and len(line) <= 410


def fit_leaves_out_a(data, out, model, inp, before) -> tuple[dict, str]:
    """``fit`` succeeds without ``--columns`` (its JSON summary is returned) and, once that
    model is removed, refuses ``-c a -c b`` (its one error line is returned, nothing written)."""
    fitted = invoke(*command("fit", data, out, model, "--json", "-q"))
    assert fitted.exit_code == 0, fitted.output
    (out / "model.vae").unlink()
    line = assert_refused(invoke(*command("fit", data, out, model, "-c", "a", "-c", "b")), inp, before, out)
    return json.loads(fitted.stdout), line


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_text_in_a_numeric_column(fmt, base, model, dirs, detector):
    """fit: the column is left out, with the reason; with --columns, refused. score/evaluate: refused."""
    inp, out = dirs
    data = make_input("text_in_numeric", fmt, inp, base)
    before = snapshot(inp)
    summary, line = fit_leaves_out_a(data, out, model, inp, before)
    assert summary["columns_used"] == ["b", "d", "c"]
    assert "300 distinct values" in summary["columns_ignored"]["a"]
    assert line.startswith("error: column 'a' has 300 distinct text values")
    for name in ("score", "evaluate"):
        line = assert_refused(invoke(*command(name, data, out, model)), inp, before, out)
        assert "column 'a'" in line, line
        assert "'oops'" in line or "was numeric (float64) at fit time" in line, line
    # With few distinct values the text column is modelled as categories, as any text column is.
    few = base.assign(a=(np.arange(len(base)) % 3).astype(str))
    few.loc[7, "a"] = "oops"
    data = write_frame(few, inp / f"few.{fmt}")
    assert invoke(*command("fit", data, out, model, "-q")).exit_code == 0
    columns = {c["name"]: c for c in json.loads(invoke("info", out / "model.vae",
                                                       "--json").stdout)["columns"]}
    assert columns["a"]["kind"] == "categorical" and columns["a"]["categories"] == ["0", "1", "2", "oops"]


# ------------------------------------------------------------------------------------------
# inputs with a documented result
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_fit_on_one_row_is_refused(fmt, base, model, dirs):
    inp, out = dirs
    data = make_input("one_row", fmt, inp, base)
    line = assert_refused(invoke(*command("fit", data, out, model)), inp, snapshot(inp), out)
    assert "row" in line


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_row_is_scored_and_evaluated(fmt, base, model, dirs, detector):
    inp, out = dirs
    data = make_input("one_row", fmt, inp, base)
    scored = invoke(*command("score", data, out, model, "-q"))
    assert scored.exit_code == 0, scored.output
    got = pd.read_parquet(out / "scores.parquet")
    assert len(got) == 1 and list(got.columns) == list(base.columns) + OUTPUT_COLUMNS
    assert got["anomaly_score"].iloc[0] == detector.score_details(base.iloc[:1]).anomaly_score[0]
    evaluated = invoke(*command("evaluate", data, out, model, "--json"))
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)
    assert metrics["n_rows"] == 1 and metrics["auc_roc"] is None  # one class: AUC undefined


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_all_nan_column(fmt, base, model, dirs, detector):
    """fit leaves the column out (or refuses it by name); scoring treats every cell as missing."""
    inp, out = dirs
    data = make_input("all_nan_column", fmt, inp, base)
    before = snapshot(inp)
    summary, line = fit_leaves_out_a(data, out, model, inp, before)
    assert summary["columns_ignored"] == {"a": "all values are missing"}
    assert line == "error: column 'a' has no observed values"
    scored = invoke(*command("score", data, out, model, "-q"))
    assert scored.exit_code == 0, scored.output
    got = pd.read_parquet(out / "scores.parquet")
    assert np.isfinite(got["anomaly_score"]).all()
    want = detector.score_details(base.assign(a=np.nan)).anomaly_score
    np.testing.assert_array_equal(got["anomaly_score"].to_numpy(), want)
    assert invoke(*command("evaluate", data, out, model, "-q")).exit_code == 0


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_all_columns_constant(fmt, base, model, dirs):
    """A model of constant data gives every such row the same score, equal to the threshold: none flagged."""
    inp, out = dirs
    data = make_input("all_constant", fmt, inp, base)
    fitted = invoke(*command("fit", data, out, model, "-q"))
    assert fitted.exit_code == 0, fitted.output
    assert invoke("score", data, "-m", out / "model.vae", "-o", out / "own.parquet", "-q").exit_code == 0
    own = pd.read_parquet(out / "own.parquet")
    assert own["anomaly_score"].nunique() == 1 and np.isfinite(own["anomaly_score"]).all()
    assert not own["is_anomaly"].any()
    assert invoke(*command("score", data, out, model, "-q")).exit_code == 0
    assert np.isfinite(pd.read_parquet(out / "scores.parquet")["anomaly_score"]).all()
    assert invoke(*command("evaluate", data, out, model, "-q")).exit_code == 0


def test_mixed_types_in_a_csv_column_are_text(base, model, dirs, detector):
    """CSV has no types: a column of "x", "y" and 7 is text with a level "7", unseen by the model."""
    inp, out = dirs
    data = make_input("mixed_object", "csv", inp, base)
    fitted = invoke(*command("fit", data, out, model, "-q"))
    assert fitted.exit_code == 0, fitted.output
    info = json.loads(invoke("info", out / "model.vae", "--json").stdout)
    levels = {c["name"]: c["categories"] for c in info["columns"]}
    assert levels["c"] == ["7", "x", "y", "z"]
    assert invoke(*command("score", data, out, model, "-q")).exit_code == 0
    got = pd.read_parquet(out / "scores.parquet")
    assert np.isfinite(got["anomaly_score"]).all()
    seen = got["c"].astype(str) != "7"
    np.testing.assert_array_equal(got.loc[seen, "anomaly_score"],
                                  detector.score_details(base[seen.to_numpy()]).anomaly_score)


def test_unicode_column_names_round_trip(base, dirs):
    inp, out = dirs
    names = {"a": "température", "b": "压力 (kPa)", "d": "🙂 x", "c": "état"}
    data = write_frame(base.rename(columns=names), inp / "in.parquet")
    csv = write_frame(base.rename(columns=names), inp / "in.csv")
    model = out / "model.vae"
    fitted = invoke("fit", data, "-m", model, "-x", "label", "--epochs", 1, "--seed", 0, "--json", "-q")
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.stdout)["columns_used"] == list(names.values())
    info = invoke("info", model)
    assert info.exit_code == 0 and all(n in info.stdout for n in names.values())
    for source in (data, csv):
        target = out / f"scores_{source.suffix[1:]}.parquet"
        assert invoke("score", source, "-m", model, "-o", target, "-q").exit_code == 0
        got = pd.read_parquet(target)
        assert list(got.columns) == list(names.values()) + ["label"] + OUTPUT_COLUMNS
        assert set(got["top_feature"].astype(str)) <= set(names.values())
    np.testing.assert_array_equal(pd.read_parquet(out / "scores_parquet.parquet")["anomaly_score"],
                                  pd.read_parquet(out / "scores_csv.parquet")["anomaly_score"])
    evaluated = invoke("evaluate", csv, "-m", model, "-l", "label", "--json")
    assert evaluated.exit_code == 0 and json.loads(evaluated.stdout)["n_rows"] == len(base)


@pytest.mark.slow
def test_five_thousand_columns(dirs):
    """A wide table (5,000 numeric columns, 30 rows) goes through every command."""
    inp, out = dirs
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(30, 5000)), columns=[f"f{i}" for i in range(5000)])
    wide["label"] = np.arange(30) % 10 == 0
    data = write_frame(wide, inp / "wide.parquet")
    model = out / "wide.vae"
    fitted = invoke("fit", data, "-m", model, "-x", "label", "--epochs", 1, "--seed", 0, "--json", "-q")
    assert fitted.exit_code == 0, fitted.output
    assert len(json.loads(fitted.stdout)["columns_used"]) == 5000
    scored = invoke("score", data, "-m", model, "-o", out / "s.parquet", "--columns-out", "label", "-q")
    assert scored.exit_code == 0, scored.output
    got = pd.read_parquet(out / "s.parquet")
    assert len(got) == 30 and np.isfinite(got["anomaly_score"]).all()
    assert invoke("evaluate", data, "-m", model, "-l", "label", "-q").exit_code == 0
    info = invoke("info", model, "--json")
    assert info.exit_code == 0 and len(json.loads(info.stdout)["columns"]) == 5000


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_extreme_finite_values_are_flagged_not_nan(base, model, dirs, detector):
    """Values below the 1e150 limit are accepted; their rows must come out flagged (score +inf at worst)."""
    inp, out = dirs
    grid = np.array([-1e100, -1e39, -1e20, 1e20, 1e39, 1e100])
    a, b, d = (v.ravel() for v in np.meshgrid(grid, grid, grid, indexing="ij"))
    frame = pd.DataFrame({"a": a, "b": b, "d": d, "c": "x", "label": 1})
    data = write_frame(frame, inp / "in.parquet")
    assert invoke(*command("score", data, out, model, "-q")).exit_code == 0
    got = pd.read_parquet(out / "scores.parquet")
    assert not got["anomaly_score"].isna().any(), f"{got['anomaly_score'].isna().sum()} NaN scores"
    assert got["is_anomaly"].all()


def test_list_cells_in_a_categorical_column_are_refused(base, model, dirs):
    inp, out = dirs
    table = pa.Table.from_pandas(base, preserve_index=False).replace_schema_metadata(None)
    table = table.set_column(3, "c", pa.array([[1, 2]] * len(base)))
    pq.write_table(table, inp / "in.parquet")
    line = assert_refused(invoke(*command("score", inp / "in.parquet", out, model)), inp, snapshot(inp), out)
    assert "column 'c'" in line


@pytest.mark.parametrize(("labels", "message"), [
    ("missing", "error: label column 'nolabel' is not in in.parquet"),
    ("text", "error: label column 'label' should hold 0/1 or true/false but holds 'maybe'"),
    ("all_nan", "error: label column 'label' has 300 missing value(s)"),
])
def test_evaluate_refuses_bad_labels(labels, message, base, model, dirs):
    inp, out = dirs
    frame = {"missing": base, "text": base.assign(label="maybe"),
             "all_nan": base.assign(label=np.nan)}[labels]
    data = write_frame(frame, inp / "in.parquet")
    column = "nolabel" if labels == "missing" else "label"
    line = assert_refused(invoke("evaluate", data, "-m", model, "-l", column), inp, snapshot(inp), out)
    assert line == message
