"""Shared fixtures: small seeded data sets and fitted models reused across tests."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SHARED = ROOT.parent / "shared" / "datasets"


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


def correlated_normal(n: int, d: int = 5, seed: int = 0) -> np.ndarray:
    """Rows from a fixed correlated Gaussian (the same mixing for every seed)."""
    mix = np.random.default_rng(1234).normal(size=(d, d)) / np.sqrt(d)
    return np.random.default_rng(seed).normal(size=(n, d)) @ mix + 1.0


def repack_model(good: bytes, mutate=None, extra: dict | None = None) -> bytes:
    """The model ``good`` with changed metadata or extra members, and a valid checksum."""
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        meta = json.loads(zf.read("metadata.json"))
        tensors = zf.read("tensors.safetensors")
    if mutate is not None:
        mutate(meta)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps(meta))
        zf.writestr("tensors.safetensors", tensors)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    body = buf.getvalue()[:-2]
    comment = b"vae-anomaly sha256:" + hashlib.sha256(body).hexdigest().encode()
    return body + len(comment).to_bytes(2, "little") + comment
