"""The known anomalies' training term (``label_weight > 0``): rows like the labelled ones score high.

A cluster of anomalies common enough that a VAE fitted without labels
learns it as one more normal mode: labelling a few of its rows must make
the rest of the cluster stand out, which leaving the labelled rows out
(the default ``label_weight=0``, Label-Trim alone) does not do.
"""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.helpers import correlated_normal
from vae_anomaly import VAEDetector

FAST = {"max_iter": 25, "random_state": 0}


def clustered(n: int = 1500, share: float = 0.1, seed: int = 0):
    """Correlated normal rows and a tight cluster of anomalies off their relation: (X, y)."""
    rng = np.random.default_rng(seed)
    X = correlated_normal(n, 4, seed)
    k = int(share * n)
    X[:k] = np.array([1.5, -1.5, 1.5, -1.5]) + 0.1 * rng.normal(size=(k, 4))
    y = np.zeros(n, dtype=np.int64)
    y[:k] = 1
    return X, y


@pytest.fixture(scope="module")
def data():
    X, y = clustered()
    X_test, y_test = clustered(seed=1)
    known = np.zeros_like(y)
    known[:5] = 1  # five of the 150 training anomalies are known
    return X, known, X_test, y_test


def _auc(det: VAEDetector, X_test, y_test) -> float:
    return roc_auc_score(y_test, -det.score_samples(X_test))


def test_five_labels_make_the_rest_of_their_cluster_stand_out(data, one_torch_thread):
    X, known, X_test, y_test = data
    without = _auc(VAEDetector(**FAST).fit(X), X_test, y_test)
    trimmed = VAEDetector(**FAST).fit(X, known)
    trained = VAEDetector(label_weight=1.0, **FAST).fit(X, known)
    trim_only, with_term = _auc(trimmed, X_test, y_test), _auc(trained, X_test, y_test)
    assert with_term >= max(without, trim_only) + 0.1, (without, trim_only, with_term)
    assert with_term >= 0.95
    # Labels the network trained on no longer say which score view ranks unseen anomalies better.
    assert trimmed.score_view_evidence_ is not None and trained.score_view_evidence_ is None


def test_the_term_needs_labels_and_changes_nothing_without_them(data, one_torch_thread):
    X, _, X_test, _ = data
    a = VAEDetector(**FAST).fit(X).score_samples(X_test)
    b = VAEDetector(label_weight=10.0, **FAST).fit(X, np.zeros(len(X), dtype=int)).score_samples(X_test)
    np.testing.assert_array_equal(a, b)


def test_more_labels_than_a_batch_take_turns(one_torch_thread):
    X, y = clustered(n=1200, share=0.25)
    X_test, y_test = clustered(seed=1, n=1200, share=0.25)
    det = VAEDetector(label_weight=1.0, batch_size=64, max_iter=10, random_state=0).fit(X, y)  # 300 > 64
    assert det.n_labelled_anomalies_ == 300
    assert _auc(det, X_test, y_test) >= 0.95


def test_a_negative_weight_is_refused():
    X, y = clustered(n=200)
    with pytest.raises(ValueError, match="label_weight"):
        VAEDetector(label_weight=-1.0).fit(X, y)
