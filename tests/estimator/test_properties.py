"""Properties that must hold for any input hypothesis can draw.

One small model is fitted per module; hypothesis draws the rows to score, the
row order, the batch sizes and the tables to encode. Pure functions
(preprocessing, calibration) are checked without fitting anything.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vae_anomaly import VAEDetector
from vae_anomaly.calibration.thresholds import conformal_p_values, threshold_for_rate
from vae_anomaly.features.encoder import TabularPreprocessor
from vae_anomaly.features.schema import CATEGORICAL, NUMERIC

# Examples that fit nothing are cheap; those that score rows through the network cost ~10 ms.
FAST = settings(max_examples=200, deadline=None)
SCORING = settings(max_examples=80, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])

LEVELS = ["red", "green", "blue"]


def training_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Numeric, integer, boolean and text columns, with some cells missing."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame({
        "a": a,
        "b": 2 * a + rng.normal(scale=0.3, size=n),
        "k": rng.integers(0, 20, size=n),
        "flag": rng.random(n) < 0.3,
        "colour": rng.choice(LEVELS, size=n).astype(object),
    })
    frame.loc[rng.random(n) < 0.1, "b"] = np.nan
    frame.loc[rng.random(n) < 0.1, "colour"] = None
    return frame


@pytest.fixture(scope="module")
def fitted() -> VAEDetector:
    return VAEDetector(max_iter=3, random_state=0).fit(training_frame())


@st.composite
def rows(draw, min_rows: int = 1, max_rows: int = 600) -> pd.DataFrame:
    """Rows in the model's columns: ordinary and extreme values, missing cells, an unseen level."""
    n = draw(st.integers(min_rows, max_rows))
    value = st.one_of(st.floats(-50, 50, allow_nan=False), st.just(np.nan))
    a = draw(hnp.arrays(np.float64, n, elements=value))
    b = draw(hnp.arrays(np.float64, n, elements=value))
    k = draw(hnp.arrays(np.int64, n, elements=st.integers(-100, 100)))
    flag = draw(hnp.arrays(np.bool_, n))
    colour = draw(st.lists(st.sampled_from([*LEVELS, None, "purple"]), min_size=n, max_size=n))
    return pd.DataFrame({"a": a, "b": b, "k": k, "flag": flag, "colour": pd.Series(colour, dtype=object)})


def _scorer(det: VAEDetector, score_type: str, n_samples: int) -> VAEDetector:
    """The fitted model scoring another way: only scoring reads these two parameters."""
    other = copy.deepcopy(det)
    return other.set_params(score_type=score_type, n_samples=n_samples)


def _assert_same_details(got, want) -> None:
    np.testing.assert_array_equal(got.anomaly_score, want.anomaly_score)
    np.testing.assert_array_equal(got.is_anomaly, want.is_anomaly)
    np.testing.assert_array_equal(got.p_value, want.p_value)
    np.testing.assert_array_equal(got.contributions, want.contributions)


# ------------------------------------------------------------------------------------------
# scores: row order, batch size, save/load
# ------------------------------------------------------------------------------------------
@SCORING
@given(frame=rows(), data=st.data(), score_type=st.sampled_from(["elbo", "reconstruction"]),
       n_samples=st.sampled_from([1, 8]))
def test_scores_do_not_depend_on_row_order(fitted, frame, data, score_type, n_samples):
    det = _scorer(fitted, score_type, n_samples)
    perm = data.draw(st.permutations(range(len(frame))).map(np.array), label="order")
    whole = det.score_details(frame)
    shuffled = det.score_details(frame.iloc[perm])
    _assert_same_details(shuffled, type(whole)(**{
        **whole.__dict__,
        "anomaly_score": whole.anomaly_score[perm], "is_anomaly": whole.is_anomaly[perm],
        "p_value": whole.p_value[perm], "contributions": whole.contributions[perm],
    }))
    np.testing.assert_array_equal(det.score_samples(frame.iloc[perm]), -whole.anomaly_score[perm])


@SCORING
@given(frame=rows(), data=st.data(), score_type=st.sampled_from(["elbo", "reconstruction"]),
       n_samples=st.sampled_from([1, 8]))
