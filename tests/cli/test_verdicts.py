"""The loop from flagged rows back to the model: ``report --review`` lists the top rows by a stable key,
a reviewer fills in ``label``, and ``fit --labels`` joins the verdicts to the training rows."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from tests.helpers import SAMPLE, correlated_normal, invoke, ok


@pytest.fixture(scope="module")
def loop(tmp_path_factory, one_torch_thread):
    """The documented loop on the bundled tabular sample, the sample's label playing the reviewer."""
    where = tmp_path_factory.mktemp("loop")
    data = SAMPLE / "tabular.parquet"
    first = json.loads(ok("fit", data, "-x", "label", "-m", where / "m1.vae", "--epochs", 15, "--json",
                          "-q").stdout)
    report = ok("report", data, "-m", where / "m1.vae", "-o", where / "r1.html", "--top", 20,
                "--review", where / "review.csv")
    review = pd.read_csv(where / "review.csv", dtype={"id": str})
    truth = pd.read_parquet(data)
    review["label"] = truth["label"].to_numpy()[review["row"].to_numpy()]
    review.to_csv(where / "review.csv", index=False)
    second = json.loads(ok("fit", data, "-x", "label", "-m", where / "m2.vae", "--epochs", 15,
                           "--labels", where / "review.csv", "--json").stdout)
    return where, first, report, review, truth, second


def test_the_report_lists_the_top_rows_by_the_identifier_column_and_writes_them_to_review(loop):
    where, _, report, review, truth, _ = loop
    assert "row key: id (the column the model left out as an identifier)" in report.stderr
    assert list(review.columns) == ["id", "label", "rank", "row", "anomaly_score", "p_value", "top_feature"]
    assert len(review) == 20 and review["rank"].tolist() == list(range(1, 21))
    assert (review["id"] == truth["id"].to_numpy()[review["row"]]).all()  # the key names the row it lists
    assert review["anomaly_score"].is_monotonic_decreasing
    page = (where / "r1.html").read_text()
    assert re.findall(r'data-key="([^"]+)"', page) == review["id"].tolist()


def test_refitting_with_the_verdicts_trims_the_marked_rows_and_lowers_the_threshold(loop):
    where, first, _, review, _, second = loop
    marked = int(review["label"].sum())
    assert marked >= 5  # the sample's anomalies lead the first model's top rows
    assert second["verdicts"] == {
        "file": str(where / "review.csv"), "key": {"name": "id", "source": "column", "hashed": []},
        "verdicts": 20, "anomalies": marked, "normal": 20 - marked, "unreviewed": 0,
        "rows_anomalous": marked, "rows_normal": 20 - marked, "shared_keys": 0}
    assert second["labels"].items() >= {"column": None, "anomalies": marked, "trimmed": marked,
                                        "label_weight": 0.0}.items()
    assert second["calibration"]["n_calibration"] == round(0.2 * (5000 - marked))
    assert first["calibration"]["n_calibration"] == 1000
    # The anomalies the reviewer confirmed no longer sit among the held-out rows that set the threshold.
    assert second["threshold"] < first["threshold"]
    assert "id" in second["columns_ignored"] and second["columns_used"] == first["columns_used"]


def test_the_refit_model_flags_more_of_the_anomalies_nobody_reviewed(loop):
    where, _, _, review, truth, _ = loop
    flagged = {}
    for name in ("m1", "m2"):
        ok("score", SAMPLE / "tabular.parquet", "-m", where / f"{name}.vae", "-o", where / f"{name}.parquet",
           "-q")
        flagged[name] = pd.read_parquet(where / f"{name}.parquet")["is_anomaly"].to_numpy()
    rest = np.ones(len(truth), bool)
    rest[review["row"]] = False
    anomalies = rest & (truth["label"].to_numpy() == 1)
    assert flagged["m2"][anomalies].sum() > flagged["m1"][anomalies].sum()


