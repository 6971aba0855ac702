"""``vae-detect fit --label-column``: known anomalies are not a feature, are left out of training and
calibration, and the summary, --json and info say how many; a bad label is one error line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers import correlated_normal, invoke
from vae_anomaly.persistence.modelfile import read_metadata


def table(n: int = 800) -> pd.DataFrame:
    """Four correlated columns; the first 40 rows far off and marked ``known`` (1, true or empty cells
    for the others: 0, false or empty)."""
    frame = pd.DataFrame(correlated_normal(n, 4, 0), columns=["a", "b", "c", "d"])
    frame.iloc[:40] += 4.0
    known = np.where(np.arange(n) < 40, "1", np.where(np.arange(n) % 3 == 0, "", "0")).astype(object)
    known[:40:2] = "true"
    return frame.assign(known=known)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, one_torch_thread):
    where = tmp_path_factory.mktemp("labels")
    table().to_csv(where / "train.csv", index=False)
    result = invoke("fit", where / "train.csv", "-m", where / "m.vae", "--label-column", "known",
                    "--epochs", 10, "--json")
    assert result.exit_code == 0, result.output
    return where, json.loads(result.stdout), result.stderr


def test_the_label_column_is_not_a_feature_and_the_summary_counts_the_labels(fitted):
    where, summary, stderr = fitted
    assert summary["columns_used"] == ["a", "b", "c", "d"] and summary["columns_excluded"] == []
    assert summary["labels"].items() >= {"column": "known", "anomalies": 40, "trimmed": 40,
                                         "label_weight": 0.0}.items()
    assert "labels (column 'known'): 40 known anomalies, left out of training and calibration" in stderr
    assert summary["calibration"]["n_calibration"] == round(0.2 * 760)
    meta = read_metadata(where / "m.vae")["training"]
    assert (meta["n_labelled_anomalies"], meta["n_trimmed"]) == (40, 40)


def test_info_shows_the_labels(fitted):
    where, _, _ = fitted
    shown = invoke("info", where / "m.vae")
    assert shown.exit_code == 0 and "labels:     40 known anomalies, left out of training and calibration" \
        in shown.stdout


def test_without_a_label_column_info_says_none(fitted, tmp_path):
    where, _, _ = fitted
    result = invoke("fit", where / "train.csv", "-m", tmp_path / "plain.vae", "-x", "known", "--epochs", 2,
                    "-q")
    assert result.exit_code == 0, result.output
    assert "labels:     none" in invoke("info", tmp_path / "plain.vae").stdout


@pytest.mark.parametrize("edit, error", [
    (lambda t: t.assign(known=t["known"].where(t.index != 57, "maybe")),
     "error: label column 'known' should hold 0/1 or true/false but holds 'maybe' at row 57"),
    (lambda t: t.assign(known=np.where(t.index == 9, 2, 0)),
     "error: label column 'known' should hold 0 or 1 but holds 2 at row 9"),
    (lambda t: t.drop(columns="known"), "error: label column 'known' is not in bad.csv"),
], ids=["word", "number", "absent"])
def test_a_bad_label_column_is_one_error_line_naming_the_column_the_value_and_the_row(tmp_path, edit, error):
    edit(table(200)).to_csv(tmp_path / "bad.csv", index=False)
    result = invoke("fit", tmp_path / "bad.csv", "-m", tmp_path / "m.vae", "--label-column", "known")
    assert result.exit_code == 1
    assert result.stderr.strip() == error
    assert not (tmp_path / "m.vae").exists()


def test_the_label_column_cannot_also_be_a_feature(tmp_path):
    table(200).to_csv(tmp_path / "t.csv", index=False)
    result = invoke("fit", tmp_path / "t.csv", "--label-column", "known", "--include", "known")
    assert result.exit_code == 1 and "column 'known' is the label column" in result.stderr


def test_label_weight_trains_on_the_labels_and_says_so(fitted):
    where, summary, _ = fitted
    result = invoke("fit", where / "train.csv", "-m", where / "weighted.vae", "--label-column", "known",
                    "--label-weight", 1, "--epochs", 10, "--json")
    assert result.exit_code == 0, result.output
    weighted = json.loads(result.stdout)
    assert weighted["labels"]["label_weight"] == 1.0 and weighted["labels"]["trimmed"] == 40
    assert "trained to score high (label_weight 1)" in result.stderr
    assert "trained to score high" not in invoke("info", where / "m.vae").stdout
    assert "trained to score high (label_weight 1)" in invoke("info", where / "weighted.vae").stdout
    assert weighted["threshold"] != summary["threshold"]  # another network, calibrated on the same rows
    refused = invoke("fit", where / "train.csv", "-m", where / "bad.vae", "--label-column", "known",
                     "--label-weight", -1)
    assert refused.exit_code != 0 and "--label-weight" in refused.output
