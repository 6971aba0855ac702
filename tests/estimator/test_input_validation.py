"""VAEDetector.fit and scoring refuse hostile inputs naming the column, or give a documented result.

The same inputs as ``tests/robustness/test_hostile_tables.py``, given to the
library: a refusal is an ``InvalidInputError`` (a ``ValueError``) that names
the column, as listed in docs/reliability.md.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tests.helpers import base_frame, hostile_frame
from vae_anomaly import CalibrationWarning, InvalidInputError, VAEDetector


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return base_frame()


@pytest.fixture(scope="module")
def detector(base) -> VAEDetector:
    """A small model on columns a, b, d and c (as ``vae-detect fit -x label --epochs 2 --seed 0`` fits it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # 60 held-out rows: the rate is extrapolated
        return VAEDetector(max_iter=2, random_state=0).fit(base.drop(columns="label"))


LIBRARY_REFUSED = [
    ("all_nan_column", r"column 'a' has no observed values"),
    ("plus_inf", r"column 'a' holds an infinite value \(inf\) at row 7"),
    ("minus_inf", r"column 'a' holds an infinite value \(-inf\) at row 7"),
    ("huge", r"column 'a' holds a value too large to model"),
    ("text_in_numeric", r"column 'a' mixes value types \(float, str\)"),
    ("mixed_object", r"column 'c' mixes value types \(int, str\)"),
]


@pytest.mark.parametrize(("case", "message"), LIBRARY_REFUSED)
def test_fit_refuses_a_bad_column_by_name(case, message, base):
    frame = hostile_frame(case, base).drop(columns="label")
    if case == "text_in_numeric":  # as a user would have it: numbers with one stray string
        frame["a"] = base["a"].astype(object)
        frame.loc[7, "a"] = "oops"
    with pytest.raises(InvalidInputError, match=message):
        VAEDetector(max_iter=1, random_state=0).fit(frame)


def test_fit_refuses_tables_too_small_or_without_columns(base):
    """sklearn's contract: a ValueError that says what is wrong (never a numpy or torch error)."""
    for frame, message in [(base.iloc[:0], "0 sample"), (base.iloc[:1], "1 sample"),
                           (pd.DataFrame(index=range(5)), "0 feature")]:
        with pytest.raises(ValueError, match=message):
            VAEDetector(max_iter=1).fit(frame)
    with pytest.raises(ValueError, match="minimum of 2"):
        VAEDetector(max_iter=1).fit(np.ones((1, 3)))


def test_fit_refuses_duplicate_column_names(base):
    frame = base[["a", "b", "d"]].set_axis(["a", "a", "d"], axis=1)
    with pytest.raises(ValueError, match="'a'"):
        VAEDetector(max_iter=1).fit(frame)


def test_fit_refuses_bad_arrays_naming_the_column():
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[4, 1] = np.inf
    with pytest.raises(InvalidInputError, match=r"column 'x1' holds an infinite value"):
        VAEDetector(max_iter=1).fit(x)
    x[4, 1] = np.nan
    x[:, 2] = np.nan
    with pytest.raises(InvalidInputError, match=r"column 'x2' has no observed values"):
        VAEDetector(max_iter=1).fit(x)


def test_constant_columns_fit_and_score_equally(base):
    frame = hostile_frame("all_constant", base).drop(columns="label")
    det = VAEDetector(max_iter=2, random_state=0).fit(frame)
    scores = det.score_samples(frame)
    assert np.isfinite(scores).all() and np.unique(scores).size == 1
    assert (det.predict(frame) == 1).all()


def test_unicode_names_survive_fit_save_and_load(base, tmp_path):
    frame = base.drop(columns="label").rename(columns={"a": "température", "b": "压力", "d": "🙂", "c": ""})
    det = VAEDetector(max_iter=2, random_state=0).fit(frame)
    det.save(tmp_path / "m.vae")
    back = VAEDetector.load(tmp_path / "m.vae")
    assert list(back.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(back.score_samples(frame), det.score_samples(frame))
    assert list(back.feature_contributions(frame).columns) == list(frame.columns)


def test_five_thousand_columns_in_the_library():
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 5000)),
                         columns=[f"f{i}" for i in range(5000)])
    det = VAEDetector(max_iter=1, random_state=0).fit(frame)
    assert det.n_features_in_ == 5000 and np.isfinite(det.score_samples(frame)).all()


@pytest.mark.parametrize(("case", "message"), [
    ("plus_inf", r"column 'a' holds an infinite value"),
    ("huge", r"column 'a' holds a value too large"),
    ("text_in_numeric", r"column 'a' was numeric \(float64\) at fit time"),
])
def test_scoring_refuses_a_bad_column_by_name(case, message, base, detector):
    frame = hostile_frame(case, base)
    with pytest.raises(InvalidInputError, match=message):
        detector.score_samples(frame.drop(columns="label"))
    with pytest.raises(InvalidInputError, match=message):
        detector.score_details(frame)
    stray = base.drop(columns="label").astype({"a": object})
    stray.loc[7, "a"] = "oops"
    with pytest.raises(InvalidInputError, match=r"column 'a' should be numeric but holds 'oops'"):
        detector.score_samples(stray)


def test_scoring_documented_results(base, detector):
    features = base.drop(columns="label")
    assert detector.score_samples(features.iloc[:0]).shape == (0,)  # no rows in, no scores out
    missing = detector.score_samples(features.assign(a=np.nan))
    assert np.isfinite(missing).all()  # a missing cell adds its typical term
    unseen = detector.score_details(features.assign(c="never seen"))
    assert np.isfinite(unseen.anomaly_score).all()
    assert (unseen.anomaly_score > detector.score_details(features).anomaly_score).mean() > 0.9


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_library_extreme_finite_values_are_flagged_not_nan(detector):
    grid = np.array([-1e100, -1e39, -1e20, 1e20, 1e39, 1e100])
    a, b, d = (v.ravel() for v in np.meshgrid(grid, grid, grid, indexing="ij"))
    details = detector.score_details(pd.DataFrame({"a": a, "b": b, "d": d, "c": "x"}))
    assert not np.isnan(details.anomaly_score).any()
    assert details.is_anomaly.all()


def test_library_list_cells_are_refused(base, detector):
    with pytest.raises(InvalidInputError, match="column 'c'"):
        detector.score_samples(base.drop(columns="label").assign(c=[[1, 2]] * len(base)))
