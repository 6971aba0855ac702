"""Shared fixtures: small seeded data sets and fitted models reused across tests."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import SAMPLE


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module's fits: small MLP steps run several times faster so
    when other jobs share the cores. The previous count is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
