"""VAEDetector leaves identifier columns out at fit, says so, and keeps them when asked.

The order_id case: a model of an order number flags every order placed after
training (a month later, all of them, each blamed on ``order_id``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.helpers import fleet, orders
from vae_anomaly import VAEDetector
from vae_anomaly.exceptions import InvalidInputError
from vae_anomaly.persistence.modelfile import load_scorer

FAST = {"max_iter": 15, "random_state": 0}
TRAIN = orders(3000, 100_000, 0)
MONTH_LATER = orders(1000, 100_000 + 30 * 3000, 1)


def fit_quietly(X, **params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        det = VAEDetector(**{**FAST, **params}).fit(X)
    return det, [w for w in caught if "identifier" in str(w.message)]


@pytest.fixture(scope="module")
def fitted(one_torch_thread):
    return fit_quietly(TRAIN)


@pytest.fixture(scope="module")
def kept(one_torch_thread):
    return fit_quietly(TRAIN, include_columns=["order_id"])[0]


def test_order_id_is_left_out_with_one_warning(fitted):
    det, caught = fitted
    assert list(det.ignored_columns_) == ["order_id"]
    assert det.ignored_columns_["order_id"] == \
        "increases with every row (3000 rows): an ID, row number or timestamp?"
    (warning,) = caught
    assert warning.category is UserWarning and warning.filename == __file__
    assert "'order_id': increases with every row" in str(warning.message)
    assert "include_columns" in str(warning.message)


def test_later_orders_are_not_flagged_for_their_id(fitted):
    det, _ = fitted
    details = det.score_details(MONTH_LATER)
    assert details.is_anomaly.mean() < 0.05
    assert "order_id" not in set(details.top_feature())
    assert "order_id" not in det.feature_contributions(MONTH_LATER).columns


def test_the_left_out_column_keeps_scikit_learns_meaning(fitted):
    det, _ = fitted
    assert det.n_features_in_ == 5 and list(det.feature_names_in_) == list(TRAIN.columns)
    with pytest.raises(ValueError, match="order_id"):  # scikit-learn's own check of the columns given
        det.score_samples(MONTH_LATER.drop(columns="order_id"))
    assert list(det.reconstruct(MONTH_LATER.head(3)).columns) == ["amount", "items", "unit_price", "region"]
    assert list(det.sample(2).columns) == ["amount", "items", "unit_price", "region"]


def test_include_columns_models_the_id_and_then_every_later_order_is_flagged(kept):
    assert kept.ignored_columns_ == {}
    details = kept.score_details(MONTH_LATER)
    assert details.is_anomaly.mean() > 0.9
    assert set(details.top_feature()) == {"order_id"}


def test_saved_model_keeps_the_left_out_columns_and_scores_without_them(fitted, tmp_path):
    det, _ = fitted
    det.save(tmp_path / "m.vae")
    back = VAEDetector.load(tmp_path / "m.vae")
    assert back.ignored_columns_ == det.ignored_columns_
    assert np.array_equal(back.score_samples(MONTH_LATER), det.score_samples(MONTH_LATER))
    # the model file's scorer (what vae-detect score uses) neither needs nor reads the column
    scorer = load_scorer(tmp_path / "m.vae")
    got = scorer.score_details(MONTH_LATER.drop(columns="order_id"))
    assert np.array_equal(got.anomaly_score, det.score_details(MONTH_LATER).anomaly_score)


def test_no_identifier_no_warning_and_an_empty_dict(one_torch_thread):
    det, caught = fit_quietly(TRAIN.drop(columns="order_id"), max_iter=2)
    assert det.ignored_columns_ == {} and caught == []


def test_unnamed_arrays_are_kept_by_position(one_torch_thread):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.permutation(400) * 3, rng.normal(size=(400, 2))])
    det, caught = fit_quietly(X, max_iter=2)
    assert list(det.ignored_columns_) == ["x0"] and len(caught) == 1
    assert det.n_features_in_ == 3 and det.feature_contributions(X[:4]).shape == (4, 2)
    assert det.reconstruct(X[:4]).shape == (4, 2)
    assert np.array_equal(det.scorer().score_details(X).anomaly_score, det.score_details(X).anomaly_score)
    det, caught = fit_quietly(X, max_iter=2, include_columns=[0])
    assert det.ignored_columns_ == {} and caught == []


def test_text_ids_are_left_out_too(one_torch_thread):
    X = TRAIN.assign(ref=[f"R{i:07d}" for i in np.random.default_rng(1).permutation(len(TRAIN))])
    det, _ = fit_quietly(X, max_iter=2, include_columns=["order_id"])
    assert list(det.ignored_columns_) == ["ref"]
    assert "3000 distinct values, more than max_categories=50" in det.ignored_columns_["ref"]
    with pytest.raises(InvalidInputError, match="'ref' has 3000 distinct text values"):
        VAEDetector(max_iter=2, include_columns=["ref", "order_id"]).fit(X)


@pytest.mark.parametrize("include,message", [
    (["order"], "include_columns names 'order', which is not a column of X"),
    ([7], "include_columns holds position 7, but X has 5 columns"),
])
def test_include_columns_that_are_not_there_are_refused(include, message):
    with pytest.raises(InvalidInputError, match=message):
        VAEDetector(max_iter=2, include_columns=include).fit(TRAIN)


def test_include_columns_is_validated_like_every_parameter():
    with pytest.raises(ValueError, match="include_columns"):
        VAEDetector(include_columns="order_id").fit(TRAIN)


def test_a_table_of_identifiers_only_is_refused():
    with pytest.raises(InvalidInputError, match="every feature column looks like an identifier.*'order_id'"):
        VAEDetector(max_iter=2).fit(TRAIN[["order_id"]])


def test_small_tables_keep_every_column(one_torch_thread):
    det, caught = fit_quietly(TRAIN.head(99), max_iter=2)
    assert det.ignored_columns_ == {} and caught == []
    assert "order_id" in det.feature_contributions(TRAIN.head(3)).columns


@pytest.mark.parametrize("ids", ["per sensor", "fleet-wide"])
def test_a_numeric_id_among_a_windowed_models_channels(ids, one_torch_thread):
    """A reading counter per sensor rises in time in every series, though it is neither distinct in
    every row (the counters overlap) nor rising in row order (the fleet's rows are interleaved)."""
    train, later = fleet(600, 0, 0, ids), fleet(200, 3000, 1, ids)
    params = {"window": 6, "time_column": "time", "group_column": "machine"}
    det, caught = fit_quietly(train, **params)
    assert list(det.ignored_columns_) == ["sensor_id"] and len(caught) == 1
    assert "at every step in time order within each of the 4 series" in det.ignored_columns_["sensor_id"]
    assert det.window_spec_.channels == ("temp", "load")
    details = det.score_details(later)
    assert details.is_anomaly.mean() < 0.1 and "sensor_id" not in set(details.top_feature())
    modelled, _ = fit_quietly(train, **params, include_columns=["sensor_id"])
    assert modelled.ignored_columns_ == {} and "sensor_id" in modelled.window_spec_.channels
    assert modelled.score_details(later).is_anomaly.mean() > 0.9