def test_info_and_the_next_report_keep_the_verdicts_key(loop):
    where, _, _, review, _, _ = loop
    shown = ok("info", where / "m2.vae").stdout
    marked = int(review["label"].sum())
    rows = {n: f"{n} row{'s' * (n != 1)}" for n in (marked, 20 - marked)}
    assert (f"verdicts:   20 in {where / 'review.csv'} by id: {marked} anomalies on {rows[marked]}, "
            f"{20 - marked} normal on {rows[20 - marked]} (kept as training rows)") in shown
    described = json.loads(ok("info", where / "m2.vae", "--json").stdout)
    assert described["training"]["verdicts"]["key"]["name"] == "id"
    again = ok("report", SAMPLE / "tabular.parquet", "-m", where / "m2.vae", "-o", where / "r2.html",
               "--top", 5)
    assert "row key: id\n" in again.stderr + "\n"


def anomalous_table(n: int = 600) -> pd.DataFrame:
    """Four correlated columns, no identifier; the first 12 rows far off."""
    frame = pd.DataFrame(correlated_normal(n, 4, 3), columns=["a", "b", "c", "d"])
    frame.iloc[:12] += 5.0
    return frame.assign(site=np.where(np.arange(n) % 2, "north", "south"))


@pytest.fixture(scope="module")
def hashed(tmp_path_factory, one_torch_thread):
    where = tmp_path_factory.mktemp("hashed")
    anomalous_table().to_csv(where / "t.csv", index=False)
    ok("fit", where / "t.csv", "-m", where / "m.vae", "--epochs", 5, "-q")
    report = ok("report", where / "t.csv", "-m", where / "m.vae", "-o", where / "r.html", "--top", 10,
                "--review", where / "review.parquet")
    return where, report, pd.read_parquet(where / "review.parquet")


def test_without_an_identifier_the_key_is_a_hash_that_score_row_key_writes_too(hashed):
    where, report, review = hashed
    assert "row key: row_key (a hash of the values of the 5 model columns)" in report.stderr
    assert review.columns[0] == "row_key" and review["row_key"].str.fullmatch("[0-9a-f]{16}").all()
    pd.read_csv(where / "t.csv").to_parquet(where / "t.parquet")
    for data in ("t.csv", "t.parquet"):  # the same values give the same keys whatever the file format
        ok("score", where / data, "-m", where / "m.vae", "-o", where / "s.parquet", "--row-key", "-q")
        scores = pd.read_parquet(where / "s.parquet")
        assert scores.columns[-1] == "row_key" and scores["row_key"].is_unique
        assert (scores["row_key"].to_numpy()[review["row"]] == review["row_key"].to_numpy()).all()


def test_row_key_is_refused_where_the_input_has_that_column_already(hashed, tmp_path):
    where, _, _ = hashed
    pd.read_csv(where / "t.csv").assign(row_key="x").to_parquet(tmp_path / "keyed.parquet")
    refused = invoke("score", tmp_path / "keyed.parquet", "-m", where / "m.vae", "-o", tmp_path / "s.parquet",
                     "--row-key")
    assert refused.exit_code == 1 and not (tmp_path / "s.parquet").exists()
    assert "the input already has a column 'row_key', which --row-key adds" in refused.output
    ok("score", tmp_path / "keyed.parquet", "-m", where / "m.vae", "-o", tmp_path / "s.parquet", "-q")
    assert pd.read_parquet(tmp_path / "s.parquet")["row_key"].eq("x").all()  # kept as any input column


