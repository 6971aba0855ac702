"""Types from pyarrow and databases are modelled like their plain equivalents (issue 14, class 5).

Parquet files from SQL engines and Spark hold decimals, every integer
width, dictionary-encoded text, booleans with nulls, dates, timestamps of
every unit with and without a time zone, and durations. pandas shows them
as NumPy dtypes, as object columns of Python values (``Decimal``, ``date``),
as pandas extension dtypes or, with ``dtype_backend="pyarrow"``, as pyarrow
dtypes. Whichever way a column arrives, at fit or at score time, plain or
windowed, the scores are those of its plain equivalent.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings

from tests.helpers import invoke
from vae_anomaly import VAEDetector
from vae_anomaly.exceptions import InvalidInputError

N = 24  # rows: 2 series of 12
FIT = {"max_iter": 1, "random_state": 0, "hidden_layer_sizes": (8,), "latent_dim": 2}
PROPERTY = settings(max_examples=25, deadline=None)

INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FEATURE_TYPES = {
    **{name: getattr(pa, name)() for name in INTS},
    "float16": pa.float16(), "float32": pa.float32(), "decimal": pa.decimal128(12, 2),
    "dictionary": pa.dictionary(pa.int32(), pa.string()), "large_string": pa.large_string(),
    "string": pa.string(),
    "bool": pa.bool_(),
}
TIME_TYPES = {
    "date32": pa.date32(), "date64": pa.date64(),
    **{f"timestamp_{u}": pa.timestamp(u) for u in ("s", "ms", "us", "ns")},
    **{f"timestamp_{u}_tz": pa.timestamp(u, tz="Europe/Paris") for u in ("s", "ms", "us", "ns")},
    **{f"duration_{u}": pa.duration(u) for u in ("s", "ms", "us", "ns")},
}
LEVELS = ["mid", "lo", "ünï", "hi"]  # not sorted: dictionaries keep the order of first appearance


@st.composite
def feature_column(draw, name: str) -> tuple[pa.Array, pd.Series]:
    """A column of type ``name`` with missing cells, and its plain equivalent. The first two rows of
    each series are observed, so every window channel has a change between two readings."""
    missing = draw(st.lists(st.booleans(), min_size=N, max_size=N))
    for i in (0, 1, N // 2, N // 2 + 1):
        missing[i] = False
    typ = FEATURE_TYPES[name]
    if name in INTS or name.startswith("float"):
        values = draw(st.lists(st.integers(0, 100), min_size=N, max_size=N))
        divisor = 4 if name.startswith("float") else 1
        cells = [None if m else v / divisor for v, m in zip(values, missing, strict=True)]
        plain = pd.Series([np.nan if c is None else float(c) for c in cells])
    elif name == "decimal":
        values = draw(st.lists(st.integers(-10**6, 10**6), min_size=N, max_size=N))
        cells = [None if m else decimal.Decimal(v).scaleb(-2) for v, m in zip(values, missing, strict=True)]
        plain = pd.Series([np.nan if c is None else float(c) for c in cells])
    elif name == "bool":
        values = draw(st.lists(st.booleans(), min_size=N, max_size=N))
        cells = [None if m else v for v, m in zip(values, missing, strict=True)]
        plain = pd.Series(cells, dtype=object)
    else:
        values = draw(st.lists(st.sampled_from(LEVELS), min_size=N, max_size=N))
        cells = [None if m else v for v, m in zip(values, missing, strict=True)]
        plain = pd.Series(cells, dtype=object)
    arr = pa.array(cells, type=typ.value_type if name == "dictionary" else typ)
    return (arr.dictionary_encode() if name == "dictionary" else arr), plain


def representations(arr: pa.Array, name: str) -> dict[str, pd.Series]:
    """The ways pandas can hold ``arr``: NumPy-backed (object, category, ...), pyarrow-backed,
    and a pandas extension dtype where one fits."""
    table = pa.table({"c": arr})
    out = {"numpy": table.to_pandas()["c"], "pyarrow": table.to_pandas(types_mapper=pd.ArrowDtype)["c"]}
    extension = {"bool": "boolean", "string": "string[pyarrow]", "large_string": "string[python]",
                 # a dictionary is a category already
                 **{n: n.capitalize().replace("Uint", "UInt") for n in INTS}}
    if name in extension:
        out["extension"] = out["numpy"].astype(extension[name])
    return out


def base_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"t": np.tile(np.arange(N // 2), 2), "g": np.repeat(["a", "b"], N // 2),
                         "x": rng.normal(size=N)})


def assert_same_scores(a, b) -> None:
    np.testing.assert_array_equal(a.anomaly_score, b.anomaly_score)
    np.testing.assert_array_equal(a.p_value, b.p_value)
    np.testing.assert_array_equal(a.contributions, b.contributions)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@PROPERTY
@given(data=st.data(), name=st.sampled_from(sorted(FEATURE_TYPES)), windowed=st.booleans())
def test_a_feature_of_any_type_scores_like_its_plain_equivalent(data, name, windowed, one_torch_thread):
    arr, plain = data.draw(feature_column(name), label="column")
    frame = base_frame()
    params = {**FIT, **({"window": 4, "time_column": "t", "group_column": "g"} if windowed else {})}
    if not windowed:
        frame = frame.drop(columns=["t", "g"])
    reference = VAEDetector(**params).fit(frame.assign(c=plain))
    want = reference.score_details(frame.assign(c=plain))
    for col in representations(arr, name).values():
        typed = frame.assign(c=col)
        assert_same_scores(VAEDetector(**params).fit(typed).score_details(typed), want)  # fitted on it
        assert_same_scores(reference.score_details(typed), want)  # scored with it
    kinds = {s.name: s.kind for s in reference.preprocessor_.schema_}
    assert kinds["c"] == ("categorical" if name in ("bool", "dictionary", "large_string",
                                                    "string") else "numeric")


@st.composite
def time_column(draw, name: str) -> tuple[pa.Array, pd.Series]:
    """Times of two series, 12 steps each of 1 to 3 units, and their plain NumPy equivalent."""
    steps = draw(st.lists(st.integers(1, 3), min_size=N, max_size=N))
    ticks = np.concatenate([np.cumsum(steps[: N // 2]), np.cumsum(steps[N // 2:])])
    typ = TIME_TYPES[name]
    if name.startswith("date"):
        values = [dt.date(2024, 1, 1) + dt.timedelta(days=int(k)) for k in ticks]
        return pa.array(values, typ), pd.Series(pd.to_datetime(values))
    if name.startswith("duration"):
        values = [dt.timedelta(minutes=int(k)) for k in ticks]
        return pa.array(values, typ), pd.Series(pd.to_timedelta(values))
    values = [dt.datetime(2024, 3, 31, 0, 0) + dt.timedelta(minutes=int(k) * 30) for k in ticks]  # across DST
    if typ.tz is None:
        return pa.array(values, typ), pd.Series(pd.to_datetime(values))
    utc = pd.to_datetime(values).tz_localize("UTC")
    return pa.array(utc, typ), pd.Series(utc.tz_convert("Europe/Paris"))


@PROPERTY
@given(data=st.data(), name=st.sampled_from(sorted(TIME_TYPES)))
def test_a_time_column_of_any_type_orders_windows_like_its_plain_equivalent(data, name, one_torch_thread):
    arr, plain = data.draw(time_column(name), label="times")
    frame = base_frame().drop(columns="t")
    params = {**FIT, "window": 4, "time_column": "t", "group_column": "g"}
    shuffled = np.random.default_rng(1).permutation(N)  # rows out of time order: the time column sorts them
    reference = VAEDetector(**params).fit(frame.assign(t=plain).iloc[shuffled])
    want = reference.score_details(frame.assign(t=plain).iloc[shuffled])
    for how, col in representations(arr, name).items():
        typed = frame.assign(t=col).iloc[shuffled]
        fitted = VAEDetector(**params).fit(typed)
        assert fitted.window_spec_.time_kind == reference.window_spec_.time_kind, how
        assert fitted.window_config_["median_step_s"] == reference.window_config_["median_step_s"], how
        assert_same_scores(fitted.score_details(typed), want)
        assert_same_scores(reference.score_details(typed), want)
        assert_same_scores(fitted.score_details(frame.assign(t=plain).iloc[shuffled]), want)


# ------------------------------------------------------------------------------------------
# the minimal inputs, through the command line
# ------------------------------------------------------------------------------------------
def series_table(n: int = 400, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-01-01", periods=n // 2, freq="min", tz="UTC")
    return pa.table({"t": pa.array(list(times) * 2, pa.timestamp("us", tz="UTC")),
                     "m": ["a"] * (n // 2) + ["b"] * (n // 2), "x": rng.normal(size=n),
                     "y": rng.normal(size=n)})


def test_a_time_zone_read_through_pyarrow_is_kept_and_the_cli_scores_the_same_file(tmp_path,
                                                                                   one_torch_thread):
    """Fitted on pd.read_parquet(..., dtype_backend="pyarrow"), the time zone was dropped and the CLI
    refused the very same file."""
    pq.write_table(series_table(), tmp_path / "s.parquet")
    frame = pd.read_parquet(tmp_path / "s.parquet", dtype_backend="pyarrow")
    det = VAEDetector(window=4, time_column="t", group_column="m", max_iter=3, random_state=0).fit(frame)
    assert det.window_spec_.time_kind == "datetime-tz"
    det.save(tmp_path / "m.vae")
    result = invoke("score", tmp_path / "s.parquet", "-m", tmp_path / "m.vae", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_allclose(scored["anomaly_score"], det.score_details(frame).anomaly_score, rtol=1e-6)
    # The other way round: fitted on NumPy dtypes, scored with pyarrow ones.
    numpy_fit = VAEDetector(window=4, time_column="t", group_column="m", max_iter=3, random_state=0)
    numpy_fit.fit(pd.read_parquet(tmp_path / "s.parquet"))
    scored = pd.read_parquet(tmp_path / "s.parquet")
    np.testing.assert_array_equal(numpy_fit.score_details(frame).anomaly_score,
                                  numpy_fit.score_details(scored).anomaly_score)


def test_a_naive_time_column_against_a_time_zone_names_both_kinds(tmp_path, one_torch_thread):
    table = series_table()
    pq.write_table(table, tmp_path / "s.parquet")
    det = VAEDetector(window=4, time_column="t", group_column="m", max_iter=2, random_state=0)
    det.fit(pd.read_parquet(tmp_path / "s.parquet", dtype_backend="pyarrow"))
    naive = pd.read_parquet(tmp_path / "s.parquet", dtype_backend="pyarrow")
    naive["t"] = naive["t"].dt.tz_localize(None)
    with pytest.raises(InvalidInputError,
                       match="holds datetimes, but the model was fitted on time-zone-aware"):
        det.score_details(naive)


def test_a_decimal_column_from_a_database_is_modelled(tmp_path):
    """A Parquet decimal128 column was left out at fit as "mixes value types (Decimal)"."""
    rng = np.random.default_rng(0)
    prices = [decimal.Decimal(f"{v:.2f}") for v in rng.normal(100, 5, 400)]
    pq.write_table(pa.table({"price": pa.array(prices, pa.decimal128(12, 2)), "x": rng.normal(size=400)}),
                   tmp_path / "d.parquet")
    result = invoke("fit", tmp_path / "d.parquet", "-m", tmp_path / "m.vae", "--epochs", 3, "--seed", 0,
                    "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["columns_used"] == ["price", "x"] and summary["columns_ignored"] == {}
    high = pa.table({"price": pa.array([decimal.Decimal("1000.00")] * 5, pa.decimal128(12, 2)),
                     "x": [0.0] * 5})
    pq.write_table(high, tmp_path / "high.parquet")
    result = invoke("score", tmp_path / "high.parquet", "-m", tmp_path / "m.vae", "-o",
                    tmp_path / "s.parquet")
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "s.parquet")["is_anomaly"].all()


def test_values_from_a_database_driver_in_an_object_column_are_numbers(one_torch_thread):
    """Object columns of numpy.uint64, numpy.int8 or Decimal values were refused as mixed types."""
    rng = np.random.default_rng(0)
    ints = rng.integers(0, 1000, 300)
    plain = pd.DataFrame({"u": ints.astype(np.float64), "x": rng.normal(size=300)})
    cells = [np.uint64(v) if i % 2 else decimal.Decimal(int(v)) for i, v in enumerate(ints)]
    driver = plain.assign(u=pd.Series(cells, dtype=object))
    want = VAEDetector(max_iter=2, random_state=0).fit(plain).score_samples(plain)
    np.testing.assert_array_equal(VAEDetector(max_iter=2, random_state=0).fit(driver).score_samples(driver),
                                  want)


@pytest.mark.parametrize("backend", ["numpy_nullable", "pyarrow"])
def test_dates_and_durations_are_left_out_with_the_same_reason_whatever_the_backend(tmp_path, backend):
    times = pa.table({"day": pa.array([dt.date(2024, 1, 1 + i % 28) for i in range(60)], pa.date32()),
                      "took": pa.array([dt.timedelta(seconds=i) for i in range(60)], pa.duration("ms")),
                      "x": np.random.default_rng(0).normal(size=60)})
    pq.write_table(times, tmp_path / "t.parquet")
    result = invoke("fit", tmp_path / "t.parquet", "-m", tmp_path / "m.vae", "--epochs", 2, "--json")
    assert result.exit_code == 0, result.output
    ignored = json.loads(result.stdout)["columns_ignored"]
    assert ignored["day"].startswith("dates or times (") and ignored["took"].startswith("durations (")
    frame = pd.read_parquet(tmp_path / "t.parquet", dtype_backend=backend)
    with pytest.raises(InvalidInputError, match="'took' holds durations"):
        VAEDetector(max_iter=1).fit(frame[["took", "x"]])
    with pytest.raises(InvalidInputError, match="'day' holds dates or times"):
        VAEDetector(max_iter=1).fit(frame[["day", "x"]])
