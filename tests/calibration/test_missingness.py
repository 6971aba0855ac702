"""The evidence of missing cells: rates, weights, and sums that do not depend on the batch."""

import numpy as np

from vae_anomaly.calibration.missingness import (
    EVIDENCE_QUANTILE,
    add_missing_evidence,
    cell_evidence,
    evidence_offset,
    missing_rates,
    missing_weights,
    row_evidence,
)


def test_a_column_never_missing_costs_more_the_more_rows_showed_it_present():
    small = missing_weights(missing_rates(np.zeros((100, 1), dtype=bool)))
    large = missing_weights(missing_rates(np.zeros((10_000, 1), dtype=bool)))
    assert np.isfinite(small).all() and np.isfinite(large).all()
    np.testing.assert_allclose(small, np.log(201.0))
    np.testing.assert_allclose(large, np.log(20_001.0))


def test_a_column_usually_missing_makes_an_observed_cell_the_unusual_event():
    rates = missing_rates(np.array([[True]] * 90 + [[False]] * 10))
    assert missing_weights(rates)[0] < 0


def test_only_columns_never_missing_in_training_get_the_spread():
    rates = np.array([0.001, 0.004, 0.3])
    plain = missing_weights(rates)
    lifted = missing_weights(rates, np.array([True, False, False]), spread=5.0)
    np.testing.assert_allclose(lifted - plain, [5.0, 0.0, 0.0])


def test_routine_holes_add_nothing_and_rarer_patterns_add_what_they_exceed():
    rng = np.random.default_rng(1)
    training = rng.random((10_000, 6)) < 0.1  # cells lost at random
    weights = missing_weights(missing_rates(training))
    offset = evidence_offset(training, weights)
    assert offset > 0
    added = row_evidence(training, weights, offset)
    assert (added > 0).mean() <= 1 - EVIDENCE_QUANTILE + 1e-9  # 99 training rows in 100 add nothing
    many = np.ones((1, 6), dtype=bool)
    assert row_evidence(many, weights, offset)[0] > 2 * weights.min()  # 6 holes, where 3 are routine
    assert row_evidence(np.zeros((1, 6), dtype=bool), weights, offset)[0] == 0.0


def test_a_rows_cells_share_what_its_holes_add():
    rng = np.random.default_rng(2)
    absent = rng.random((500, 5)) < 0.3
    weights = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
    cells = cell_evidence(absent, weights, 2.0)
    np.testing.assert_allclose(cells.sum(axis=1), row_evidence(absent, weights, 2.0))
    assert (cells[~absent] == 0).all()


def test_complete_rows_keep_their_scores_exactly():
    scores = np.array([1.5, 2.25, 3.0])
    absent = np.zeros((3, 4), dtype=bool)
    assert add_missing_evidence(scores, absent, np.ones(4)) is scores
    absent[1, 2] = True
    out = add_missing_evidence(scores, absent, np.array([1.0, 2.0, 7.0, 3.0]))
    assert out[0] == scores[0] and out[2] == scores[2] and out[1] == scores[1] + 7.0


def test_a_rows_evidence_is_the_same_bits_in_any_batch_and_any_order():
    rng = np.random.default_rng(0)
    absent = rng.random((5000, 13)) < 0.2
    weights = rng.normal(scale=3.0, size=13)
    whole = row_evidence(absent, weights)
    for size in (1, 7, 333):
        parts = np.concatenate([row_evidence(absent[i:i + size], weights) for i in range(0, 5000, size)])
        assert np.array_equal(parts, whole)
    order = rng.permutation(5000)
    assert np.array_equal(row_evidence(absent[order], weights), whole[order])


def test_an_old_model_without_weights_adds_nothing():
    scores = np.array([1.0, 2.0])
    assert add_missing_evidence(scores, np.ones((2, 3), dtype=bool), None) is scores
