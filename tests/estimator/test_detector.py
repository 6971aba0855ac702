"""Behaviour of VAEDetector that users notice: detections, determinism, calibration,
mixed column types, missing values, explanations and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.helpers import correlated_normal
from vae_anomaly import InvalidInputError, SchemaMismatchError, VAEDetector

FAST = dict(max_iter=15, random_state=0)


# ------------------------------------------------------------------------------------------
# detection quality on the bundled sample
# ------------------------------------------------------------------------------------------
def test_injected_anomalies_rank_on_top(fitted_tabular, tabular, tabular_features):
    """Defaults find the sample's injected anomalies: AUC-ROC >= 0.90."""
    auc = roc_auc_score(tabular["label"], -fitted_tabular.score_samples(tabular_features))
    assert auc >= 0.90, auc


def test_flags_are_mostly_anomalies(fitted_tabular, tabular, tabular_features):
    """At the calibrated threshold most flagged rows are injected anomalies (precision >= 0.5)."""
    flagged = fitted_tabular.predict(tabular_features) == -1
    assert flagged.sum() > 0
    assert tabular["label"].to_numpy()[flagged].mean() >= 0.5


# ------------------------------------------------------------------------------------------
# determinism
# ------------------------------------------------------------------------------------------
def test_same_seed_gives_bit_identical_scores():
    X = correlated_normal(600)
    a = VAEDetector(**FAST).fit(X).score_samples(X)
    b = VAEDetector(**FAST).fit(X).score_samples(X)
    c = VAEDetector(max_iter=15, random_state=1).fit(X).score_samples(X)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_leaves_global_random_state_alone():
    X = correlated_normal(300)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    VAEDetector(**FAST).fit(X).sample(5, random_state=0)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert np.array_equal(np_state[1], np.random.get_state()[1])


@pytest.mark.parametrize("n_samples", [1, 8])
def test_scores_do_not_depend_on_batch_size_or_row_order(n_samples):
    X = correlated_normal(1500)
    det = VAEDetector(n_samples=n_samples, **FAST).fit(X)
    full = det.score_samples(X)
    pieces = np.concatenate([det.score_samples(X[i:i + 37]) for i in range(0, len(X), 37)])
    single = np.array([det.score_samples(X[i:i + 1])[0] for i in range(0, 50)])
    perm = np.random.default_rng(3).permutation(len(X))
    assert np.array_equal(full, pieces)
    assert np.array_equal(full[:50], single)
    assert np.array_equal(full[perm], det.score_samples(X[perm]))
    assert np.array_equal(full, det.score_samples(X))  # and the same on every call


# ------------------------------------------------------------------------------------------
# calibration
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("params,rate", [({"target_fpr": 0.01}, 0.01), ({"target_fpr": 0.05}, 0.05),
                                         ({"contamination": 0.1}, 0.1)])
def test_flagged_share_of_fresh_normal_data_matches_target(params, rate):
    """On new normal rows the flagged share is within 0.4 * rate + 0.003 of the target."""
    det = VAEDetector(random_state=0, **params).fit(correlated_normal(10000, seed=0))
    fresh = correlated_normal(20000, seed=1)
    flagged = (det.predict(fresh) == -1).mean()
    assert abs(flagged - rate) <= 0.4 * rate + 0.003, (flagged, rate)
    p = det.p_values(fresh)
    assert abs((p <= rate).mean() - rate) <= 0.4 * rate + 0.003
    assert 0.45 <= p.mean() <= 0.55  # roughly uniform p-values on normal data


def test_threshold_comes_from_held_out_rows():
    X = correlated_normal(1000)
    det = VAEDetector(**FAST).fit(X)
    n_held = round(0.2 * len(X))
    assert det.calibration_scores_.shape == (n_held,)
    assert det.n_train_rows_ == len(X) - n_held
    assert np.isclose(det.offset_, -det.threshold_)
    assert np.allclose(det.decision_function(X), det.score_samples(X) - det.offset_)


