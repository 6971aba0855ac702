"""The clean-reference protocol of benchmarks/adbench.py (``--clean``) splits and records what it says."""

from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pandas as pd

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))  # as score_leads.py imports it
adbench = importlib.import_module("adbench")


def _rows(n: int = 301, n_anomalies: int = 37, seed: int = 0):
    """Rows whose first column is their position, so a split can be traced back to the input."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.arange(n, dtype=np.float64), rng.normal(size=(n, 3))])
    y = np.zeros(n, np.int64)
    y[rng.choice(n, n_anomalies, replace=False)] = 1
    return X, y


def test_clean_split_trains_on_half_the_normal_rows_and_tests_on_the_rest_and_every_anomaly():
    X, y = _rows()
    X_train, X_test, y_train, y_test = adbench.make_clean_split(X, y, seed=0, max_rows=10_000)
    train, test = X_train[:, 0].astype(int), X_test[:, 0].astype(int)
    normal, anomalies = set(np.flatnonzero(y == 0)), set(np.flatnonzero(y == 1))
    assert not set(train) & anomalies and not y_train.any()  # no anomaly is trained on
    assert anomalies <= set(test) and y_test.sum() == len(anomalies)  # every anomaly is tested
    assert set(train) | set(test) == normal | anomalies and not set(train) & set(test)
    assert len(train) == len(normal) // 2  # 264 normal rows: 132 to train, 132 to test
    assert np.array_equal(y_test, y[test]) and np.array_equal(X_test, X[test])


def test_clean_split_is_the_same_for_a_seed_and_changes_with_it():
    X, y = _rows()
    first = adbench.make_clean_split(X, y, seed=1, max_rows=10_000)
    again = adbench.make_clean_split(X, y, seed=1, max_rows=10_000)
    other = adbench.make_clean_split(X, y, seed=2, max_rows=10_000)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert set(first[0][:, 0]) != set(other[0][:, 0])


def test_clean_split_uses_the_rows_of_the_70_30_split_when_a_set_is_subsampled():
    X, y = _rows(n=2_000, n_anomalies=100)
    X_train, X_test, y_train, y_test = adbench.make_clean_split(X, y, seed=0, max_rows=500)
    U_train, U_test, _, _ = adbench.make_split(X, y, seed=0, max_rows=500)
    assert set(X_train[:, 0]) | set(X_test[:, 0]) == set(U_train[:, 0]) | set(U_test[:, 0])
    assert len(y_train) + len(y_test) == 500 and y_test.sum() == 25  # stratified: 5% anomalies kept


def test_a_clean_run_records_both_splits_and_reports_what_clean_training_adds(tmp_path):
    X, y = _rows(n=400, n_anomalies=30)
    X[y == 1, 1:] += 3.0
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(X[:, 1:], columns=["f0", "f1", "f2"]).assign(label=y.astype(np.int8)).to_parquet(
        data / "1_toy.parquet")
    out = tmp_path / "out"
    args = [str(data), "--out", str(out), "--methods", "iforest", "--seeds", "0", "--clean"]
    assert adbench.main(args) == 0
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    by_protocol = {r["protocol"]: r for r in records}
    assert set(by_protocol) == {None, "clean"} and len(records) == 2
    assert by_protocol["clean"]["n_anomalies_train"] == 0 and by_protocol["clean"]["n_anomalies_test"] == 30
    assert by_protocol[None]["n_anomalies_train"] == 21  # the 70/30 split keeps its anomalies in training
    report = (out / "adbench_clean.md").read_text()
    assert "| iforest (contaminated) |" in report and "iforest gain" in report
    assert adbench.main(args) == 0  # a second call finds both runs cached and adds none
    assert len((out / "runs.jsonl").read_text().splitlines()) == 2
