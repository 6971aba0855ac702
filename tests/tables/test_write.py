"""Writers of :mod:`vae_anomaly.tables.write`: atomic output, streaming to stdout, output-path checks."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vae_anomaly import InvalidInputError
from vae_anomaly.tables.read import read_table
from vae_anomaly.tables.write import AtomicTableWriter, StreamTableWriter, check_output_path


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


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

    monkeypatch.setattr(vio, "temporary_beside", refuse)
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