def test_p_values_fall_as_scores_rise():
    X = correlated_normal(800)
    det = VAEDetector(**FAST).fit(X)
    Z = np.vstack([X[:200], X[:50] * 6])
    order = np.argsort(-det.score_samples(Z))  # most anomalous last
    p = det.p_values(Z)[order]
    assert np.all(np.diff(p) <= 0)
    assert np.all((p > 0) & (p <= 1))


# ------------------------------------------------------------------------------------------
# column types and missing values
# ------------------------------------------------------------------------------------------
def _mixed_frame(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    kind = rng.choice(["a", "b", "c"], size=n)
    level = np.select([kind == "a", kind == "b"], [0.0, 3.0], 6.0)
    return pd.DataFrame({
        "kind": kind,
        "value": level + rng.normal(scale=0.3, size=n),
        "twice": 2 * level + rng.normal(scale=0.3, size=n),
        "flag": rng.random(n) < 0.3,
        "count": rng.poisson(3, size=n),
    })


def test_categorical_and_boolean_columns_are_modelled():
    df = _mixed_frame()
    det = VAEDetector(random_state=0).fit(df)
    normal = df.iloc[:40].copy()
    swapped = normal.copy()
    swapped["kind"] = np.where(normal["kind"] == "a", "c", "a")  # category contradicts the numbers
    unseen = normal.copy()
    unseen["kind"] = "zzz"  # a level never seen in training
    s_normal, s_swapped, s_unseen = (det.score_samples(f) for f in (normal, swapped, unseen))
    assert np.mean(s_swapped < s_normal) >= 0.95
    assert np.all(s_unseen < s_normal)
    contrib = det.feature_contributions(swapped)
    assert list(contrib.columns) == list(df.columns)
    assert (contrib.idxmax(axis=1) == "kind").mean() >= 0.6


def test_missing_values_accepted_and_scored_as_their_columns_usual_rate():
    df = _mixed_frame()
    holed = df.copy()
    rng = np.random.default_rng(7)  # not the held-out split's own draw
    holed.loc[rng.random(len(df)) < 0.1, "value"] = np.nan
    holed.loc[rng.random(len(df)) < 0.1, "kind"] = None
    det = VAEDetector(**FAST).fit(holed)
    value = list(df.columns).index("value")
    assert 0.07 < det.missing_rate_[value] < 0.13
    row = df.iloc[:20].copy()
    row["value"] = np.nan
    scores = det.score_samples(row)
    assert np.all(np.isfinite(scores))
    contrib = det.feature_contributions(row)
    # One hole where training rows routinely have one (10 % of cells in two columns) adds no evidence:
    # it is never blamed, and the column's typical term takes the value's place.
    assert 1.5 < det.missing_weight_[value] < 3.0 and det.missing_offset_ > 0
    np.testing.assert_allclose(contrib["value"], 0.0)
    typical = df.iloc[:20].copy()
    typical["value"] = det.reconstruct(df.iloc[:20])["value"]
    assert np.median(np.abs(scores - det.score_samples(typical))) < 2.0
    # Holes in every other column too are rarer than 99 training rows in 100: they add what they exceed.
    both = row.assign(kind=None, twice=np.nan, count=np.nan)
    assert np.all(det.score_samples(both) < scores)
    assert (det.feature_contributions(both)[["twice", "count"]].to_numpy() > 0).all()
    # At the column's usual rate a hole does not flag a row; an observed absurd value does.
    assert det.predict(row).tolist().count(-1) <= 2
    absurd = df.iloc[:20].copy()
    absurd["value"] = 1e6
    assert np.all(det.score_samples(absurd) < scores)


def test_skewed_and_constant_columns():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.lognormal(0, 2, 1000), np.full(1000, 7.0), rng.normal(size=1000)])
    det = VAEDetector(**FAST).fit(X)
    assert np.all(np.isfinite(det.score_samples(X)))
    moved = X[:10].copy()
    moved[:, 1] = 8.0  # the constant column changes
    assert np.all(det.score_samples(moved) < det.score_samples(X[:10]))


