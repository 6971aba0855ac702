"""The score view is chosen from the labels only on strong evidence: a clear paired gain over the default."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vae_anomaly.calibration.views import ViewChoice, choose_view, label_shares, lower_bound


def test_the_mean_share_is_the_labels_auc_against_the_reference_rows_ties_counting_half():
    rng = np.random.default_rng(0)
    reference, labelled = rng.integers(0, 20, 300).astype(float), rng.integers(5, 25, 12).astype(float)
    y = np.r_[np.zeros(300), np.ones(12)]
    assert label_shares(labelled, reference).mean() == pytest.approx(
        roc_auc_score(y, np.r_[reference, labelled]))


def test_a_view_that_ranks_every_label_higher_is_chosen():
    held = {"diag": np.arange(200.0), "full": np.arange(200.0)}
    labelled = {"diag": np.array([120.0, 90.0, 150.0, 100.0, 130.0]),
                "full": np.array([190.0, 185.0, 199.0, 170.0, 195.0])}
    choice = choose_view(labelled, held, "diag")
    assert choice.view == "full" and choice.default == "diag" and choice.n_labels == 5
    assert choice.label_auc["full"] > choice.label_auc["diag"] and choice.lower_bound > 0


def test_three_noisy_labels_keep_the_default_view():
    rng = np.random.default_rng(1)
    held = {"diag": rng.normal(size=500), "full": rng.normal(size=500)}
    kept = 0
    for seed in range(50):  # three labels that are not anomalies under either view
        r = np.random.default_rng(seed)
        kept += choose_view({"diag": r.normal(size=3), "full": r.normal(size=3)}, held, "diag").view == "diag"
    assert kept >= 45  # a one-sided 95 % bound: about 1 in 20 switches where nothing differs


def test_a_better_mean_with_a_wide_spread_is_not_enough():
    held = {"diag": np.arange(100.0), "full": np.arange(100.0)}
    labelled = {"diag": np.array([50.0, 50.0, 50.0, 50.0]), "full": np.array([99.0, 99.0, 20.0, 40.0])}
    choice = choose_view(labelled, held, "diag")
    assert choice.label_auc["full"] > choice.label_auc["diag"] and choice.view == "diag"


def test_one_label_never_switches_and_the_evidence_round_trips():
    choice = choose_view({"diag": np.array([1.0]), "full": np.array([9.0])},
                         {"diag": np.arange(10.0), "full": np.arange(10.0)}, "diag")
    assert choice.view == "diag" and choice.lower_bound == -math.inf
    assert choice.to_dict()["lower_bound"] is None
    assert ViewChoice.from_dict(choice.to_dict()) == choice


@pytest.mark.parametrize("bad", [{"view": "full"},
                                 {"view": "other", "default": "diag", "label_auc": {"diag": 0.5},
                                  "lower_bound": None, "n_labels": 3, "level": 0.95}])
def test_evidence_that_does_not_hold_together_is_refused(bad):
    with pytest.raises(ValueError, match="invalid score view evidence"):
        ViewChoice.from_dict(bad)


def test_views_that_do_not_match_are_refused():
    with pytest.raises(ValueError, match="must match"):
        choose_view({"diag": np.ones(3)}, {"full": np.ones(3)}, "diag")
    with pytest.raises(ValueError, match="same labelled"):
        choose_view({"diag": np.ones(3), "full": np.ones(2)}, {"diag": np.ones(4), "full": np.ones(4)},
                    "diag")


def test_the_lower_bound_is_the_one_sided_student_t_bound_of_the_mean():
    gains = np.array([0.1, 0.2, 0.3])
    assert lower_bound(gains) == pytest.approx(0.2 - 2.919986 * 0.1 / math.sqrt(3))  # t(0.95, 2 degrees)