def test_verdicts_by_hash_mark_anomalies_and_keep_normal_rows_in_training(hashed, tmp_path):
    where, _, review = hashed
    verdicts = review[["row_key", "label"]].copy()
    verdicts["row_key"] = verdicts["row_key"].str.upper()  # as a spreadsheet may have written them
    verdicts["label"] = ["1"] * 4 + ["0"] * 4 + [None, None]
    verdicts.to_csv(tmp_path / "v.csv", index=False)
    result = ok("fit", where / "t.csv", "-m", tmp_path / "m2.vae", "--epochs", 5,
                "--labels", tmp_path / "v.csv", "--json")
    summary = json.loads(result.stdout)
    found = summary["verdicts"]
    assert found["key"] == {"name": "row_key", "source": "hash", "hashed": ["a", "b", "c", "d", "site"]}
    assert (found["verdicts"], found["anomalies"], found["normal"], found["unreviewed"]) == (8, 4, 4, 2)
    assert (found["rows_anomalous"], found["rows_normal"]) == (4, 4)
    # A normal verdict is not a label: only the four anomalies leave training and calibration.
    assert summary["labels"].items() >= {"column": None, "anomalies": 4, "trimmed": 4,
                                         "label_weight": 0.0}.items()
    assert summary["calibration"]["n_calibration"] == round(0.2 * (600 - 4))
    assert "2 without a label, skipped" in result.stderr


def test_normal_verdicts_alone_give_the_model_a_fit_without_them_gives(hashed, tmp_path):
    where, _, review = hashed
    review.assign(label=0)[["row_key", "label"]].to_csv(tmp_path / "v.csv", index=False)
    plain = json.loads(ok("fit", where / "t.csv", "-m", tmp_path / "a.vae", "--epochs", 5, "--json",
                          "-q").stdout)
    normal = json.loads(ok("fit", where / "t.csv", "-m", tmp_path / "b.vae", "--epochs", 5, "--labels",
                           tmp_path / "v.csv", "--json", "-q").stdout)
    assert normal["verdicts"]["rows_normal"] == 10 and normal["labels"]["trimmed"] == 0
    assert normal["threshold"] == plain["threshold"]
    assert normal["calibration"]["n_calibration"] == plain["calibration"]["n_calibration"]


def test_verdicts_and_a_label_column_add_up(tmp_path, one_torch_thread):
    frame = anomalous_table(300).assign(order=[f"A{i:05d}" for i in range(300)],
                                        known=np.r_[np.ones(3, int), np.zeros(297, int)])
    frame.to_parquet(tmp_path / "t.parquet")
    verdicts = pd.DataFrame({"order": ["A00002", "A00005", "A00006"], "label": [1, 1, 0]})
    verdicts.to_csv(tmp_path / "v.csv", index=False)
    summary = json.loads(ok("fit", tmp_path / "t.parquet", "-m", tmp_path / "m.vae", "--epochs", 2,
                            "--label-column", "known", "--labels", tmp_path / "v.csv", "--json").stdout)
    assert summary["labels"].items() >= {"column": "known", "anomalies": 4, "trimmed": 4,
                                 "label_weight": 0.0}.items()  # rows 0, 1, 2 and 5
    assert "order" not in summary["columns_used"] and "known" not in summary["columns_used"]


# Inputs that break joins elsewhere (pandas #9780, #18622, #32134, #54665, #22491, #16270): the key of a
# verdict is matched as the data hold it.
def _fit_with(tmp_path, data: pd.DataFrame, verdicts: str, suffix: str = ".csv", *extra):
    path = tmp_path / f"t{suffix}"
    data.to_csv(path, index=False) if suffix == ".csv" else data.to_parquet(path)
    (tmp_path / "v.csv").write_text(verdicts)
    return invoke("fit", path, "-m", tmp_path / "m.vae", "--epochs", 1, "--labels", tmp_path / "v.csv",
                  "--json", *extra)


def base(n: int = 200) -> pd.DataFrame:
    return pd.DataFrame(correlated_normal(n, 3, 1), columns=["a", "b", "c"])


