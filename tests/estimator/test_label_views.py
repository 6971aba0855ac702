"""Known anomalies choose the score view: the residuals' full covariance where the labelled rows show
it ranks them clearly better, the ELBO with independent features otherwise; the choice survives the
model file."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.helpers import repack_model
from vae_anomaly import VAEDetector
from vae_anomaly.exceptions import ModelFileError
from vae_anomaly.persistence import modelfile

FAST = {"max_iter": 30, "random_state": 0}


def broken_relations(n: int, k: int, seed: int, d: int = 8, rank: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Rows near a ``rank``-dimensional plane in ``d`` columns, wider than the latent space, then ``k``
    anomalies whose columns are drawn independently from the normal rows' values: every marginal is
    normal, only the relations between columns are broken. (X, y) with y = 1 for the anomalies."""
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(1234).normal(size=(rank, d))
    X = rng.normal(size=(n, rank)) @ mix + 0.05 * rng.normal(size=(n, d))
    anomalies = np.column_stack([rng.permutation(X[:, j])[:k] for j in range(d)])
    return np.vstack([X, anomalies]), np.r_[np.zeros(n), np.ones(k)].astype(np.int64)


def first_labels(y: np.ndarray, count: int) -> np.ndarray:
    labels = np.zeros_like(y)
    labels[np.flatnonzero(y)[:count]] = 1
    return labels


@pytest.fixture(scope="module")
def data():
    X, y = broken_relations(1000, 40, seed=0)
    X_test, y_test = broken_relations(500, 25, seed=10)
    return X, y, X_test, y_test


@pytest.fixture(scope="module")
def chosen(one_torch_thread, data):
    X, y, _, _ = data
    return VAEDetector(**FAST).fit(X, first_labels(y, 10))


def test_ten_labels_that_the_full_covariance_ranks_clearly_higher_choose_it(chosen, data):
    X, y, X_test, y_test = data
    evidence = chosen.score_view_evidence_
    assert chosen.score_view_ == "full" and chosen.module_.full_covariance
    assert evidence.view == "full" and evidence.default == "diag" and evidence.n_labels == 10
    assert evidence.label_auc["full"] > evidence.label_auc["diag"] + 0.05 and evidence.lower_bound > 0
    # What a user sees: fresh anomalies of the same kind rank higher than without the labels.
    unlabelled = VAEDetector(**FAST).fit(X)
    assert unlabelled.score_view_ == "diag" and unlabelled.score_view_evidence_ is None
    with_labels, without = (roc_auc_score(y_test, -d.score_samples(X_test)) for d in (chosen, unlabelled))
    assert with_labels > without + 0.05
    # The same network as covariance_type="full" with the same labels, scoring the same way.
    full = VAEDetector(**FAST, covariance_type="full").fit(X, first_labels(y, 10))
    assert full.score_view_ == "full"
    assert np.array_equal(full.score_samples(X_test), chosen.score_samples(X_test))


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_three_noisy_labels_keep_the_view_covariance_type_names(one_torch_thread, data, covariance_type):
    X, y, _, _ = data
    noisy = np.zeros_like(y)
    noisy[[5, 300, 700]] = 1  # three normal rows marked as anomalies
    det = VAEDetector(**FAST, covariance_type=covariance_type).fit(X, noisy)
    assert det.score_view_ == covariance_type and det.module_.full_covariance == (covariance_type == "full")
    evidence = det.score_view_evidence_
    assert evidence.view == evidence.default == covariance_type and evidence.n_labels == 3
    assert set(evidence.label_auc) == {"diag", "full"} and evidence.lower_bound <= 0


def test_the_view_and_its_evidence_survive_the_model_file(chosen, data, tmp_path):
    _, _, X_test, _ = data
    chosen.save(tmp_path / "m.vae")
    meta = modelfile.read_metadata(tmp_path / "m.vae")
    assert meta["training"]["score_view"]["view"] == "full" and meta["network"]["covariance_type"] == "full"
    back = VAEDetector.load(tmp_path / "m.vae")
    assert back.score_view_ == "full" and back.score_view_evidence_ == chosen.score_view_evidence_
    assert np.array_equal(back.score_samples(X_test), chosen.score_samples(X_test))
    # What `vae-detect score` builds: the file's scorer, without the estimator.
    scorer = modelfile.load_scorer(tmp_path / "m.vae")
    assert np.array_equal(-scorer.scores(back._prepare(X_test), with_terms=False)[0],
                          chosen.score_samples(X_test))

    def before_views(meta):
        del meta["training"]["score_view"]

    (tmp_path / "old.vae").write_bytes(repack_model((tmp_path / "m.vae").read_bytes(), before_views))
    old = VAEDetector.load(tmp_path / "old.vae")
    assert old.score_view_ == "full" and old.score_view_evidence_ is None
    assert np.array_equal(old.score_samples(X_test), chosen.score_samples(X_test))


@pytest.mark.parametrize("spoil", [lambda v: v.update(view="diag"), lambda v: v.pop("label_auc"),
                                   lambda v: v.update(n_labels="ten")], ids=["other view", "no auc", "count"])
def test_view_evidence_that_does_not_match_the_network_is_refused(chosen, tmp_path, spoil):
    chosen.save(tmp_path / "m.vae")
    (tmp_path / "bad.vae").write_bytes(repack_model((tmp_path / "m.vae").read_bytes(),
                                                    lambda meta: spoil(meta["training"]["score_view"])))
    for read in (VAEDetector.load, modelfile.read_metadata):
        with pytest.raises(ModelFileError, match="invalid 'score_view'"):
            read(tmp_path / "bad.vae")
