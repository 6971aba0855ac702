"""``vae-detect`` on thresholds and drift.

The too-few-rows warning, ``score --json``, ``--fail-on-drift``, and files of older formats.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from tests.helpers import correlated_normal, invoke
from vae_anomaly import VAEDetector
from vae_anomaly.calibration.thresholds import conformal_p_values
from vae_anomaly.cli.app import EXIT_DRIFT
from vae_anomaly.persistence.modelfile import FORMAT_VERSION

COLUMNS = [f"x{j}" for j in range(5)]


def table(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    frame = pd.DataFrame(correlated_normal(rows, seed=seed), columns=COLUMNS)
    frame["x1"] += shift * frame["x1"].std()
    return frame.assign(id=np.arange(rows))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """train.parquet (5,000 rows), normal.parquet and shifted.parquet (2,000 rows each), a model of the
    first."""
    where = tmp_path_factory.mktemp("drift")
    table(5000, 0).to_parquet(where / "train.parquet", index=False)
    table(2000, 1).to_parquet(where / "normal.parquet", index=False)
    table(2000, 2, shift=1.0).to_parquet(where / "shifted.parquet", index=False)
    result = invoke("fit", where / "train.parquet", "-m", where / "m.vae", "-x", "id", "--epochs", 10,
                    "--seed", 0)
    assert result.exit_code == 0, result.output
    return where


def test_score_json_reports_no_drift_on_normal_rows(work):
    result = invoke("score", work / "normal.parquet", "-m", work / "m.vae", "-o", work / "n.parquet",
                    "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    drift = summary["drift"]
    assert summary["rows"] == 2000 and drift["n_rows"] == 2000
    assert drift["detected"] is False and drift["note"] is None
    assert set(drift) >= {"alpha", "p_value", "flagged", "scores", "columns"}
    assert {c["name"] for c in drift["columns"]["top"]} <= set(COLUMNS)
    assert "drift detected" not in result.stderr


def test_a_shifted_batch_is_reported_on_one_stderr_line(work):
    result = invoke("score", work / "shifted.parquet", "-m", work / "m.vae", "-o", work / "s.parquet")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("drift detected")]
    assert len(lines) == 1 and "x1" in lines[0], result.stderr


def test_fail_on_drift_exits_3_after_writing_the_whole_output(work):
    out = work / "fail.parquet"
    result = invoke("score", work / "shifted.parquet", "-m", work / "m.vae", "-o", out, "--fail-on-drift",
                    "--json")
    assert result.exit_code == EXIT_DRIFT == 3, result.output
    assert json.loads(result.stdout)["drift"]["detected"] is True
    written = pd.read_parquet(out)
    assert len(written) == 2000 and written["id"].tolist() == list(range(2000))
    quiet = invoke("score", work / "shifted.parquet", "-m", work / "m.vae", "-o", out, "--fail-on-drift",
                   "-q")
    assert quiet.exit_code == 3 and quiet.stderr.startswith("drift detected")
    calm = invoke("score", work / "normal.parquet", "-m", work / "m.vae", "-o", out, "--fail-on-drift", "-q")
    assert calm.exit_code == 0 and calm.stderr == ""


def test_json_together_with_csv_on_stdout_is_a_usage_error(work):
    result = invoke("score", work / "normal.parquet", "-m", work / "m.vae", "-o", "-", "--json")
    assert result.exit_code == 2
    assert "--json" in result.output and "anomaly_score" not in result.output


def test_info_shows_the_rule_and_the_tails_fit(work):
    info = json.loads(invoke("info", work / "m.vae", "--json").stdout)
    cal = info["calibration"]
    assert info["format_version"] == FORMAT_VERSION and info["drift_columns"] is True
    # 1,000 held-out rows resolve 0.01 (10 rows above the threshold): conformal, the tail fitted beside it
    assert cal["threshold_method"] == "auto" and cal["threshold_rule"] == "conformal"
    assert cal["tail"]["status"] == "fitted" and 0 <= cal["tail"]["ks_p_value"] <= 1
    text = invoke("info", work / "m.vae").stdout
    assert "conformal rule" in text and "tail:       fitted, shape" in text
    assert "score and column tests" in text


def test_too_few_held_out_rows_warn_in_the_summary_and_the_json(work, tmp_path):
    table(60, 3).to_parquet(tmp_path / "few.parquet", index=False)
    result = invoke("fit", tmp_path / "few.parquet", "-m", tmp_path / "few.vae", "-x", "id", "--epochs", 2,
                    "--json")
    assert result.exit_code == 0, result.output
    warning = json.loads(result.stdout)["calibration"]["warning"]
    assert warning.startswith("12 held-out rows cannot support target_fpr=0.01")
    assert "99 held-out rows would support it" in warning
    assert f"warning: {warning}" in result.stderr.splitlines()
    assert "CalibrationWarning" not in result.output  # once, as a line of the summary
    assert "warning:    12 held-out rows" in invoke("info", tmp_path / "few.vae").stdout
    quiet = invoke("fit", tmp_path / "few.parquet", "-m", tmp_path / "few.vae", "-x", "id", "--epochs", 2,
                   "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def as_format_2(model: Path, to: Path) -> None:
    """``model`` as version 2 wrote it: no threshold method, rule, tail, warning or drift arrays."""
    with zipfile.ZipFile(model) as zf:
        meta = json.loads(zf.read("metadata.json"))
        arrays = st_load(zf.read("tensors.safetensors"))
    meta["format_version"] = 2
    for key in ("threshold_method", "threshold_rule", "tail", "warning"):
        del meta["calibration"][key]
    del meta["params"]["threshold_method"]
    arrays = {k: v for k, v in arrays.items() if not k.startswith("drift.")}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps(meta))
        zf.writestr("tensors.safetensors", st_save(arrays))
    body = buf.getvalue()[:-2]
    comment = b"vae-anomaly sha256:" + hashlib.sha256(body).hexdigest().encode()
    to.write_bytes(body + len(comment).to_bytes(2, "little") + comment)


def test_a_format_2_file_scores_as_conformal_and_says_the_column_test_is_unavailable(work, tmp_path):
    """Models written before the tail threshold (files of version 2) load and score as they did."""
    train = table(5000, 0).drop(columns="id")
    tailed = VAEDetector(max_iter=5, random_state=0, target_fpr=1e-3).fit(train)
    tailed.save(tmp_path / "v3.vae")
    as_format_2(tmp_path / "v3.vae", tmp_path / "v2.vae")
    old = VAEDetector.load(tmp_path / "v2.vae")
    assert old.threshold_method == "conformal" and old.tail_ is None and old.column_reference_ is None
    fresh = table(2000, 1).drop(columns="id")
    assert old.threshold_ == tailed.threshold_  # the threshold is whatever the file holds
    scores = -old.score_samples(fresh)
    np.testing.assert_array_equal(old.p_values(fresh), conformal_p_values(old.calibration_scores_, scores))
    assert old.drift(fresh).columns is None
    result = invoke("score", work / "normal.parquet", "-m", tmp_path / "v2.vae", "-o",
                    tmp_path / "o.parquet", "--json")
    assert result.exit_code == 0, result.output
    drift = json.loads(result.stdout)["drift"]
    assert drift["columns"] is None and "column test unavailable" in drift["note"]
    assert "note: drift column test unavailable" in result.stderr
    info = invoke("info", tmp_path / "v2.vae").stdout
    assert "score tests only" in info and "conformal rule" in info