@pytest.mark.parametrize("ids, suffix, verdicts, rows", [
    # Leading zeros: "007" and "07" are two keys in a CSV, not the integer 7 twice.
    ([f"{i:03d}" for i in range(100)] + [f"{i:02d}" for i in range(100)], ".csv", "id,label\n007,1\n07,0\n",
     [7]),
    # Integers in the data, text or floats in the verdicts: the same keys.
    (list(range(1000, 1200)), ".parquet", "id,label\n1003,1\n1004.0,1\n\" 1005 \",1\n", [3, 4, 5]),
    # 64-bit ids beyond 2**53, one of them missing: matched exactly, not through a float.
    ([2**62 + i if i != 9 else None for i in range(200)], ".parquet", f"id,label\n{2**62 + 3},1\n", [3]),
    # 20-digit ids, beyond int64: read as text from CSV, as in pandas #18622.
    ([f"1012442000{i:010d}" for i in range(200)], ".csv", "id,label\n10124420000000000011,1\n", [11]),
], ids=["leading-zeros", "int-vs-text", "int64-with-missing", "twenty-digits"])
def test_keys_match_as_the_data_hold_them(tmp_path, ids, suffix, verdicts, rows, one_torch_thread):
    data = base().assign(id=pd.array(ids, dtype="Int64") if isinstance(ids[0], int) else ids)
    result = _fit_with(tmp_path, data, verdicts, suffix)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["verdicts"]
    anomalies = verdicts.count(",1\n")
    assert summary["rows_anomalous"] == len(rows) == anomalies and summary["key"]["name"] == "id"


