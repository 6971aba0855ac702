"""The identifier rule: which columns look like order numbers, row numbers or timestamps, and which never."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vae_anomaly.exceptions import InvalidInputError
from vae_anomaly.features.columns import choose_columns
from vae_anomaly.features.identifiers import (
    MIN_VALUES,
    identifier_columns,
    identifier_reason,
    kept_columns,
    series_order,
)
from vae_anomaly.features.series import WindowSpec

N = 1000
RNG = np.random.default_rng(0)
EPOCH = 1_700_000_000


def _epoch_seconds(n: int = N) -> np.ndarray:
    """Sorted integer timestamps, several rows in some seconds (as an event log has)."""
    return EPOCH + np.sort(RNG.integers(0, 3 * n, n))


LOOK_LIKE_IDS = {
    "increasing order_id": (np.arange(50_000, 50_000 + N), "increases with every row (1000 rows)"),
    "shuffled unique IDs": (RNG.permutation(N) * 7 + 3,
                            "integer values, a distinct one in every row (1000 of 1000)"),
    "IDs as floats": (RNG.permutation(N).astype(float) + 0.0, "a distinct one in every row"),
    "shuffled IDs with a double insert": (np.r_[RNG.permutation(N - 1) + 1000, 1000],
                                          "a distinct one in nearly every row (999 of 1000)"),
    "nullable IDs, some missing": (
        pd.array(np.where(np.arange(N) % 10 == 0, None, RNG.permutation(N)), dtype="Int64"),
        "a distinct one in every row (900 of 900)"),
    "integer epoch seconds": (_epoch_seconds(), "never decreases from one row to the next"),
    "float epoch seconds": (EPOCH + np.cumsum(RNG.exponential(2.5, N)), "increases with every row"),
    "a countdown": (np.arange(N, 0, -1) * 3, "decreases with every row"),
    "text IDs": ([f"T{i:06d}" for i in RNG.permutation(N)],
                 "1000 distinct values, more than max_categories=50 (a distinct value in every row, an id?)"),
}

MODELLED = {
    "continuous measurements (distinct in every row)": RNG.normal(20, 3, N),
    "small integer counts with repeats": RNG.poisson(3, N),
    "a categorical integer code": RNG.integers(100, 140, N),
    "booleans": RNG.random(N) < 0.3,
    "text categories": RNG.choice(["north", "south", "east"], N),
    "a setting that steps up twice": np.repeat([1.0, 2.0, 3.0], [300, 300, 400]),
    "a constant": np.full(N, 4),
    "a large integer measurement with repeats": RNG.integers(0, 600, N) * 1024,
}


@pytest.mark.parametrize("case", LOOK_LIKE_IDS)
def test_identifiers_are_named_with_the_evidence(case):
    values, evidence = LOOK_LIKE_IDS[case]
    reason = identifier_reason(pd.Series(values))
    assert reason is not None and evidence in reason, reason


@pytest.mark.parametrize("case", MODELLED)
def test_measurements_and_categories_are_never_identifiers(case):
    assert identifier_reason(pd.Series(MODELLED[case])) is None


@pytest.mark.parametrize("case", LOOK_LIKE_IDS)
def test_small_tables_are_never_checked(case):
    """Below MIN_VALUES non-missing values (say, scikit-learn's check arrays) nothing is taken for an ID."""
    values = pd.Series(LOOK_LIKE_IDS[case][0]).iloc[: MIN_VALUES - 1]
    assert identifier_reason(values) is None
    assert identifier_columns(pd.DataFrame({"id": values})) == {}


MISSED = {  # docs/concepts.md, "What the identifier rule misses": IDs the rule keeps
    "customer IDs with repeats": RNG.integers(0, 400, N) + 70_000,
    "IDs with a fraction, shuffled": RNG.permutation(N) + 0.5,
    "epoch seconds with ties, shuffled": RNG.permutation(_epoch_seconds()),
    "a batch code of 30 values": RNG.choice([f"B{i}" for i in range(30)], N),
}


@pytest.mark.parametrize("case", MISSED)
def test_documented_misses(case):
    assert identifier_reason(pd.Series(MISSED[case])) is None


def test_a_column_sorted_by_value_is_taken_for_an_identifier():
    """A documented miss: a table sorted by a measurement makes that measurement only rise. Rounded
    to few distinct values (a change at fewer than a tenth of the rows), it is modelled."""
    ordered = pd.Series(np.sort(RNG.normal(size=N)))
    assert "increases with every row" in identifier_reason(ordered)
    assert identifier_reason(ordered.round(1)) is None


def test_per_series_counters_are_found_in_time_order():
    """A fleet whose reading counter restarts for each sensor: neither distinct per row nor rising in
    row order (rows are interleaved, and shuffled), but rising in time within every series."""
    n_series, per = 4, 300
    t = np.tile(np.arange(per), n_series)
    frame = pd.DataFrame({"t": t, "machine": np.repeat(["a", "b", "c", "d"], per),
                          "sensor_id": t + 500, "temp": RNG.normal(size=n_series * per)})
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert identifier_reason(frame["sensor_id"]) is None  # in row order: nothing to see
    window = WindowSpec(8, "t", "machine", "summary")
    found = identifier_columns(frame, window=window)
    assert list(found) == ["sensor_id"]
    assert "increases at every step in time order within each of the 4 series (1200 rows)" in \
        found["sensor_id"]


def test_window_keys_are_never_identifiers():
    frame = pd.DataFrame({"t": np.arange(N), "g": np.arange(N), "x": RNG.normal(size=N)})
    assert identifier_columns(frame, window=WindowSpec(4, "t", "g")) == {}
    assert set(identifier_columns(frame)) == {"t", "g"}


def test_series_order_is_stable_and_uses_the_keys_only():
    frame = pd.DataFrame({"t": [2, 1, 1, 0], "g": ["b", "a", "a", "b"], "x": [4.0, 3.0, 2.0, 1.0]})
    order, starts = series_order(frame, WindowSpec(2, "t", "g"))
    assert order.tolist() == [1, 2, 3, 0]  # rows 1 and 2 share a time: they keep their order
    assert starts.tolist() == [True, False, True, False]


def test_kept_columns_takes_names_and_positions():
    assert kept_columns(["x0", "x1", "x2"], [2, "x0"]) == ["x2", "x0"]
    with pytest.raises(InvalidInputError, match="include_columns names 'order_id', which is not a column"):
        kept_columns(["a", "b"], ["order_id"])
    with pytest.raises(InvalidInputError, match="position 3, but X has 3 columns"):
        kept_columns(["a", "b", "c"], [3])
    with pytest.raises(InvalidInputError, match="column names or positions, got 1.5"):
        kept_columns(["a", "b"], [1.5])


def _orders(n: int = N) -> pd.DataFrame:
    return pd.DataFrame({"order_id": np.arange(n) + 10_000, "amount": RNG.lognormal(3, 0.5, n),
                         "label": RNG.random(n) < 0.02})


def test_choose_columns_leaves_identifiers_out_with_the_reason():
    choice = choose_columns(_orders(), exclude=["label"])
    assert choice.used == ["amount"]
    assert list(choice.ignored) == list(choice.identifiers) == ["order_id"]
    assert "increases with every row" in choice.ignored["order_id"]


def test_include_and_columns_keep_identifiers():
    assert choose_columns(_orders(), exclude=["label"], include=["order_id"]).used == ["order_id", "amount"]
    assert choose_columns(_orders(), columns=["order_id", "amount"]).used == ["order_id", "amount"]


@pytest.mark.parametrize("kwargs,message", [
    ({"include": ["nope"]}, "column 'nope' is not in the data"),
    ({"include": ["label"], "exclude": ["label"]}, "'label' is both kept \\(--include\\) and excluded"),
    ({"include": ["order_id"], "columns": ["amount"]}, "'order_id' is kept with --include but is not among"),
    ({"columns": (), "exclude": ["amount", "label"]}, "no column is left to model.*--include keeps one"),
])
def test_choose_columns_refuses_unclear_choices(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        choose_columns(_orders(), **kwargs)
