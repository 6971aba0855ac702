"""Known anomalies in ``fit``'s ``y`` (1 = known anomaly, 0 = every other row) are left out of training and
calibration; a ``y`` without any changes nothing; ``y`` that is not labels is said so, never misread."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.helpers import correlated_normal, repack_model
from vae_anomaly import VAEDetector
from vae_anomaly.exceptions import InvalidInputError, ModelFileError
from vae_anomaly.persistence import modelfile

FAST = {"max_iter": 15, "random_state": 0}


def contaminated(n: int = 600, share: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated normal rows, the first ``share`` of them shifted far off: (X, y) with y = 1 for those."""
    X = correlated_normal(n, 4, seed)
    k = int(share * n)
    X[:k] += 4.0
    y = np.zeros(n, dtype=np.int64)
    y[:k] = 1
    return X, y


@pytest.fixture(scope="module")
def unlabelled(one_torch_thread):
    X, _ = contaminated()
    return VAEDetector(**FAST).fit(X)


@pytest.fixture(scope="module")
def labelled(one_torch_thread):
    X, y = contaminated()
    return VAEDetector(**FAST).fit(X, y)


@pytest.mark.parametrize("nothing", [np.zeros(600, dtype=np.int64), np.zeros(600, dtype=bool),
                                     np.full(600, np.nan), pd.Series([0] * 600, dtype="Int64")],
                         ids=["zeros", "false", "nan", "nullable"])
def test_a_y_without_a_known_anomaly_fits_exactly_as_none(unlabelled, nothing):
    X, _ = contaminated()
    det = VAEDetector(**FAST).fit(X, nothing)
    assert np.array_equal(det.score_samples(X), unlabelled.score_samples(X))
    assert det.threshold_ == unlabelled.threshold_
    assert np.array_equal(det.calibration_scores_, unlabelled.calibration_scores_)
    assert (det.n_labelled_anomalies_, det.n_trimmed_) == (0, 0)
    assert (unlabelled.n_labelled_anomalies_, unlabelled.n_trimmed_) == (0, 0)


def test_labelled_rows_are_left_out_of_training_and_calibration(labelled, unlabelled):
    assert (labelled.n_labelled_anomalies_, labelled.n_trimmed_) == (60, 60)
    assert labelled.n_train_rows_ + labelled.calibration_scores_.size == 600 - 60
    assert unlabelled.n_train_rows_ + unlabelled.calibration_scores_.size == 600


def test_with_heavy_contamination_all_labelled_the_threshold_drops_and_fresh_anomalies_are_caught(
        labelled, unlabelled):
    """10 % of the training rows are far-off anomalies: unlabelled, they sit among the held-out rows and
    push the threshold above them; labelled, they are left out."""
    fresh, _ = contaminated(400, share=0.5, seed=1)
    anomalies, normal = fresh[:200], fresh[200:]
    assert labelled.threshold_ < unlabelled.threshold_ / 2
    caught = (labelled.predict(anomalies) == -1).mean()
    caught_before = (unlabelled.predict(anomalies) == -1).mean()
    assert caught > 0.9 > 0.2 > caught_before
    assert (labelled.predict(normal) == -1).mean() < 0.05


@pytest.mark.parametrize("y, message", [
    (np.where(np.arange(600) < 60, -1, 1), r"y holds -1 at row 0: .*pass \(y == -1\)\.astype\(int\)"),
    (np.zeros(599), r"y holds 599 value\(s\) for 600 row\(s\) of X"),
    (np.zeros((600, 2)), r"y must hold one value per row, shape \(600,\), got shape \(600, 2\)"),
    (np.ones(600), r"600 of 600 rows are labelled anomalies: too few rows not labelled 1 in y are left"),
], ids=["sklearn-convention", "length", "two-columns", "all-labelled"])
def test_a_y_that_would_be_misread_raises_one_clear_error(y, message):
    X, _ = contaminated()
    with pytest.raises(InvalidInputError, match=message):
        VAEDetector(**FAST).fit(X, y)


@pytest.mark.parametrize("y, shown", [(np.arange(600) % 3, "2 at row 2"),
                                      (np.arange(600) % 2 + 1, "2 at row 1"),
                                      (np.linspace(0, 1, 600), "0.00166945 at row 1")],
                         ids=["classes", "one-and-two", "scores"])
def test_a_y_that_is_not_labels_warns_naming_a_value_and_fits_as_none(unlabelled, y, shown):
    """scikit-learn passes class targets to every estimator's fit; they are not anomaly labels."""
    X, _ = contaminated()
    with pytest.warns(UserWarning, match=f"y holds {shown}: fit reads y as labels only .* without labels"):
        det = VAEDetector(**FAST).fit(X, y)
    assert np.array_equal(det.score_samples(X), unlabelled.score_samples(X))
    assert det.n_labelled_anomalies_ == 0


