"""Fast window arithmetic gives the numbers of the plain NumPy formulation to the last bit, so
windowed scores do not change: window statistics, column sums of contributions, series order,
and streamed batches in any row order."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from vae_anomaly import VAEDetector
from vae_anomaly.features import series as S
from vae_anomaly.features import windows as W
from vae_anomaly.features.rows import aggregate
from vae_anomaly.features.schema import MAX_ABS
from vae_anomaly.features.summation import reduceat_like_numpy, sum_like_numpy
from vae_anomaly.jobs.stream import scored_batches

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bits_equal(a, b) -> bool:
    """Equal to the bit, NaN in the same places (the sign of a zero counts)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    return a.shape == b.shape and np.array_equal(nan_a, nan_b) and np.array_equal(
        a[~nan_a].view(np.int64), b[~nan_b].view(np.int64))


def _reference_statistics(v: np.ndarray, idx: np.ndarray) -> dict:
    """The window statistics written with NumPy's NaN-aware reductions, one window per row."""
    pad = idx < 0
    win = v[np.where(pad, 0, idx)]
    win[pad] = np.nan
    earlier = np.where(np.isnan(win[:, :-1]), -1, np.arange(idx.shape[1] - 1)).max(axis=1, initial=-1)
    previous = np.where(earlier >= 0, win[np.arange(len(win)), np.maximum(earlier, 0)], np.nan)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanmin(win, axis=1), np.nanmax(win, axis=1)
        return {"value": win[:, -1], "diff": np.clip(win[:, -1] - previous, -MAX_ABS, MAX_ABS),
                "mean": np.nanmean(win, axis=1), "std": np.where(low == high, 0.0, np.nanstd(win, axis=1)),
                "min": low, "max": high}


