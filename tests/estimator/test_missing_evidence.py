"""Missing cells are evidence: a row that lost what training always had is flagged and the column named,
while columns that were often missing in training raise no extra alarms."""

import numpy as np
import pandas as pd
import pytest

from tests.helpers import repack_model
from vae_anomaly import VAEDetector
from vae_anomaly.exceptions import ModelFileError
from vae_anomaly.persistence import modelfile

COLUMNS = [f"x{i}" for i in range(12)]


def table(n: int, seed: int) -> pd.DataFrame:
    """Twelve correlated columns: wide enough that one column's likelihood is a small part of the score."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    mixing = np.random.default_rng(99).normal(size=(3, 12))
    return pd.DataFrame(z @ mixing + 0.5 * rng.normal(size=(n, 12)), columns=COLUMNS)


@pytest.fixture(scope="module")
def complete_model():
    return VAEDetector(max_iter=40, random_state=0).fit(table(4000, 0))


@pytest.fixture(scope="module")
def holey_model():
    """``x11`` missing in 30 % of the training rows, at random."""
    train = table(4000, 0)
    train.loc[np.random.default_rng(1).random(4000) < 0.3, "x11"] = np.nan
    return VAEDetector(max_iter=40, random_state=0).fit(train)


@pytest.mark.parametrize("lost", [["x3"], ["x0", "x7"], COLUMNS])
def test_a_row_missing_what_training_always_had_is_flagged_and_the_column_named(
        one_torch_thread, complete_model, lost):
    rows = table(300, 5)
    rows[lost] = np.nan
    found = complete_model.score_details(rows)
    assert found.is_anomaly.all()
    assert (found.p_value <= complete_model.target_fpr).all()
    assert set(found.top_feature()) <= set(lost)


def test_complete_rows_are_scored_as_without_the_evidence(one_torch_thread, complete_model):
    """The evidence is a log-odds: an observed cell adds an exact 0, whatever the column's rate."""
    rows = table(2000, 6)
    scorer = complete_model.scorer()
    with_evidence = scorer.score_details(rows).anomaly_score
    scorer.missing_weight_ = None
    assert np.array_equal(scorer.score_details(rows).anomaly_score, with_evidence)
    assert (complete_model.predict(rows) == -1).mean() <= 0.03


def test_a_column_missing_at_random_in_training_raises_no_extra_alarms(one_torch_thread, holey_model):
    fresh = table(20_000, 7)
    holes = np.random.default_rng(8).random(20_000) < 0.3
    fresh.loc[holes, "x11"] = np.nan
    flags = holey_model.predict(fresh) == -1
    assert flags.mean() <= 0.02  # target_fpr 0.01; 20,000 rows resolve it to about +-0.0015
    assert flags[holes].mean() <= 0.02 and flags[~holes].mean() <= 0.02
    # ... while the same holes in a column never missing in training flag their rows.
    other = table(500, 9)
    other["x4"] = np.nan
    assert (holey_model.predict(other) == -1).all()


def test_a_rows_score_with_holes_does_not_depend_on_its_batch(one_torch_thread, holey_model):
    rows = table(3000, 10)
    rng = np.random.default_rng(11)
    rows = rows.mask(rng.random(rows.shape) < 0.1)
    whole = holey_model.score_samples(rows)
    alone = np.concatenate([holey_model.score_samples(rows.iloc[i:i + 1]) for i in range(0, 3000, 97)])
    assert np.array_equal(alone, whole[::97])
    order = rng.permutation(3000)
    assert np.array_equal(holey_model.score_samples(rows.iloc[order]), whole[order])
    batches = np.concatenate([holey_model.score_samples(rows.iloc[i:i + 256]) for i in range(0, 3000, 256)])
    assert np.array_equal(batches, whole)


def test_the_rates_survive_a_model_file_and_an_older_file_adds_no_evidence(one_torch_thread, holey_model,
                                                                           tmp_path):
    rows = table(400, 12)
    rows.loc[:99, "x2"] = np.nan
    holey_model.save(tmp_path / "new.vae")
    loaded = VAEDetector.load(tmp_path / "new.vae")
    np.testing.assert_array_equal(loaded.missing_rate_, holey_model.missing_rate_)
    assert np.array_equal(loaded.score_samples(rows), holey_model.score_samples(rows))
    scorer = modelfile.load_scorer(tmp_path / "new.vae")
    assert np.array_equal(scorer.score_details(rows).anomaly_score, -holey_model.score_samples(rows))

    # A file of model format 5 has no rates: its missing cells add only their typical term, as then.
    def without_rates(arrays):
        del arrays["missing_rate"], arrays["missing_weight"]

    (tmp_path / "old.vae").write_bytes(repack_model((tmp_path / "new.vae").read_bytes(),
                                                    lambda meta: meta.update(format_version=5),
                                                    mutate_arrays=without_rates))
    old = VAEDetector.load(tmp_path / "old.vae")
    assert old.missing_rate_ is None
    complete = rows.iloc[100:]
    assert np.array_equal(old.score_samples(complete), holey_model.score_samples(complete))
    gap = old.score_samples(rows.iloc[:100]) - holey_model.score_samples(rows.iloc[:100])
    # x2 never missing in training; x11's routine holes set the offset: a row adds what it exceeds.
    np.testing.assert_allclose(gap, holey_model.missing_weight_[2] - holey_model.missing_offset_)
    assert 0 < holey_model.missing_offset_ < holey_model.missing_weight_[11] + 1e-9


def test_a_column_that_starts_going_missing_is_drift_named_by_its_column(one_torch_thread, holey_model):
    batch = table(2000, 13)
    rng = np.random.default_rng(14)
    batch.loc[rng.random(2000) < 0.3, "x11"] = np.nan  # as in training
    assert not holey_model.drift(batch).detected
    batch.loc[rng.random(2000) < 0.4, "x5"] = np.nan
    report = holey_model.drift(batch)
    assert report.detected
    assert report.columns["top"][0]["name"] == "x5"


@pytest.mark.parametrize("features", ["summary", "stack"])
def test_a_channel_that_stops_reporting_flags_its_windows(one_torch_thread, features):
    rng = np.random.default_rng(0)
    n = 3000
    t = np.arange(n)
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="min"),
                          "temp": np.sin(t / 30) + 0.1 * rng.normal(size=n),
                          "load": np.cos(t / 30) + 0.1 * rng.normal(size=n)})
    det = VAEDetector(window=8, time_column="time", window_features=features, max_iter=15,
                      random_state=0).fit(frame.iloc[:2500])
    later = frame.iloc[2500:].copy()
    later.loc[later.index[200:], "load"] = np.nan  # the sensor stops for the last 300 rows
    found = det.score_details(later)
    assert found.is_anomaly[200:].all()
    assert (found.top_feature()[200:] == "load").all()
    assert found.is_anomaly[:200].mean() <= 0.05


@pytest.mark.parametrize("bad", [np.zeros(12), np.full(12, 0.5)[:5], np.full(12, np.nan)])
def test_a_model_file_with_bad_missing_rates_is_refused(holey_model, tmp_path, bad):
    holey_model.save(tmp_path / "m.vae")

    def damage(arrays):
        arrays["missing_rate"] = bad

    (tmp_path / "bad.vae").write_bytes(repack_model((tmp_path / "m.vae").read_bytes(), mutate_arrays=damage))
    with pytest.raises(ModelFileError, match="corrupt: missing rates and weights"):
        modelfile.load_scorer(tmp_path / "bad.vae")