def test_scores_do_not_depend_on_batch_size(fitted, frame, data, score_type, n_samples):
    det = _scorer(fitted, score_type, n_samples)
    n = len(frame)
    cuts = data.draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=6, unique=True), label="cuts")
    bounds = [0, *sorted(c for c in cuts if c < n), n]
    parts = [det.score_details(frame.iloc[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    whole = det.score_details(frame)
    np.testing.assert_array_equal(np.concatenate([p.anomaly_score for p in parts]), whole.anomaly_score)
    np.testing.assert_array_equal(np.concatenate([p.p_value for p in parts]), whole.p_value)
    np.testing.assert_array_equal(np.concatenate([p.contributions for p in parts]), whole.contributions)


@pytest.fixture(scope="module")
def reloaded(fitted, tmp_path_factory) -> VAEDetector:
    path = tmp_path_factory.mktemp("properties") / "model.vae"
    fitted.save(path)
    return VAEDetector.load(path)


@SCORING
@given(frame=rows(max_rows=300))
def test_save_and_load_give_identical_scores(fitted, reloaded, frame):
    _assert_same_details(reloaded.score_details(frame), fitted.score_details(frame))
    np.testing.assert_array_equal(reloaded.predict(frame), fitted.predict(frame))
    np.testing.assert_array_equal(reloaded.transform(frame), fitted.transform(frame))


# ------------------------------------------------------------------------------------------
# preprocessing: shapes and dtypes for any mix of columns
# ------------------------------------------------------------------------------------------
KINDS = {  # column kind -> how it is modelled
    "float": NUMERIC, "int": NUMERIC, "nullable_int": NUMERIC,
    "bool": CATEGORICAL, "nullable_bool": CATEGORICAL, "text": CATEGORICAL, "category": CATEGORICAL,
    "string": CATEGORICAL,
}


@st.composite
def column(draw, kind: str, n: int) -> pd.Series:
    """One column of ``kind``, first cell observed (a column with none is refused by design)."""
    missing = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    missing[0] = False
    if kind == "float":
        values = draw(hnp.arrays(np.float64, n, elements=st.floats(-1e9, 1e9, allow_nan=False)))
        return pd.Series(np.where(missing, np.nan, values))
    if kind == "int":
        return pd.Series(draw(hnp.arrays(np.int64, n, elements=st.integers(-(2**40), 2**40))))
    if kind == "nullable_int":
        values = draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n))
        return pd.Series(pd.array([None if m else v for v, m in zip(values, missing, strict=True)],
                                  dtype="Int64"))
    if kind == "bool":
        return pd.Series(draw(hnp.arrays(np.bool_, n)))
    if kind == "nullable_bool":
        values = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        return pd.Series(pd.array([None if m else v for v, m in zip(values, missing, strict=True)],
                                  dtype="boolean"))
    values = draw(st.lists(st.sampled_from(["lo", "mid", "hi", "ünï"]), min_size=n, max_size=n))
    cells = [None if m else v for v, m in zip(values, missing, strict=True)]
    if kind == "category":
        return pd.Series(pd.Categorical(cells, categories=["lo", "mid", "hi", "ünï"]))
    if kind == "string":
        return pd.Series(pd.array(cells, dtype="string"))
    return pd.Series(cells, dtype=object)


@st.composite
def tables(draw, n: int | None = None, kinds: list[str] | None = None) -> pd.DataFrame:
    n = draw(st.integers(1, 40)) if n is None else n
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=7)) if kinds is None else kinds
    return pd.DataFrame({f"{kind}_{j}": draw(column(kind, n)) for j, kind in enumerate(kinds)})


def _missing(col: pd.Series) -> np.ndarray:
    return col.isna().to_numpy()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@FAST
