"""Readers and writers of :mod:`vae_anomaly.tables`: formats, streaming, atomic output, errors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from vae_anomaly import InvalidInputError
from vae_anomaly.tables.read import TableReader, iter_frames, read_table, table_format
from vae_anomaly.tables.write import AtomicTableWriter, StreamTableWriter, check_output_path


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


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


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


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
def _batches(n_batches: int = 3):
    for i in range(n_batches):
        yield pa.record_batch({"i": np.arange(i * 10, i * 10 + 10), "v": np.full(10, float(i))})


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".arrow"])
def test_atomic_writer_writes_every_batch(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    with AtomicTableWriter(out) as writer:
        for batch in _batches():
            writer.write(batch)
    assert writer.rows == 30
    got = read_table(out)
    np.testing.assert_array_equal(got["i"].to_numpy(), np.arange(30))
    assert _no_temp_files(tmp_path)


def test_atomic_writer_file_mode_follows_umask(tmp_path):
    out = tmp_path / "out.parquet"
    with AtomicTableWriter(out) as writer:
        writer.write(next(_batches()))
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_failure_leaves_no_file_and_keeps_the_previous_output(tmp_path):
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous run")
    with pytest.raises(RuntimeError, match="boom"):
        with AtomicTableWriter(out) as writer:
            for i, batch in enumerate(_batches()):
                if i == 2:
                    raise RuntimeError("boom")
                writer.write(batch)
    assert out.read_bytes() == b"previous run"
    assert _no_temp_files(tmp_path)
    fresh = tmp_path / "fresh.csv"
    with pytest.raises(KeyboardInterrupt):
        with AtomicTableWriter(fresh) as writer:
            writer.write(next(_batches()))
            raise KeyboardInterrupt
    assert not fresh.exists() and _no_temp_files(tmp_path)


def test_empty_output_needs_a_schema(tmp_path):
    schema = pa.schema([("a", pa.float64())])
    with AtomicTableWriter(tmp_path / "e.parquet", schema=schema):
        pass
    assert pq.read_table(tmp_path / "e.parquet").schema.names == ["a"]
    with pytest.raises(InvalidInputError, match="nothing was written"):
        with AtomicTableWriter(tmp_path / "f.parquet"):
            pass
    assert not (tmp_path / "f.parquet").exists() and _no_temp_files(tmp_path)


def test_output_path_checks(tmp_path):
    with pytest.raises(InvalidInputError, match="output directory .* does not exist"):
        check_output_path(tmp_path / "missing" / "x.parquet")
    with pytest.raises(InvalidInputError, match="is a directory"):
        check_output_path(tmp_path)
    with pytest.raises(InvalidInputError, match="cannot tell the output format"):
        AtomicTableWriter(tmp_path / "x.json")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_directory_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InvalidInputError, match="not writable"):
            AtomicTableWriter(locked / "x.parquet")
    finally:
        locked.chmod(0o700)


def test_unwritable_directory_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import vae_anomaly.tables.write as vio

    monkeypatch.setattr(vio.os, "access", lambda *args, **kwargs: False)
    with pytest.raises(InvalidInputError, match="is not writable"):
        AtomicTableWriter(tmp_path / "x.parquet")
    monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(vio.tempfile, "mkstemp", refuse)
    with pytest.raises(InvalidInputError, match="cannot write to .*: Permission denied"):
        with AtomicTableWriter(tmp_path / "x.parquet"):
            pass
    assert not (tmp_path / "x.parquet").exists()


def test_stream_writer_writes_csv_with_a_header():
    sink = io.BytesIO()
    with StreamTableWriter(sink) as writer:
        for batch in _batches(2):
            writer.write(batch)
    text = sink.getvalue().decode()
    assert text.splitlines()[0] == '"i","v"'
    assert len(text.splitlines()) == 21