# ------------------------------------------------------------------------------------------
# sizes
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3), (5, 1), (40, 2)])
def test_tiny_inputs_fit_and_score(shape):
    X = np.random.default_rng(0).normal(size=shape)
    det = VAEDetector(random_state=0, batch_size=256).fit(X)
    assert det.predict(X).shape == (shape[0],)
    assert np.all(np.isfinite(det.score_samples(X)))


def test_one_row_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="1 sample"):
        VAEDetector().fit(np.zeros((1, 3)))


@pytest.mark.slow
def test_five_thousand_features():
    X = np.random.default_rng(0).normal(size=(300, 5000)).astype(np.float32)
    det = VAEDetector(max_iter=3, random_state=0).fit(X)
    assert det.feature_contributions(X[:3]).shape == (3, 5000)


# ------------------------------------------------------------------------------------------
# errors name the problem
# ------------------------------------------------------------------------------------------
def test_infinite_value_names_the_column():
    df = _mixed_frame(50)
    df.loc[3, "twice"] = np.inf
    with pytest.raises(InvalidInputError, match="'twice'.*infinite"):
        VAEDetector(**FAST).fit(df)


@pytest.mark.parametrize("column,values,message", [
    ("id", [f"T{i}" for i in range(200)], "'id' has 200 distinct text values"),
    ("mixed", ["a", 1] * 100, "'mixed' mixes value types"),
    ("when", pd.date_range("2024-01-01", periods=200), "'when' holds dates"),
    ("empty", [np.nan] * 200, "'empty' has no observed values"),
])
def test_unusable_columns_are_named(column, values, message):
    """Each kept on purpose: id-like text is otherwise left out (tests/estimator/test_identifiers.py)."""
    df = pd.DataFrame({"x": np.arange(200.0) % 7, column: values})
    with pytest.raises(InvalidInputError, match=message):
        VAEDetector(**FAST, include_columns=[column]).fit(df)


def test_score_time_schema_errors(tabular_features):
    det = VAEDetector(max_iter=2, random_state=0).fit(tabular_features.head(300))
    with pytest.raises(SchemaMismatchError, match="'pressure' is missing"):
        det.score_details(tabular_features.head(5).drop(columns=["pressure"]))
    bad = tabular_features.head(5).copy()
    bad["amount"] = ["x"] * 5
    with pytest.raises(InvalidInputError, match="'amount'"):
        det.score_samples(bad)


def test_invalid_parameter_is_named():
    with pytest.raises(ValueError, match="contamination"):
        VAEDetector(contamination=0.7).fit(np.zeros((10, 2)))


# ------------------------------------------------------------------------------------------
# scikit-learn integration
# ------------------------------------------------------------------------------------------
def test_pipeline_gridsearch_and_clone():
    X = correlated_normal(400)
    pipe = make_pipeline(FunctionTransformer(np.log1p, feature_names_out="one-to-one"), VAEDetector(**FAST))
    X_pos = np.abs(X)
    assert pipe.fit(X_pos).predict(X_pos).shape == (400,)
    cloned = clone(VAEDetector(latent_dim=3, **FAST))
    assert cloned.get_params()["latent_dim"] == 3 and not hasattr(cloned, "module_")

    def neg_mean_score(est, X_, y_=None):
        return float(np.mean(est.score_samples(X_)))

    search = GridSearchCV(VAEDetector(**FAST), {"latent_dim": [2, 3]}, cv=2, scoring=neg_mean_score)
    search.fit(X)
    assert search.best_params_["latent_dim"] in (2, 3)