@pytest.mark.parametrize("size", [1, 2, 7, 8, 9, 16, 130])
@pytest.mark.parametrize("windows", ["all rows", "some rows", "cut short"])
def test_window_statistics_equal_numpys_nan_reductions(size, windows):
    rng = np.random.default_rng(size)
    n = 3000
    starts = rng.random(n) < 0.01
    starts[0] = True
    frame = pd.DataFrame({
        "wide": rng.normal(size=n) * 10.0 ** rng.integers(-6, 9, n),
        "holes": np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
        "alternate": np.where(np.arange(n) % 2 == 0, rng.normal(size=n), np.nan),
        "zeros": rng.choice([0.0, -0.0, 1.0, np.nan], n),  # which zero is the minimum depends on order
        "constant": np.full(n, 3.25),
        "level": pd.Categorical(rng.choice(["a", "b"], n)),  # passed through
    })
    idx = W.window_index(starts, size)
    if windows == "some rows":
        idx = idx[np.sort(rng.choice(n, n // 3, replace=False))]
    elif windows == "cut short":
        idx = W.cut_windows(idx[::2], max(1, size // 2))
    channels = ["wide", "holes", "alternate", "zeros", "constant"]
    out = W.summary_frame(frame, idx, channels)
    assert out["level"].tolist() == frame["level"].iloc[idx[:, -1]].tolist()
    for channel in channels:
        expected = _reference_statistics(frame[channel].to_numpy(), idx)
        for stat, values in expected.items():
            assert _bits_equal(out[W.summary_name(stat, channel)], values), (channel, stat)


@pytest.mark.parametrize("n", [1, 2, 5, 7, 8, 9, 15, 16, 17, 31, 64, 127, 128, 129, 300])
def test_sums_add_in_numpys_order(n):
    rng = np.random.default_rng(n)
    rows = rng.normal(size=(400, n)) * 10.0 ** rng.integers(-8, 8, size=(400, n))
    rows[rng.random(rows.shape) < 0.1] = -0.0
    rows[-1] = -0.0  # a sum of negative zeros
    assert _bits_equal(sum_like_numpy(lambda j: rows[:, j], n), rows.sum(axis=1))
    assert _bits_equal(reduceat_like_numpy(lambda j: rows[:, j], n), np.add.reduceat(rows, [0], axis=1)[:, 0])
    assert rows[-1, 0] == 0.0 and np.signbit(rows[-1, 0])  # the inputs are left as they were


@pytest.mark.parametrize("owner", [np.repeat(np.arange(6), 6), np.tile(np.arange(5), 8),
                                   np.array([2, 0, 1, 2, 0, 1, 1]), np.repeat(np.arange(2), 150)])
def test_contributions_add_up_per_column_as_reduceat_does(owner):
    rng = np.random.default_rng(owner.size)
    terms = rng.normal(size=(9000, owner.size)) * 10.0 ** rng.integers(-6, 6, size=(9000, owner.size))
    terms[rng.random(terms.shape) < 0.05] = -0.0
    perm = np.argsort(owner, kind="stable")
    expected = np.add.reduceat(terms[:, perm], np.searchsorted(owner[perm], np.arange(owner.max() + 1)),
                               axis=1)
    assert _bits_equal(aggregate(terms, owner, owner.max() + 1), expected)


def _fleet(machines: int, steps: int) -> pd.DataFrame:
    """Readings in time order, machines interleaved (a fleet extract)."""
    i = np.arange(machines * steps)
    return pd.DataFrame({"t": i // machines, "g": [f"M{m}" for m in i % machines]})


@pytest.mark.parametrize("shape", ["time order", "window order", "shuffled", "shared timestamps"])
def test_window_order_is_that_of_a_full_sort(shape):
    frame = _fleet(7, 50)
    if shape == "window order":
        frame = frame.sort_values(["g", "t"], kind="stable").reset_index(drop=True)
    elif shape == "shuffled":
        frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    elif shape == "shared timestamps":
        frame["t"] //= 3
    spec = S.WindowSpec(4, "t", "g")
    expected = np.lexsort([frame["t"].to_numpy(), pd.factorize(frame["g"], sort=True)[0]])
    order, starts = S.window_order(frame, spec)
    assert (order is None) == (shape == "window order")
    got = np.arange(len(frame)) if order is None else order
    assert got.tolist() == expected.tolist()
    groups = frame["g"].to_numpy()[expected]
    assert starts.tolist() == [True, *(groups[1:] != groups[:-1])]
    assert S.order_rows(frame, spec).tolist() == expected.tolist()


@pytest.fixture(scope="module")
def fleet_model():
    rng = np.random.default_rng(0)
    frame = _fleet(5, 120)
    frame["x"] = np.sin(frame["t"] / 7.0) + rng.normal(0, 0.1, len(frame))
    frame["y"] = rng.normal(size=len(frame))
    det = VAEDetector(window=6, time_column="t", group_column="g", max_iter=3, random_state=0).fit(frame)
    new = _fleet(5, 200)
    new["x"] = np.where(rng.random(len(new)) < 0.1, np.nan, np.cos(new["t"] / 5.0))
    new["y"] = np.where(np.arange(len(new)) % 2 == 0, rng.normal(size=len(new)), np.nan)  # every other row
    return det, new


@pytest.mark.parametrize("rows_per_batch", [137, 500])
def test_streamed_batches_in_any_row_order_score_as_the_whole_table(fleet_model, rows_per_batch):
    """Batches shuffled within themselves (times still rising from one batch to the next), with
    missing readings: every row's results equal those of scoring the table at once."""
    import pyarrow as pa

    det, new = fleet_model
    whole = det.score_details(new)
    rng = np.random.default_rng(rows_per_batch)
    batches, positions = [], []
    for start in range(0, len(new), rows_per_batch):
        part = rng.permutation(np.arange(start, min(start + rows_per_batch, len(new))))
        positions.append(part)
        batches.append(pa.RecordBatch.from_pandas(new.iloc[part], preserve_index=False))
    streamed = list(scored_batches(det, batches, n_jobs=2))
    at = np.concatenate(positions)
    for field in ("anomaly_score", "p_value", "window_fill"):
        got = np.concatenate([getattr(found, field) for _, found in streamed])
        assert _bits_equal(got, getattr(whole, field)[at]), field
    got = np.concatenate([found.contributions for _, found in streamed])
    assert _bits_equal(got, whole.contributions[at])