@given(train=tables(), data=st.data(), scaler=st.sampled_from(["robust", "quantile", "standard"]))
def test_preprocessing_keeps_shape_and_dtype(train, data, scaler):
    kinds = [name.rsplit("_", 1)[0] for name in train.columns]
    new = data.draw(tables(kinds=kinds), label="new").set_axis(train.columns, axis=1)
    pre = TabularPreprocessor(scaler).fit(train)
    assert [s.kind for s in pre.schema_] == [KINDS[k] for k in kinds]
    num_cols = [c for c, k in zip(train.columns, kinds, strict=True) if KINDS[k] == NUMERIC]
    cat_cols = [c for c, k in zip(train.columns, kinds, strict=True) if KINDS[k] == CATEGORICAL]
    for frame in (train, new):
        enc = pre.transform(frame)
        assert enc.num.dtype == np.float32 and enc.num.shape == (len(frame), len(num_cols))
        assert enc.cat.dtype == np.int64 and enc.cat.shape == (len(frame), len(cat_cols))
        for j, name in enumerate(num_cols):
            np.testing.assert_array_equal(np.isnan(enc.num[:, j]), _missing(frame[name]))
        for j, name in enumerate(cat_cols):
            np.testing.assert_array_equal(enc.cat[:, j] == -1, _missing(frame[name]))
            assert enc.cat[:, j].max(initial=0) <= pre.cat_sizes_[j]  # == size: a level unseen at fit


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@FAST
@example(train=pd.DataFrame({"x": [-1.0, -2.225074e-313, 0.0, 0.0, 0.0]}), new=None, scaler="robust")
# a constant column at the smallest subnormal: its spread floor once rounded to 0 (0/0 = NaN)
@example(train=pd.DataFrame({"x": [0.0], "y": [5e-324]}), new=None, scaler="robust")
@example(train=pd.DataFrame({"x": [0.0], "y": [-5e-324]}), new=None, scaler="standard")
@example(train=pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]}), new=pd.DataFrame({"x": [1e149, -1e60]}),
         scaler="robust")
@example(train=pd.DataFrame({"x": [0.0] * 5, "y": [2.225074e-313, 2.225074e-311, 0.0, 0.0, 0.0]}), new=None,
         scaler="quantile")
@example(train=pd.DataFrame({"x": [0.0] * 9, "y": [2.225074e-313, 2.225074e-311, 0.0] + [1.0] * 6}), new=None,
         scaler="quantile")
@given(train=tables(kinds=["float", "float"]).map(lambda f: f.set_axis(["x", "y"], axis=1)),
       new=st.none(), scaler=st.sampled_from(["robust", "quantile", "standard"]))
def test_scaled_values_are_finite(train, new, scaler):
    """Every observed value (finite, at most 1e150 in size, so accepted) encodes to a finite float32."""
    pre = TabularPreprocessor(scaler).fit(train)
    for frame in (train, train if new is None else new):
        enc = pre.transform(frame)
        observed = ~frame.isna().to_numpy()
        assert np.isfinite(enc.num[observed]).all(), enc.num


# ------------------------------------------------------------------------------------------
# calibration: p-values and the threshold
# ------------------------------------------------------------------------------------------
finite_scores = st.floats(-1e6, 1e6, allow_nan=False)


@FAST
@given(cal=hnp.arrays(np.float64, st.integers(1, 300), elements=finite_scores),
       scores=hnp.arrays(np.float64, st.integers(0, 100),
                         elements=st.one_of(finite_scores, st.just(np.inf), st.just(-np.inf))))
def test_p_values_lie_in_0_1_and_fall_as_scores_rise(cal, scores):
    p = conformal_p_values(cal, scores)
    assert p.shape == scores.shape
    assert np.all(p > 0) and np.all(p <= 1)
    assert np.all(p >= 1 / (cal.size + 1))
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(p[order]) <= 0), "a higher score got a higher p-value"
    assert np.array_equal(conformal_p_values(cal[::-1], scores), p)  # calibration order is irrelevant


@FAST
@given(cal=hnp.arrays(np.float64, st.integers(1, 300), elements=finite_scores),
       rate=st.floats(1e-3, 0.5))
def test_threshold_flags_at_most_the_rate_of_calibration_rows(cal, rate):
    threshold = threshold_for_rate(cal, rate)
    assert threshold in cal
    assert np.mean(cal > threshold) <= rate


@FAST
@example(cal=np.arange(99.0), rate=0.29)
@given(cal=hnp.arrays(np.float64, st.integers(1, 300), elements=finite_scores), rate=st.floats(1e-3, 0.5))
def test_flagged_exactly_when_the_p_value_is_at_most_the_rate(cal, rate):
    """The threshold is the conformal rule p <= rate, whenever the calibration set can reach the rate."""
    assume(1.0 / (cal.size + 1) <= rate)
    threshold = threshold_for_rate(cal, rate)
    probes = np.concatenate([cal, np.nextafter(cal, np.inf), np.nextafter(cal, -np.inf)])
    np.testing.assert_array_equal(probes > threshold, conformal_p_values(cal, probes) <= rate)
