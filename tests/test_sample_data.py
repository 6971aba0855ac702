"""Checks for the synthetic data sets in ``sample_data/``.

The generator script is imported from its file path, run into a temporary
folder, and its output is compared with the committed Parquet files.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.api.types import is_string_dtype

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
FILES = ["tabular.parquet", "sensors.parquet"]
CHANNELS = ["temperature", "vibration", "pressure", "flow", "current", "rpm"]


def _load_generator():
    """Import ``sample_data/generate.py`` as a module without a package."""
    spec = importlib.util.spec_from_file_location(
        "sample_data_generate", SAMPLE_DIR / "generate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """Folder holding freshly generated copies of both files."""
    out = tmp_path_factory.mktemp("sample_data")
    _load_generator().main(["--out", str(out)])
    return out


@pytest.fixture(scope="module")
def tabular():
    return pd.read_parquet(SAMPLE_DIR / "tabular.parquet")


@pytest.fixture(scope="module")
def sensors():
    return pd.read_parquet(SAMPLE_DIR / "sensors.parquet")


@pytest.mark.parametrize("name", FILES)
def test_generator_reproduces_committed_file(regenerated, name):
    committed = pd.read_parquet(SAMPLE_DIR / name)
    fresh = pd.read_parquet(regenerated / name)
    pd.testing.assert_frame_equal(fresh, committed, check_exact=True)


@pytest.mark.parametrize("name", FILES)
def test_files_are_small(name):
    assert (SAMPLE_DIR / name).stat().st_size < 1_000_000


def test_tabular_columns_and_types(tabular):
    assert len(tabular) == 5_000
    floats = ["temperature", "pressure", "flow_rate", "power_kw", "amount", "duration_min"]
    for col in floats:
        assert tabular[col].dtype == np.float64, col
    assert tabular["n_items"].dtype == np.int64
    assert tabular["is_weekend"].dtype == bool
    assert tabular["label"].dtype == np.int8
    for col in ["id", "region", "product"]:
        assert is_string_dtype(tabular[col]), col
    assert tabular["id"].is_unique
    assert tabular["region"].nunique() == 5
    assert tabular["product"].nunique() == 8
    assert tabular["amount"].skew() > 3  # strongly right-skewed


def test_tabular_missing_values(tabular):
    rates = tabular.isna().mean()
    numeric_with_nan = [c for c in ["temperature", "pressure", "duration_min"]
                        if 0.01 <= rates[c] <= 0.04]
    assert len(numeric_with_nan) >= 2
    assert tabular["region"].isna().sum() > 0
    assert rates[["id", "product", "label", "flow_rate", "power_kw"]].eq(0).all()


def test_tabular_labels(tabular):
    assert set(tabular["label"].unique()) == {0, 1}
    assert 0.02 <= tabular["label"].mean() <= 0.03
    # Anomalies are scattered, not clustered at one end of the file.
    positions = np.flatnonzero(tabular["label"].to_numpy())
    assert positions.min() < 500 and positions.max() > 4_500


def test_sensors_layout(sensors):
    assert len(sensors) == 10_000
    assert list(sensors.columns) == ["timestamp", "machine", *CHANNELS, "label"]
    assert pd.api.types.is_datetime64_dtype(sensors["timestamp"])
    assert is_string_dtype(sensors["machine"])
    assert sorted(sensors["machine"].unique()) == ["M1", "M2", "M3", "M4"]
    assert (sensors.groupby("machine").size() == 2_500).all()
    assert sensors["timestamp"].is_monotonic_increasing
    ordered = sensors.sort_values(["timestamp", "machine"], ignore_index=True)
    pd.testing.assert_frame_equal(sensors, ordered)
    assert not sensors.duplicated(["timestamp", "machine"]).any()


def test_sensors_sampling_and_gap(sensors):
    steps = sensors.groupby("machine")["timestamp"].diff().dropna()
    minute = pd.Timedelta(minutes=1)
    gaps = sensors.loc[steps[steps != minute].index]
    assert list(gaps["machine"]) == ["M3"]
    assert steps.max() == pd.Timedelta(minutes=31)


def test_sensors_values_and_labels(sensors):
    for col in CHANNELS:
        assert sensors[col].dtype == np.float64, col
    assert sensors[CHANNELS].isna().to_numpy().sum() > 0
    # Missing readings are not part of any fault.
    assert (sensors.loc[sensors[CHANNELS].isna().any(axis=1), "label"] == 0).all()
    assert sensors["label"].dtype == np.int8
    assert 0.03 <= sensors["label"].mean() <= 0.08
    assert (sensors.groupby("machine")["label"].sum() > 0).all()
