"""Readers of :mod:`vae_anomaly.tables.read`: formats, streaming, datasets, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from vae_anomaly import InvalidInputError
from vae_anomaly.tables.read import TableReader, iter_frames, read_table, table_format


@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "k": rng.integers(0, 5, size=n),
        "city": rng.choice(["a", "b", "c"], size=n),
        "flag": rng.random(n) < 0.5,
    })


def _write_all_formats(frame: pd.DataFrame, where: Path) -> dict[str, Path]:
    paths = {"parquet": where / "t.parquet", "csv": where / "t.csv", "arrow": where / "t.feather"}
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), paths["parquet"], row_group_size=70)
    frame.to_csv(paths["csv"], index=False)
    feather.write_feather(frame, paths["arrow"], chunksize=90)
    parts = where / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, len(frame), 120)):
        frame.iloc[start:start + 120].to_parquet(parts / f"part-{i:03d}.parquet", index=False)
    (parts / "_SUCCESS").write_text("")
    paths["dataset"] = parts
    return paths


# ------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("a.parquet", "parquet"), ("a.PQ", "parquet"), ("a.csv", "csv"),
    ("a.feather", "arrow"), ("a.arrow", "arrow"), ("a.ipc", "arrow"),
])
def test_format_is_told_by_suffix(name, expected):
    assert table_format(name) == expected


def test_unknown_suffix_is_refused():
    with pytest.raises(InvalidInputError, match="cannot tell the format of 'a.txt'"):
        table_format("a.txt")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "arrow", "dataset"])
def test_every_format_reads_the_same_table(frame, tmp_path, fmt):
    path = _write_all_formats(frame, tmp_path)[fmt]
    got = read_table(path)
    pd.testing.assert_frame_equal(got, frame, check_dtype=False)


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "dataset"])
def test_streaming_respects_batch_size_and_columns(frame, tmp_path, fmt):
    path = _write_all_formats(frame, tmp_path)[fmt]
    reader = TableReader(path)
    assert reader.num_rows == len(frame)
    batches = list(reader.iter_batches(batch_size=50, columns=["city", "x"]))
    assert max(b.num_rows for b in batches) <= 50
    assert all(b.schema.names == ["city", "x"] for b in batches)
    whole = pa.Table.from_batches(batches).to_pandas()
    pd.testing.assert_frame_equal(whole, frame[["city", "x"]])


def test_csv_streams_with_given_types(frame, tmp_path):
    path = _write_all_formats(frame, tmp_path)["csv"]
    batches = list(TableReader(path).iter_batches(columns=["k"], csv_types={"k": pa.float64()}))
    assert batches[0].schema.field("k").type == pa.float64()
    assert sum(b.num_rows for b in batches) == len(frame)


def test_iter_frames_yields_dataframes(frame, tmp_path):
    path = _write_all_formats(frame, tmp_path)["parquet"]
    parts = list(iter_frames(path, batch_size=100))
    assert all(isinstance(p, pd.DataFrame) for p in parts)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), frame)


def test_dataset_reads_files_in_name_order_and_skips_marker_files(frame, tmp_path):
    parts = _write_all_formats(frame, tmp_path)["dataset"]
    (parts / ".hidden.parquet").write_bytes(b"not parquet")
    got = read_table(parts)
    np.testing.assert_array_equal(got["x"].to_numpy(), frame["x"].to_numpy())


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.parquet", b"this is not parquet", "bad.parquet is not a readable Parquet file: "),
    ("bad.feather", b"this is not arrow either", "bad.feather is not a readable Arrow IPC file: "),
    ("empty.parquet", b"", "empty.parquet is empty"),
    ("empty.csv", b"", "empty.csv is empty"),
])
def test_unreadable_files_raise_one_clear_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInputError) as err:
        TableReader(path)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        TableReader(tmp_path / "nope.parquet")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("hi")
    with pytest.raises(InvalidInputError, match="holds no .parquet files"):
        TableReader(tmp_path / "d")


def test_table_without_rows_cannot_be_read_whole(frame, tmp_path):
    path = tmp_path / "none.parquet"
    frame.iloc[:0].to_parquet(path)
    with pytest.raises(InvalidInputError, match="none.parquet has no rows"):
        read_table(path)


def test_require_columns_names_the_missing_one(frame, tmp_path):
    reader = TableReader(_write_all_formats(frame, tmp_path)["parquet"])
    with pytest.raises(InvalidInputError, match="column 'nope' is not in t.parquet"):
        reader.require_columns(["x", "nope"])