def test_windowed_models_keep_labelled_rows_in_the_series_and_leave_out_their_windows(one_torch_thread):
    rng = np.random.default_rng(0)
    n, size = 240, 4
    frame = pd.DataFrame({"t": np.tile(np.arange(n // 2), 2), "m": np.repeat(["a", "b"], n // 2),
                          "x": np.sin(np.arange(n) / 5) + 0.1 * rng.normal(size=n),
                          "z": rng.normal(size=n)}).sample(frac=1.0, random_state=0)  # caller order: shuffled
    y = np.zeros(n, dtype=np.int64)
    y[[3, 50, 51, 200]] = 1  # positions in the caller's (shuffled) order
    params = {**FAST, "window": size, "time_column": "t", "group_column": "m", "target_fpr": 0.05}
    det = VAEDetector(**params).fit(frame, y)
    # Windows holding a labelled row: the one ending at it and the next size - 1 of its series.
    ordered = frame.assign(y=y).sort_values(["m", "t"])
    holds = ordered.groupby("m")["y"].transform(lambda s: s.rolling(size, min_periods=1).max())
    assert det.n_labelled_anomalies_ == 4 and det.n_trimmed_ == int(holds.sum())
    assert det.n_train_rows_ + det.calibration_scores_.size == n - det.n_trimmed_
    assert np.isfinite(det.score_samples(frame)).all()  # every row still scored: the series has no holes
    with_zeros = VAEDetector(**params).fit(frame, np.zeros(n)).score_samples(frame)
    assert np.array_equal(with_zeros, VAEDetector(**params).fit(frame).score_samples(frame))


def test_labels_pass_through_a_pipeline_and_fit_predict(one_torch_thread):
    X, y = contaminated()
    pipe = Pipeline([("scale", FunctionTransformer()), ("vae", VAEDetector(**FAST))]).fit(X, y)
    assert (pipe[-1].n_labelled_anomalies_, pipe[-1].n_trimmed_) == (60, 60)
    det = VAEDetector(**FAST)
    flags = det.fit_predict(X, y)
    assert det.n_labelled_anomalies_ == 60 and (flags[:60] == -1).mean() > 0.9


def anomaly_auc(estimator, X, y):
    """AUC-ROC of the labels ``y`` (1 = anomaly) against the anomaly score: ``score_samples`` is higher for
    normal rows, so its negative ranks anomalies first."""
    return roc_auc_score(y, -estimator.score_samples(X))


def test_grid_search_scores_on_the_labels(one_torch_thread):
    X, y = contaminated(450)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    det = VAEDetector(max_iter=10, target_fpr=0.05, random_state=0)
    search = GridSearchCV(det, {"latent_dim": [2, 3]}, scoring=anomaly_auc, cv=cv).fit(X, y)
    assert search.best_score_ > 0.95
    assert search.best_estimator_.n_labelled_anomalies_ == 45  # refitted on every row, with every label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # scikit-learn's "roc_auc" reads decision_function, higher for normal rows: backwards for y = 1.
        inverted = GridSearchCV(det, {"latent_dim": [2]}, scoring="roc_auc", cv=cv).fit(X, y)
    assert inverted.best_score_ < 0.05


def test_labels_survive_the_model_file_and_older_files_load_with_zeros(labelled, tmp_path):
    labelled.save(tmp_path / "m.vae")
    assert modelfile.read_metadata(tmp_path / "m.vae")["training"]["n_labelled_anomalies"] == 60
    back = VAEDetector.load(tmp_path / "m.vae")
    assert (back.n_labelled_anomalies_, back.n_trimmed_) == (60, 60)

    def before_labels(meta):
        del meta["training"]["n_labelled_anomalies"], meta["training"]["n_trimmed"]

    (tmp_path / "old.vae").write_bytes(repack_model((tmp_path / "m.vae").read_bytes(), before_labels))
    old = VAEDetector.load(tmp_path / "old.vae")
    assert (old.n_labelled_anomalies_, old.n_trimmed_) == (0, 0)
    X, _ = contaminated()
    assert np.array_equal(old.score_samples(X), labelled.score_samples(X))


@pytest.mark.parametrize("count", ["many", -1, 2.5, True])
def test_a_bad_label_count_in_a_model_file_is_refused(labelled, tmp_path, count):
    labelled.save(tmp_path / "m.vae")

    def spoil(meta):
        meta["training"]["n_trimmed"] = count

    (tmp_path / "bad.vae").write_bytes(repack_model((tmp_path / "m.vae").read_bytes(), spoil))
    for read in (VAEDetector.load, modelfile.read_metadata):
        with pytest.raises(ModelFileError, match="training summary has an invalid 'n_trimmed'"):
            read(tmp_path / "bad.vae")