# ------------------------------------------------------------------------------------------
# latent space, generator, history
# ------------------------------------------------------------------------------------------
def test_transform_sample_reconstruct(tabular_features):
    df = tabular_features.head(1000)
    det = VAEDetector(max_iter=10, random_state=0).fit(df)
    z = det.transform(df.head(7))
    assert z.shape == (7, det.module_.latent_dim)
    fake = det.sample(50, random_state=0)
    assert list(fake.columns) == list(df.columns)
    assert set(fake["region"].dropna()) <= set(df["region"].dropna())
    assert fake["is_weekend"].dtype == bool
    assert fake["n_items"].dtype.kind == "i"
    assert fake.equals(det.sample(50, random_state=0))
    rec = det.reconstruct(df.head(4))
    assert list(rec.columns) == list(df.columns) and rec.index.equals(df.head(4).index)


def test_history_and_quiet_by_default(capsys):
    X = correlated_normal(300)
    det = VAEDetector(**FAST).fit(X)
    assert len(det.loss_curve_) == det.n_iter_ == len(det.validation_loss_curve_)
    assert 1 <= det.best_epoch_ <= det.n_iter_
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_early_stopping_stops_before_the_budget():
    X = correlated_normal(2000)
    det = VAEDetector(max_iter=400, n_iter_no_change=5, random_state=0).fit(X)
    assert det.n_iter_ < 400


def test_reconstruction_score_is_an_option():
    X = correlated_normal(500)
    det = VAEDetector(score_type="reconstruction", **FAST).fit(X)
    far = X[:5] + 10
    assert np.all(det.score_samples(far) < det.score_samples(X[:5]))


# ------------------------------------------------------------------------------------------
# numeric likelihood
# ------------------------------------------------------------------------------------------
def test_numeric_terms_are_the_named_log_densities():
    from scipy import stats

    from vae_anomaly.model.vae import gaussian_nll, student_t_nll

    x = torch.tensor([[0.3, 5.0, -40.0]])
    mu = torch.tensor([[0.0, 1.0, 2.0]])
    log_var = torch.tensor([0.5, -1.0, 2.0])
    seen = torch.ones_like(x, dtype=torch.bool)
    scale = np.exp(0.5 * log_var.numpy())
    np.testing.assert_allclose(student_t_nll(x, mu, log_var, seen, 4.0).numpy(),
                               -stats.t.logpdf(x.numpy(), 4, loc=mu.numpy(), scale=scale), rtol=1e-5)
    np.testing.assert_allclose(gaussian_nll(x, mu, log_var, seen).numpy(),
                               -stats.norm.logpdf(x.numpy(), loc=mu.numpy(), scale=scale), rtol=1e-5)


@pytest.mark.parametrize("likelihood", ["student-t", "gaussian"])
def test_one_wild_value_adds_log_or_square_of_its_distance(likelihood):
    # A broken reading k scales out: its column's share of the score grows by about
    # 2.5 * log(4) per doubling of k under the Student-t, four-fold under the Gaussian.
    X = correlated_normal(1500)
    det = VAEDetector(likelihood=likelihood, **FAST).fit(X)
    spread = np.subtract(*np.percentile(X[:, 0], [75, 25]))
    probe = np.repeat(np.median(X, axis=0, keepdims=True), 4, axis=0)
    probe[:, 0] += spread * np.array([20.0, 40.0, 80.0, 160.0])
    wild = det.feature_contributions(probe)[:, 0]
    if likelihood == "student-t":
        np.testing.assert_allclose(np.diff(wild), 2.5 * np.log(4.0), rtol=0.1)
        assert wild[-1] < 50
    else:
        np.testing.assert_allclose(wild[1:] / wild[:-1], 4.0, rtol=0.1)
        assert wild[-1] > 1e4


def test_student_t_samples_have_heavier_tails_than_gaussian_ones():
    X = correlated_normal(1500)
    draws = {lik: VAEDetector(likelihood=lik, **FAST).fit(X).sample(20000, random_state=0)
             for lik in ("student-t", "gaussian")}
    from scipy import stats

    kurt = {lik: stats.kurtosis(d[:, 0]) for lik, d in draws.items()}
    assert kurt["student-t"] > kurt["gaussian"] + 1.0, kurt
