"""Shared fixtures: small seeded data sets and fitted models reused across tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SHARED = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def tabular() -> pd.DataFrame:
    """The bundled tabular sample (5,000 rows, with ``id`` and ``label``)."""
    return pd.read_parquet(SAMPLE / "tabular.parquet")


@pytest.fixture(scope="session")
def tabular_features(tabular) -> pd.DataFrame:
    """Sample table without the id and label columns."""
    return tabular.drop(columns=["id", "label"])


@pytest.fixture(scope="session")
def fitted_tabular(tabular_features):
    """A default VAEDetector fitted on the sample table."""
    from vae_anomaly import VAEDetector

    return VAEDetector(random_state=0).fit(tabular_features)


def correlated_normal(n: int, d: int = 5, seed: int = 0) -> np.ndarray:
    """Rows from a fixed correlated Gaussian (the same mixing for every seed)."""
    mix = np.random.default_rng(1234).normal(size=(d, d)) / np.sqrt(d)
    return np.random.default_rng(seed).normal(size=(n, d)) @ mix + 1.0
