"""``vae-detect fit`` leaves identifiers out, says why (summary, --json, info); --include keeps one."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.helpers import fleet, invoke, orders
from vae_anomaly.persistence.modelfile import read_metadata

REASON = "increases with every row (3000 rows): an ID, row number or timestamp?"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three thousand orders to fit on, and a thousand placed a month later."""
    where = tmp_path_factory.mktemp("orders")
    orders(3000, 100_000, 0).to_parquet(where / "train.parquet", index=False)
    orders(1000, 190_000, 1).to_parquet(where / "later.parquet", index=False)
    return where


def fit(files, name, *options):
    result = invoke("fit", files / "train.parquet", "-m", files / name, "--epochs", 15, "--json", *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def score(files, model, data="later.parquet"):
    out = files / f"{model}.{data}"
    result = invoke("score", files / data, "-m", files / model, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out)


@pytest.fixture(scope="module")
def fitted(files, one_torch_thread):
    return fit(files, "m.vae")


def test_fit_summary_and_json_say_why_order_id_is_left_out(fitted, files):
    summary, stderr = fitted
    assert summary["columns_ignored"] == {"order_id": REASON}
    assert summary["columns_used"] == ["amount", "items", "unit_price", "region"]
    assert f"columns ignored (1):\n  order_id: {REASON}" in stderr
    assert read_metadata(files / "m.vae")["ignored_columns"] == {"order_id": REASON}


def test_info_shows_the_left_out_columns(fitted, files):
    shown = invoke("info", files / "m.vae")
    assert shown.exit_code == 0 and f"left out as identifiers (1):\n  order_id: {REASON}" in shown.stdout
    described = json.loads(invoke("info", files / "m.vae", "--json").stdout)
    assert described["ignored_columns"] == {"order_id": REASON}
    assert [c["name"] for c in described["columns"]] == ["amount", "items", "unit_price", "region"]


def test_later_orders_are_scored_without_their_id(fitted, files):
    scored = score(files, "m.vae")
    assert scored["is_anomaly"].mean() < 0.05
    assert "order_id" not in set(scored["top_feature"])
    pd.read_parquet(files / "later.parquet").drop(columns="order_id").to_parquet(files / "no_id.parquet")
    assert score(files, "m.vae", "no_id.parquet")["anomaly_score"].equals(scored["anomaly_score"])


def test_include_keeps_order_id_and_then_every_later_order_is_flagged(files, one_torch_thread):
    summary, _ = fit(files, "kept.vae", "--include", "order_id")
    assert summary["columns_ignored"] == {} and "order_id" in summary["columns_used"]
    assert read_metadata(files / "kept.vae")["ignored_columns"] == {}
    scored = score(files, "kept.vae")
    assert scored["is_anomaly"].mean() > 0.9 and set(scored["top_feature"]) == {"order_id"}


def test_columns_uses_an_identifier_as_it_is_told(files, one_torch_thread):
    summary, _ = fit(files, "columns.vae", "-c", "order_id", "-c", "amount", "--epochs", 2)
    assert summary["columns_used"] == ["order_id", "amount"] and summary["columns_ignored"] == {}
    assert read_metadata(files / "columns.vae")["ignored_columns"] == {}


@pytest.mark.parametrize("options,line", [
    (["--include", "order"], "error: column 'order' is not in the data (it has: order_id, amount, items, "
                             "unit_price, region)"),
    (["--include", "order_id", "-x", "order_id"],
     "error: column 'order_id' is both kept (--include) and excluded (--exclude); choose one"),
])
def test_unclear_include_is_one_error_line(files, options, line):
    result = invoke("fit", files / "train.parquet", "-m", files / "bad.vae", *options)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [line]
    assert not (files / "bad.vae").exists()


def test_a_sensor_id_channel_of_a_windowed_fit(tmp_path, one_torch_thread):
    fleet(600, 0, 0, "per sensor").to_parquet(tmp_path / "fleet.parquet", index=False)
    result = invoke("fit", tmp_path / "fleet.parquet", "-m", tmp_path / "w.vae", "--window", 6,
                    "--time-column", "time", "--group-column", "machine", "--epochs", 2, "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert list(summary["columns_ignored"]) == ["sensor_id"] and summary["columns_used"] == ["temp", "load"]
    assert "within each of the 4 series" in summary["columns_ignored"]["sensor_id"]
    assert read_metadata(tmp_path / "w.vae")["ignored_columns"] == summary["columns_ignored"]


def test_the_model_file_records_only_what_the_user_kept(files, one_torch_thread):
    """A refit of the saved model decides by the same rule: the file's include_columns is the user's
    --include, not every column the fit used."""
    fit(files, "kept.vae", "--include", "order_id")
    fit(files, "plain.vae")
    assert read_metadata(files / "kept.vae")["params"]["include_columns"] == ["order_id"]
    assert read_metadata(files / "plain.vae")["params"]["include_columns"] is None
