"""The synthetic anomaly kinds of the benchmark (benchmarks/synthetic.py) are what they claim to be."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("synthetic", ROOT / "benchmarks" / "synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


@pytest.fixture(scope="module")
def model():
    """600 correlated normal rows (plus a constant column) and 40 real anomalies."""
    rng = np.random.default_rng(7)
    base = rng.normal(size=(600, 1))
    normals = np.hstack([base + 0.1 * rng.normal(size=(600, 4)), np.full((600, 1), 3.0)])
    anomalies = rng.normal(5.0, 1.0, size=(40, 4))
    anomalies = np.hstack([anomalies, np.full((40, 1), 3.0)])
    X = np.vstack([normals, anomalies]) * [1.0, 10.0, 100.0, 1.0, 1.0] + [0.0, 50.0, -7.0, 0.0, 0.0]
    y = np.r_[np.zeros(600, int), np.ones(40, int)]
    return synthetic.NormalModel("toy", X, y, seed=0), X[:600]


def test_sets_are_fixed_by_name_kind_and_seed(model):
    m, _ = model
    X1, y1 = m.make("local")
    X2, y2 = m.make("local")
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    other = synthetic.NormalModel("toy", np.vstack([model[1], model[1][:5]]),
                                  np.r_[np.zeros(600), np.ones(5)], seed=1)
    assert not np.array_equal(other.make("local")[0], X1)


@pytest.mark.parametrize("kind", synthetic.KINDS)
def test_sizes_labels_and_constant_columns(model, kind):
    m, normals = model
    X, y = m.make(kind)
    n_norm, n_anom = synthetic.sizes(600)
    assert (int((y == 0).sum()), int((y == 1).sum())) == (n_norm, n_anom) == (600, 32)
    assert X.shape == (632, 5) and np.isfinite(X).all()
    assert np.all(X[:, 4] == 3.0)  # constant over the normals: constant everywhere


@pytest.mark.parametrize("kind", ["local", "global", "cluster"])
def test_mixture_kinds_are_anomalous_to_a_plain_detector(model, kind):
    X, y = model[0].make(kind)
    scores = -IsolationForest(random_state=0).fit(X).score_samples(X)
    assert roc_auc_score(y, scores) > 0.8


def test_dependency_keeps_each_marginal_and_breaks_the_correlation(model):
    m, normals = model
    X, y = m.make("dependency")
    assert np.array_equal(X[y == 0], normals)  # the real normal rows
    anomalies = X[y == 1]
    for j in range(4):
        assert np.isin(anomalies[:, j], normals[:, j]).all()
    assert np.corrcoef(normals[:, 0], normals[:, 1])[0, 1] > 0.9
    assert abs(np.corrcoef(anomalies[:, 0], anomalies[:, 1])[0, 1]) < 0.5


def test_unknown_kind_is_named(model):
    with pytest.raises(ValueError, match="'outer'"):
        model[0].make("outer")
