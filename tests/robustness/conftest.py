"""Fixtures of the hostile-input tests: a base table, a small model fitted through the CLI, folders."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import base_frame, invoke
from vae_anomaly import VAEDetector

from .hostile import write_frame


@pytest.fixture(scope="package")
def base() -> pd.DataFrame:
    return base_frame()


@pytest.fixture(scope="package")
def model(base, tmp_path_factory) -> Path:
    """A small model on columns a, b, d and c, fitted through the CLI."""
    where = tmp_path_factory.mktemp("hostile_model")
    data = write_frame(base, where / "train.parquet")
    result = invoke("fit", data, "-m", where / "model.vae", "-x", "label", "--epochs", 2, "--seed", 0, "-q")
    assert result.exit_code == 0, result.output
    return where / "model.vae"


@pytest.fixture(scope="package")
def detector(model) -> VAEDetector:
    return VAEDetector.load(model)


@pytest.fixture()
def dirs(tmp_path) -> tuple[Path, Path]:
    """``in/`` for the input, ``out/`` for whatever a command writes."""
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    out.mkdir()
    return inp, out
