"""Sliding windows as a user notices them: one score per row in the caller's order,
windows that stay inside their series, warm-up rows, streaming with context,
channel-named explanations, gaps and model files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers import SAMPLE
from vae_anomaly import VAEDetector
from vae_anomaly.features import series as S
from vae_anomaly.features import windows as W
from vae_anomaly.features.encoder import Encoded

SIZE = 8
CHANNELS = ["temperature", "vibration", "pressure", "flow", "current", "rpm"]
KEYS = dict(time_column="timestamp", group_column="machine")

# Spike faults of sample_data/sensors.parquet (sample_data/README.md): machine, channel, start, minutes.
SPIKES = [
    ("M1", "vibration", "2024-03-04 07:39", 2), ("M1", "current", "2024-03-04 20:55", 2),
    ("M1", "current", "2024-03-05 04:40", 1), ("M2", "vibration", "2024-03-04 12:15", 3),
    ("M2", "vibration", "2024-03-05 06:55", 2), ("M2", "pressure", "2024-03-05 09:20", 2),
    ("M3", "vibration", "2024-03-04 13:37", 3), ("M3", "flow", "2024-03-04 16:13", 1),
    ("M3", "flow", "2024-03-05 15:14", 1), ("M4", "flow", "2024-03-04 03:31", 1),
    ("M4", "current", "2024-03-05 04:41", 3), ("M4", "vibration", "2024-03-05 11:45", 3),
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sensors() -> pd.DataFrame:
    """The bundled sensor sample: 4 machines, sorted by (timestamp, machine)."""
    return pd.read_parquet(SAMPLE / "sensors.parquet")


@pytest.fixture(scope="module")
def X(sensors) -> pd.DataFrame:
    return sensors.drop(columns="label")


@pytest.fixture(scope="module")
def det(X) -> VAEDetector:
    """A small windowed model (8 rows, 10 epochs) fitted on the sample."""
    return VAEDetector(window=SIZE, max_iter=10, random_state=0, **KEYS).fit(X)


@pytest.fixture(scope="module")
def details(det, X):
    return det.score_details(X)


# ------------------------------------------------------------------------------------------
# row order and series
# ------------------------------------------------------------------------------------------
def test_one_score_per_row_in_the_callers_order(det, X, details):
    perm = np.random.default_rng(0).permutation(len(X))
    shuffled = det.score_details(X.iloc[perm])
    assert details.anomaly_score.shape == (len(X),)
    assert np.array_equal(shuffled.anomaly_score, details.anomaly_score[perm])
    assert np.array_equal(shuffled.contributions, details.contributions[perm])
    assert np.array_equal(shuffled.window_fill, details.window_fill[perm])
    assert np.array_equal(-det.score_samples(X.iloc[perm]), details.anomaly_score[perm])


def test_windows_never_cross_series(det, X, details):
    """Changing one machine's readings leaves every other machine's scores unchanged."""
    changed = X.copy()
    m2 = changed["machine"].eq("M2").to_numpy()
    changed.loc[m2, CHANNELS] = changed.loc[m2, CHANNELS] * 3.0 + 10.0
    after = det.score_details(changed).anomaly_score
    assert np.array_equal(after[~m2], details.anomaly_score[~m2])
    assert not np.allclose(after[m2], details.anomaly_score[m2])
    # A machine scored on its own gets the same scores as inside the full table.
    m1 = X["machine"].eq("M1").to_numpy()
    assert np.array_equal(det.score_details(X[m1]).anomaly_score, details.anomaly_score[m1])


def test_a_row_is_scored_with_the_rows_before_it(det, X, details):
    """Changing one reading changes the scores of the next SIZE - 1 rows of its machine, and no others."""
    m1 = np.flatnonzero(X["machine"].eq("M1").to_numpy())
    target = m1[100]
    changed = X.copy()
    changed.loc[target, "temperature"] += 5.0
    diff = det.score_details(changed).anomaly_score != details.anomaly_score
    assert set(np.flatnonzero(diff)) == set(m1[100:100 + SIZE])


def test_warm_up_rows_are_reported_by_window_fill(X, details):
    """The first SIZE - 1 rows of each machine have window_fill k / SIZE; all others 1."""
    fill = pd.Series(details.window_fill, index=X.index)
    for _, rows in X.groupby("machine").groups.items():
        f = fill.loc[rows].to_numpy()  # rows of one machine, in time order
        assert np.allclose(f[:SIZE], np.arange(1, SIZE + 1) / SIZE)
        assert np.all(f[SIZE:] == 1.0)
    assert (details.window_fill < 1).sum() == 4 * (SIZE - 1)


def test_unsorted_input_is_sorted_by_time_within_each_series(det, X, details):
    """Rows given in reverse time order get the same windows as sorted rows."""
    backwards = X.iloc[::-1]
    assert np.array_equal(det.score_details(backwards).anomaly_score, details.anomaly_score[::-1])


# ------------------------------------------------------------------------------------------
# streaming
# ------------------------------------------------------------------------------------------
def test_scoring_in_chunks_with_context_equals_scoring_at_once(det, X, details):
    cuts = [0, 3001, 3002, 7010, len(X)]  # uneven chunks, one of a single row
    parts, context = [], None
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        chunk = X.iloc[a:b]
        parts.append(det.score_details(chunk, context=context))
        seen = X.iloc[:b]
        context = seen.groupby("machine", sort=False).tail(SIZE - 1)  # each machine's last SIZE - 1 rows
    for field in ("anomaly_score", "is_anomaly", "p_value", "contributions", "window_fill"):
        streamed = np.concatenate([getattr(p, field) for p in parts])
        assert np.array_equal(streamed, getattr(details, field)), field
    # Without context the first rows of a later chunk start a new warm-up instead.
    alone = det.score_details(X.iloc[3002:7010])
    assert (alone.window_fill < 1).sum() == 4 * (SIZE - 1)


# ------------------------------------------------------------------------------------------
# explanations
# ------------------------------------------------------------------------------------------
def test_contributions_name_the_channels(det, X, details):
    contrib = det.feature_contributions(X)
    assert list(contrib.columns) == CHANNELS  # channels, not window positions or key columns
    assert contrib.shape == (len(X), len(CHANNELS))
    assert contrib.index.equals(X.index)
    assert details.feature_names == CHANNELS
    assert np.array_equal(contrib.to_numpy(), details.contributions)
    assert set(details.top_feature()) <= set(CHANNELS)


def test_spiked_channel_is_the_top_contributor(sensors, details):
    """At the highest-scoring row of each injected spike, the top channel is the spiked one
    far more often than chance (1 in 6)."""
    top = details.top_feature()
    hits = 0
    for machine, channel, start, minutes in SPIKES:
        t0 = pd.Timestamp(start)
        rows = np.flatnonzero(sensors["machine"].eq(machine) & sensors["timestamp"].between(
            t0, t0 + pd.Timedelta(minutes=minutes - 1)))
        assert rows.size == minutes
        hits += top[rows[np.argmax(details.anomaly_score[rows])]] == channel
    assert hits >= 8, f"{hits} of {len(SPIKES)}"


# ------------------------------------------------------------------------------------------
# model files
# ------------------------------------------------------------------------------------------
def test_windowed_model_round_trips_through_a_model_file(det, X, details, tmp_path):
    path = tmp_path / "sensors.vae"
    det.save(path)
    loaded = VAEDetector.load(path)
    assert loaded.window_spec_ == det.window_spec_
    assert loaded.window_config_ == det.window_config_
    again = loaded.score_details(X)
    assert np.array_equal(again.anomaly_score, details.anomaly_score)
    assert np.array_equal(again.contributions, details.contributions)
    assert np.array_equal(again.window_fill, details.window_fill)
    assert loaded.threshold_ == det.threshold_


def test_window_config_records_the_settings_and_median_step(det):
    assert det.window_config_ == {"size": SIZE, "time_column": "timestamp", "group_column": "machine",
                                  "features": "summary", "channels": CHANNELS, "summarised": CHANNELS,
                                  "time_kind": "datetime", "median_step_s": 60.0,
                                  "channel_dtypes": {c: "float64" for c in CHANNELS}}


# ------------------------------------------------------------------------------------------
# pure functions
# ------------------------------------------------------------------------------------------
def test_window_index_stays_inside_each_group():
    starts = np.array([True, False, False, False, True, False, True])
    idx = W.window_index(starts, 3)
    assert idx.tolist() == [[-1, -1, 0], [-1, 0, 1], [0, 1, 2], [1, 2, 3],
                            [-1, -1, 4], [-1, 4, 5], [-1, -1, 6]]
    assert W.window_fill(idx).tolist() == pytest.approx([1 / 3, 2 / 3, 1, 1, 1 / 3, 2 / 3, 1 / 3])
    assert W.window_index(starts, 1).tolist() == [[i] for i in range(7)]


def test_window_index_larger_than_any_group():
    idx = W.window_index(np.array([True, False, True]), 5)
    assert idx.tolist() == [[-1, -1, -1, -1, 0], [-1, -1, -1, 0, 1], [-1, -1, -1, -1, 2]]


def test_stack_windows_lays_out_positions_oldest_first_and_masks_padding():
    enc = Encoded(num=np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]], dtype=np.float32),
                  cat=np.array([[0], [1], [2]], dtype=np.int64))
    idx = W.window_index(np.array([True, False, False]), 2)
    out = W.stack_windows(enc, idx)
    assert np.array_equal(out.num, np.array([[np.nan, np.nan, 1, 10], [1, 10, 2, 20], [2, 20, 3, 30]],
                                            dtype=np.float32), equal_nan=True)
    assert out.cat.tolist() == [[-1, 0], [0, 1], [1, 2]]
    assert np.array_equal(enc.num[0], [1.0, 10.0])  # the input is not modified


def test_order_rows_sorts_by_group_then_time_stably():
    frame = pd.DataFrame({"t": [3, 1, 2, 1, 1], "g": ["b", "b", "a", "a", "a"]})
    order = S.order_rows(frame, S.WindowSpec(2, "t", "g"))
    assert order.tolist() == [3, 4, 2, 1, 0]  # a@1 (first seen), a@1, a@2, b@1, b@3


def _gaps(frame: pd.DataFrame, spec: S.WindowSpec, tolerance: float = 3.0) -> pd.DataFrame:
    ordered = frame.iloc[S.order_rows(frame, spec)].reset_index(drop=True)
    starts = S.group_starts(ordered, spec)
    return S.find_gaps(ordered, spec, starts, S.median_step(ordered, spec, starts), tolerance)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_key_columns_and_channels_are_checked_by_name(det, X):
    """A bare array has no time or group column; a missing channel is named, not a KeyError."""
    from vae_anomaly.exceptions import InvalidInputError, SchemaMismatchError

    with pytest.raises(InvalidInputError, match="'machine' .*group column.* missing"):
        det.score_details(X.assign(timestamp=X["timestamp"].astype("int64"),
                                   machine=X["machine"].astype("category").cat.codes).to_numpy(dtype=float))
    with pytest.raises(SchemaMismatchError, match="column 'rpm' is missing"):
        det.score_details(X.drop(columns="rpm"))
    with pytest.raises(InvalidInputError, match="'timestamp' .*time column.* missing"):
        VAEDetector(window=SIZE, **KEYS).fit(X.drop(columns="timestamp"))


def test_find_gaps_finds_the_missing_half_hour_of_m3(X):
    gaps = _gaps(X, S.WindowSpec(SIZE, "timestamp", "machine"))
    assert len(gaps) == 1
    gap = gaps.iloc[0]
    assert gap["group"] == "M3"
    assert gap["before"] == pd.Timestamp("2024-03-04 23:19")
    assert gap["after"] == pd.Timestamp("2024-03-04 23:50")
    assert gap["seconds"] == 31 * 60


def test_find_gaps_tolerance_and_series_boundaries():
    frame = pd.DataFrame({"t": [0, 10, 20, 60, 70, 1000, 1010], "g": ["a"] * 5 + ["b"] * 2})
    spec = S.WindowSpec(2, "t", "g")
    gaps = _gaps(frame, spec)  # median step 10 s; the jump from a to b is not a gap
    assert gaps[["group", "before", "after", "seconds"]].values.tolist() == [["a", 20, 60, 40.0]]
    assert _gaps(frame, spec, tolerance=4.0).empty  # only steps longer than tolerance x median
    no_time = S.WindowSpec(2, None, "g")
    assert S.find_gaps(frame, no_time, S.group_starts(frame, no_time), None).empty