def test_a_key_shared_by_several_rows_applies_to_each_and_is_counted(tmp_path, one_torch_thread):
    data = base().assign(batch=[f"B{i // 5}" for i in range(200)])  # five rows per batch number
    result = _fit_with(tmp_path, data, "batch,label\nB1,1\nB1,1\nB7,0\n", ".parquet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["verdicts"]["rows_anomalous"] == 5 and summary["verdicts"]["rows_normal"] == 5
    assert summary["verdicts"]["shared_keys"] == 2 and summary["labels"]["trimmed"] == 5
    assert "2 key(s) name more than one row, and their verdict applies to each" in result.stderr
    assert "batch" in summary["columns_excluded"]  # not an identifier by the rule, but a key is not a feature


@pytest.mark.parametrize("verdicts, extra, error", [
    ("id,verdict\nT1,1\n", (), "v.csv has no 'label' column: a verdicts file holds a key column and 'label'"),
    ("order,label\nT1,1\n", (), "v.csv has no single key column: no column is also in the data (its columns "
                                "besides 'label': order); name the key with --key"),
    ("id,label\nT1,1\n", ("--key", "order"), "key column 'order' is not in v.csv"),
    ("id,label\nT1,1\nX9,1\nX8,0\nX7,1\nX6,1\n", (),
     "4 of 5 verdict key(s) are not in t.parquet's 'id': 'X9', 'X8', 'X7' and 1 more"),
    ("id,label\nT1,1\nT2,0\nT1,0\n", (),
     "v.csv: 1 key(s) have both verdicts, anomaly (1) and normal (0): 'T1'"),
    ("id,label\nT1,1\nT2,2\n", (), "v.csv: label column 'label' should hold 0 or 1 but holds 2 at row 1"),
    ("id,label\nT1,maybe\n", (),
     "v.csv: label column 'label' should hold 0/1 or true/false but holds 'maybe' at row 0"),
    ("id,label\nT1,1\n,1\n", (), "v.csv: 1 verdict(s) have no 'id' (rows 1)"),
    ("id,label\nT1,0\n", ("--label-column", "known"),
     "1 row(s) that label column 'known' marks as anomalies have the verdict normal (0) in v.csv (rows 1); "
     "correct one or"),
    ("id,label\nT1,1\n", ("--include", "id"), "column 'id' is the verdicts' key; it cannot also be"),
], ids=["no-label", "no-key", "key-not-in-file", "unknown-keys", "conflict", "number", "word", "empty-key",
        "label-column-clash", "key-as-feature"])
def test_a_bad_verdicts_file_is_one_error_line(tmp_path, verdicts, extra, error):
    data = base().assign(id=[f"T{i}" for i in range(200)])
    if "--label-column" in extra:
        data["known"] = np.r_[0, 1, np.zeros(198, int)]
    result = _fit_with(tmp_path, data, verdicts, ".parquet", *extra)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {error}") and result.stderr.count("\n") == 1
    assert not (tmp_path / "m.vae").exists()


def test_key_without_labels_and_row_key_with_dask_are_refused(tmp_path):
    base().to_parquet(tmp_path / "t.parquet")
    result = invoke("fit", tmp_path / "t.parquet", "--key", "a", "-m", tmp_path / "m.vae")
    assert result.exit_code == 1 and "--key names the key of a verdicts file: give the file with --labels" \
        in result.stderr
    result = invoke("score", tmp_path / "t.parquet", "--row-key", "--dask", "local")
    assert result.exit_code == 2


def test_the_report_shows_a_csv_key_as_its_text_and_an_empty_table_gives_an_empty_review(tmp_path):
    frame = base(300)
    frame.iloc[0] += 8.0
    frame.assign(code=[f"{i:04d}" for i in range(300)]).to_csv(tmp_path / "t.csv", index=False)
    ok("fit", tmp_path / "t.csv", "-m", tmp_path / "m.vae", "--epochs", 2, "-q")
    result = ok("report", tmp_path / "t.csv", "-m", tmp_path / "m.vae", "-o", tmp_path / "r.html", "--top", 3,
                "--key", "code", "--review", tmp_path / "review.csv")
    assert "row key: code\n" in result.stderr
    review = pd.read_csv(tmp_path / "review.csv", dtype=str)
    assert review["code"].tolist()[0] == "0000"  # the far-off row, with its leading zeros
    assert (review["code"] == review["row"].astype(int).map("{:04d}".format)).all()
    frame.head(0).assign(code=pd.Series([], dtype=str)).to_csv(tmp_path / "empty.csv", index=False)
    ok("report", tmp_path / "empty.csv", "-m", tmp_path / "m.vae", "-o", tmp_path / "e.html", "--review",
       tmp_path / "e.csv")
    assert pd.read_csv(tmp_path / "e.csv").columns.tolist()[:2] == ["code", "label"]  # the identifier


@pytest.mark.parametrize("args, error", [
    (("--review", "review.txt"), "review file review.txt must end in .csv or .parquet"),
    (("--key", "nope"), "key column 'nope' is not in t.parquet"),
])
def test_a_bad_key_or_review_path_is_one_error_line(tmp_path, args, error, one_torch_thread):
    base().to_parquet(tmp_path / "t.parquet")
    ok("fit", tmp_path / "t.parquet", "-m", tmp_path / "m.vae", "--epochs", 1, "-q")
    result = invoke("report", tmp_path / "t.parquet", "-m", tmp_path / "m.vae", "-o", tmp_path / "r.html",
                    *[str(tmp_path / a) if a.endswith(".txt") else a for a in args])
    assert result.exit_code == 1 and result.stderr == f"error: {error}\n"
    assert not (tmp_path / "r.html").exists()


def test_the_hash_key_is_pinned_and_does_not_depend_on_dtypes_or_time_zones():
    """A verdicts file written today must find its rows after an upgrade: a pandas release that changed
    its hash, or a change of our canonical forms, fails here."""
    from vae_anomaly.features.row_keys import content_keys

    rows = pd.DataFrame({"amount": [12.5, np.nan], "region": ["north", None], "n": [3, 4],
                         "flag": [True, False],
                         "ts": pd.to_datetime(["2024-03-04 00:00", "2024-03-04 00:01"])})
    same = rows.assign(n=rows["n"].astype(float), region=rows["region"].astype("category"),
                       ts=rows["ts"].dt.tz_localize("UTC").dt.tz_convert("Europe/Paris"))[rows.columns[::-1]]
    assert content_keys(rows, rows.columns).tolist() == ["3ed092007f95a026", "a2c908a47b34fc62"]
    assert content_keys(same, rows.columns).tolist() == ["3ed092007f95a026", "a2c908a47b34fc62"]
