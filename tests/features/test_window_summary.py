"""window_features="summary": per-channel window statistics instead of the stacked window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vae_anomaly import VAEDetector
from vae_anomaly.exceptions import InvalidInputError, SchemaMismatchError
from vae_anomaly.features import windows as W

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"t": np.arange(n), "g": np.repeat(["a", "b"], n // 2),
                       "x": np.sin(np.arange(n) / 10) + rng.normal(0, 0.1, n), "y": rng.normal(size=n),
                       "c": rng.choice(["p", "q"], n)})
    df.loc[5, "x"] = np.nan
    df.loc[300, "y"] = 9.0
    return df.sample(frac=1.0, random_state=1).reset_index(drop=True)  # shuffled rows


@pytest.fixture(scope="module")
def det(frame) -> VAEDetector:
    return VAEDetector(window=6, time_column="t", group_column="g", window_features="summary", max_iter=5,
                       random_state=0).fit(frame)


def test_statistics_match_pandas_rolling():
    x = pd.DataFrame({"v": [1.0, 4.0, np.nan, 2.0, 8.0, 3.0]})
    idx = W.window_index(np.array([True, False, False, True, False, False]), 3)
    out = W.summary_frame(x, idx, ["v"])
    assert list(out.columns) == ["v", "diff(v)", "mean(v)", "std(v)", "min(v)", "max(v)"]
    for part in (slice(0, 3), slice(3, 6)):  # two series; windows never cross them
        seg = x.v.iloc[part].reset_index(drop=True)
        roll = seg.rolling(3, min_periods=1)
        np.testing.assert_allclose(out["mean(v)"].iloc[part], roll.mean())
        np.testing.assert_allclose(out["std(v)"].iloc[part], roll.std(ddof=0).fillna(0.0))
        np.testing.assert_allclose(out["min(v)"].iloc[part], roll.min())
        np.testing.assert_allclose(out["max(v)"].iloc[part], roll.max())
        np.testing.assert_array_equal(out["diff(v)"].iloc[part], seg.diff())
    assert W.summary_owner(["v", "c"], ["v"]).tolist() == [0] * 6 + [1]


def test_training_rows_are_encoded_as_scoring_encodes_them(frame, det):
    # fit reuses the statistics it fitted the preprocessor on; they must be exactly the
    # ones scoring computes, in the same (window) order, or the model learns other rows.
    from vae_anomaly.features.rows import prepare
    from vae_anomaly.features.windows import summary_training_frame

    spec, scorer = det.window_spec_, det.scorer()
    reused = prepare(frame, det.preprocessor_, spec, summary=summary_training_frame(frame, spec))
    scored = scorer.prepare(frame)
    np.testing.assert_array_equal(reused.enc.num, scored.enc.num)
    np.testing.assert_array_equal(reused.enc.cat, scored.enc.cat)
    np.testing.assert_array_equal(reused.back, scored.back)
    head = summary_training_frame(frame.head(50), spec)  # with context the statistics are recomputed
    with_context = prepare(frame.iloc[50:], det.preprocessor_, spec, context=frame.head(50), summary=head)
    np.testing.assert_array_equal(with_context.enc.num,
                                  scorer.prepare(frame.iloc[50:], frame.head(50)).enc.num)


def test_width_does_not_grow_with_the_window(frame, det):
    assert det.preprocessor_.num_names_[:6] == ["x", "diff(x)", "mean(x)", "std(x)", "min(x)", "max(x)"]
    wide = VAEDetector(window=24, time_column="t", group_column="g", window_features="summary", max_iter=2,
                       random_state=0).fit(frame)
    assert wide.module_.n_numeric == det.module_.n_numeric == 12


def test_scores_contributions_context_and_order(frame, det):
    d = det.score_details(frame)
    assert d.feature_names == ["x", "y", "c"] and d.contributions.shape == (len(frame), 3)
    assert d.top_feature()[np.flatnonzero((frame.t == 300).to_numpy())[0]] == "y"
    perm = np.random.default_rng(2).permutation(len(frame))
    np.testing.assert_array_equal(det.score_samples(frame.iloc[perm]), det.score_samples(frame)[perm])
    ordered = frame.sort_values(["g", "t"]).reset_index(drop=True)
    whole = det.score_samples(ordered)
    later = det.score_details(ordered.iloc[250:], context=ordered.iloc[200:250]).anomaly_score
    np.testing.assert_array_equal(-whole[250:], later)


def test_held_out_rows_spread_over_each_series(det, frame):
    assert det.calibration_scores_.size == pytest.approx(0.2 * len(frame), abs=10)


def test_save_and_load_keep_the_summary(tmp_path, frame, det):
    path = tmp_path / "m.vae"
    det.save(path)
    back = VAEDetector.load(path)
    assert back.window_spec_ == det.window_spec_
    np.testing.assert_array_equal(back.score_samples(frame), det.score_samples(frame))


def test_a_one_row_window_is_the_row_itself(frame):
    det = VAEDetector(window=1, time_column="t", max_iter=2, random_state=0).fit(frame[["t", "x"]])
    assert det.window_spec_.features == "stack"
    assert det.score_details(frame[["t", "x"]]).contributions.shape == (len(frame), 1)


@pytest.mark.parametrize("features", ["summary", "stack"])
def test_bad_readings_are_refused_naming_the_callers_row(frame, features):
    det = VAEDetector(window=6, time_column="t", group_column="g", window_features=features, max_iter=2,
                      random_state=0).fit(frame)
    text = frame.astype({"y": object})
    text.loc[3, "y"] = "oops"
    with pytest.raises(InvalidInputError, match="'y' should be numeric but holds 'oops'"):
        det.score_details(text)
    infinite = frame.copy()
    infinite.loc[7, "x"] = np.inf
    with pytest.raises(InvalidInputError, match="'x' holds an infinite value .* at row 7;"):
        det.score_details(infinite)


def test_channels_read_on_alternate_rows_still_get_a_change(frame):
    """A channel with a reading every other row: its change is from the last reading in the window."""
    even = (frame["t"] % 2 == 0).to_numpy()
    alternate = frame.assign(x=frame["x"].where(even), y=frame["y"].where(~even))
    det = VAEDetector(window=6, time_column="t", group_column="g", max_iter=2, random_state=0).fit(alternate)
    assert np.isfinite(det.score_samples(alternate)).all()
    sparse = pd.DataFrame({"t": np.arange(40), "x": np.where(np.arange(40) % 7 == 0, 1.0, np.nan),
                           "y": np.arange(40.0)})  # x read every 7th row: never twice in 6 rows
    with pytest.raises(InvalidInputError, match="channel 'x' never has two readings within one window of 6"):
        VAEDetector(window=6, time_column="t", max_iter=2).fit(sparse)
    lone = pd.DataFrame({"t": np.arange(20), "g": np.arange(20), "x": np.arange(20.0)})  # one row per series
    with pytest.raises(InvalidInputError, match="every series has a single row"):
        VAEDetector(window=6, time_column="t", group_column="g", max_iter=2).fit(lone)


def test_held_out_rows_are_the_validation_fraction_even_for_short_series():
    rng = np.random.default_rng(0)
    short = pd.DataFrame({"t": np.tile(np.arange(40), 15), "g": np.repeat(np.arange(15), 40),
                          "x": rng.normal(size=600)})
    det = VAEDetector(window=4, time_column="t", group_column="g", max_iter=2, random_state=0).fit(short)
    assert det.calibration_scores_.size == 15 * 8  # 20 % of each 40-row series


def test_fit_names_the_callers_row_and_refuses_clashing_names(frame):
    infinite = frame.copy()
    infinite.loc[11, "y"] = np.inf
    with pytest.raises(InvalidInputError, match="'y' holds an infinite value .* at row 11;"):
        VAEDetector(window=6, time_column="t", group_column="g", max_iter=2).fit(infinite)
    with pytest.raises(InvalidInputError, match="column 'mean\\(x\\)' has the name of the window mean"):
        VAEDetector(window=6, time_column="t", group_column="g",
                    max_iter=2).fit(frame.assign(**{"mean(x)": 1.0}))


def test_channel_kinds_are_kept_and_checked(frame, det):
    coded = frame.assign(k=pd.Categorical(frame["t"] % 3))  # integer levels: still a category
    with_codes = VAEDetector(window=6, time_column="t", group_column="g", max_iter=2,
                             random_state=0).fit(coded)
    kinds = {s.name: s.kind for s in with_codes.preprocessor_.schema_}
    assert kinds["k"] == "categorical" and "mean(k)" not in kinds
    with pytest.raises(SchemaMismatchError, match="'x' was numeric at fit time but is"):
        det.score_details(frame.assign(x=frame["x"].astype("string")))
    huge = frame.assign(x=np.where(frame["t"] % 2 == 0, 1e150, -1e150))  # each reading within the limit
    assert np.isfinite(det.score_details(huge).anomaly_score).all()


def test_a_scorer_takes_arrays_for_models_fitted_on_arrays():
    X = np.random.default_rng(0).normal(size=(300, 3))
    det = VAEDetector(max_iter=2, random_state=0).fit(X)
    np.testing.assert_array_equal(det.scorer().score_details(X).anomaly_score, -det.score_samples(X))


def test_model_files_from_before_window_features_keep_stacked_windows(frame, tmp_path):
    from sklearn.base import clone

    from tests.helpers import repack_model

    old = VAEDetector(window=6, time_column="t", group_column="g", window_features="stack", max_iter=2,
                      random_state=0).fit(frame)
    old.save(tmp_path / "new.vae")
    # A file written before window_features existed: its parameters do not name it.
    (tmp_path / "old.vae").write_bytes(repack_model((tmp_path / "new.vae").read_bytes(),
                                                    lambda meta: meta["params"].pop("window_features")))
    loaded = VAEDetector.load(tmp_path / "old.vae")
    assert loaded.window_features == "stack" and clone(loaded).window_features == "stack"
    np.testing.assert_array_equal(loaded.score_samples(frame), old.score_samples(frame))
