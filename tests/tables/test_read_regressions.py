"""Each reading failure of issue 26, on its minimal input: folders whose files differ, partitions,
other suffixes, pandas indexes, CSV types that change after the first block, names that are not UTF-8,
and the rule for what a folder read skips."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import invoke, ok
from vae_anomaly import InvalidInputError
from vae_anomaly.tables import csv_types
from vae_anomaly.tables.location import split_location
from vae_anomaly.tables.read import TableReader


def frame(n: int = 200, seed: int = 0, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"rid": np.arange(start, start + n), "x": x, "y": 0.8 * x + 0.3 * rng.normal(size=n),
                         "z": rng.normal(size=n)})


@pytest.fixture(scope="module")
def model(tmp_path_factory, one_torch_thread):
    """A small row-wise model on columns x, y, z."""
    where = tmp_path_factory.mktemp("model")
    frame(400, seed=1).to_parquet(where / "train.parquet", index=False)
    ok("fit", where / "train.parquet", "-m", where / "m.vae", "--exclude", "rid", "--epochs", "2", "--quiet")
    return where / "m.vae"


def scores(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


# -- folders whose files differ -----------------------------------------------------------------
def test_a_null_typed_column_in_the_first_file_is_scored(tmp_path, model):
    lake = tmp_path / "lake"
    lake.mkdir()
    first = pa.Table.from_pandas(frame(50), preserve_index=False)
    pq.write_table(first.set_column(2, "y", pa.nulls(50)), lake / "a.parquet")
    frame(60, start=50).to_parquet(lake / "b.parquet", index=False)
    assert TableReader(lake).schema.field("y").type == pa.float64()
    ok("score", lake, "-m", model, "-o", tmp_path / "s.parquet", "--quiet")
    got = scores(tmp_path / "s.parquet")
    assert got["rid"].tolist() == list(range(110)) and got["y"].isna().sum() == 50


def test_int_in_one_file_and_float_in_another_is_read_as_float(tmp_path, model):
    lake = tmp_path / "lake"
    lake.mkdir()
    frame(50).assign(z=np.arange(50)).to_parquet(lake / "a.parquet", index=False)  # z int64
    frame(50, start=50).to_parquet(lake / "b.parquet", index=False)
    reader = TableReader(lake)
    assert reader.schema.field("z").type == pa.float64()
    assert [c.column for c in reader.type_changes] == ["z"]
    assert reader.notes() == ["column 'z' is int64 at first but double in b.parquet: read as double (lake)"]
    ok("score", lake, "-m", model, "-o", tmp_path / "s.parquet", "--quiet")
    assert len(scores(tmp_path / "s.parquet")) == 100


def test_a_file_missing_a_model_column_is_named(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    frame(50).to_parquet(lake / "a.parquet", index=False)
    frame(50, start=50).drop(columns="y").to_parquet(lake / "b.parquet", index=False)
    reader = TableReader(lake)
    assert reader.missing_columns == {"y": ("b.parquet",)}
    assert "column 'y' is missing from b.parquet in lake: read as null there" in reader.notes()
    assert reader.read()["y"].isna().sum() == 50


def test_a_pass_through_column_absent_from_the_first_file_reaches_the_output(tmp_path, model):
    lake = tmp_path / "lake"
    lake.mkdir()
    frame(50).to_parquet(lake / "a.parquet", index=False)
    frame(50, start=50).assign(batch="b2").to_parquet(lake / "b.parquet", index=False)
    ok("score", lake, "-m", model, "-o", tmp_path / "s.parquet", "--quiet")
    got = scores(tmp_path / "s.parquet")
    assert got["batch"].isna().sum() == 50 and (got["batch"].iloc[50:] == "b2").all()


def test_files_that_cannot_be_unified_give_one_line_naming_the_column_and_files(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    frame(5).to_parquet(lake / "a.parquet", index=False)
    frame(5).assign(y="text").to_parquet(lake / "b.parquet", index=False)
    with pytest.raises(InvalidInputError) as err:
        TableReader(lake)
    message = str(err.value)
    assert re.search(r"column 'y' is double in a.parquet but (large_)?string in b.parquet", message)
    assert "\n" not in message


def test_a_file_without_rows_never_decides_a_type(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    pd.DataFrame({"x": pd.Series([], dtype=object), "y": []}).to_parquet(lake / "a.parquet", index=False)
    empty = pa.table({"x": pa.array([], pa.string()), "y": pa.array([], pa.float64())})
    pq.write_table(empty, lake / "b.parquet")
    frame(5).to_parquet(lake / "c.parquet", index=False)
    reader = TableReader(lake)
    assert reader.schema.field("x").type == pa.float64() and reader.read()["x"].notna().all()
    assert reader.files == [lake / "a.parquet", lake / "b.parquet", lake / "c.parquet"]


def test_a_category_in_one_file_and_text_in_another_is_text(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    pd.DataFrame({"c": pd.Categorical(["a", "b"])}).to_parquet(lake / "a.parquet", index=False)
    pd.DataFrame({"c": ["c", "d"]}).to_parquet(lake / "b.parquet", index=False)
    assert TableReader(lake).read()["c"].tolist() == ["a", "b", "c", "d"]


def test_dask_reads_a_folder_whose_files_differ_as_one_process_does(tmp_path):
    pytest.importorskip("dask")
    from vae_anomaly.jobs.dask import read_parquet

    lake = tmp_path / "lake"
    (lake / "site=n").mkdir(parents=True)
    (lake / "site=s").mkdir()
    first = pa.Table.from_pandas(frame(30), preserve_index=False)
    pq.write_table(first.set_column(2, "y", pa.nulls(30)), lake / "site=n" / "a.parquet", row_group_size=7)
    frame(20, start=30).assign(z=np.arange(20), note="x").to_parquet(lake / "site=n" / "b.PQ", index=False)
    frame(25, start=50).drop(columns="y").to_parquet(lake / "site=s" / "c.parquet", index=False)
    reader = TableReader(lake)
    got = read_parquet(reader, partition_rows=10).compute(scheduler="sync")
    pd.testing.assert_frame_equal(got.reset_index(drop=True), reader.read())


@pytest.mark.slow
def test_score_dask_local_on_a_folder_whose_files_differ(tmp_path, model):
    pytest.importorskip("distributed")
    lake = tmp_path / "lake"
    lake.mkdir()
    first = pa.Table.from_pandas(frame(40), preserve_index=False)
    pq.write_table(first.set_column(2, "y", pa.nulls(40)), lake / "a.parquet")
    frame(40, start=40).assign(z=np.arange(40), note="x").to_parquet(lake / "b.parquet", index=False)
    ok("score", lake, "-m", model, "-o", tmp_path / "one.parquet", "--quiet")
    ok("score", lake, "-m", model, "-o", tmp_path / "many", "--dask", "local", "--quiet")
    one = scores(tmp_path / "one.parquet")
    many = pq.read_table(tmp_path / "many").to_pandas().sort_values("rid").reset_index(drop=True)
    pd.testing.assert_frame_equal(many[one.columns], one, check_dtype=False, check_categorical=False)


# -- hive partitions ----------------------------------------------------------------------------
def _partitioned(root, n_per: int = 120):
    for i, site in enumerate(("north", "south")):
        (root / f"site={site}").mkdir(parents=True)
        f = frame(n_per, seed=i, start=i * n_per).assign(t=np.arange(n_per))
        f.to_parquet(root / f"site={site}" / "part-0.parquet", index=False)


def test_partition_keys_are_columns_that_fit_and_score_use(tmp_path, one_torch_thread):
    lake = tmp_path / "lake"
    _partitioned(lake)
    assert TableReader(lake).column_names[-1] == "site"
    fit = ok("fit", lake, "-m", tmp_path / "m.vae", "--exclude", "rid", "--exclude", "t", "--epochs", "2",
             "--quiet", "--json")
    assert "site" in json.loads(fit.stdout)["columns_used"]
    ok("score", lake, "-m", tmp_path / "m.vae", "-o", tmp_path / "s.parquet", "--quiet")
    got = scores(tmp_path / "s.parquet")
    assert got["site"].tolist() == ["north"] * 120 + ["south"] * 120


def test_a_windowed_fit_groups_by_a_partition_key(tmp_path, one_torch_thread):
    lake = tmp_path / "lake"
    _partitioned(lake)
    ok("fit", lake, "-m", tmp_path / "w.vae", "--exclude", "rid", "--window", "4", "--time-column", "t",
       "--group-column", "site", "--epochs", "2", "--quiet")
    ok("score", lake, "-m", tmp_path / "w.vae", "-o", tmp_path / "s.parquet", "--quiet")
    assert len(scores(tmp_path / "s.parquet")) == 240


def test_integer_keys_are_int64_and_the_default_partition_is_null(tmp_path):
    lake = tmp_path / "lake"
    for year in ("2023", "2024", "__HIVE_DEFAULT_PARTITION__"):
        (lake / f"year={year}").mkdir(parents=True)
        frame(3).to_parquet(lake / f"year={year}" / "p.parquet", index=False)
    reader = TableReader(lake)
    assert reader.schema.field("year").type == pa.int64()
    assert reader.read_arrow()["year"].to_pylist()[::3] == [2023, 2024, None]


# -- other suffixes, and the skip rule ----------------------------------------------------------
def test_every_parquet_suffix_is_read(tmp_path, model):
    lake = tmp_path / "lake"
    lake.mkdir()
    for i, suffix in enumerate((".parquet", ".pq", ".parq", ".PARQUET")):
        frame(150, start=150 * i).to_parquet(lake / f"part-{i}{suffix}", index=False)
    frame(10, start=600).to_parquet(lake / "part-4", index=False)  # no suffix: found by its PAR1 magic
    ok("score", lake, "-m", model, "-o", tmp_path / "s.parquet", "--quiet")
    assert scores(tmp_path / "s.parquet")["rid"].tolist() == list(range(610))


def test_what_a_folder_read_skips_is_stated(tmp_path):
    lake = tmp_path / "lake"
    (lake / "_delta_log").mkdir(parents=True)
    (lake / ".staging").mkdir()
    frame(5).to_parquet(lake / "part-0.parquet", index=False)
    frame(5).to_parquet(lake / ".staging" / "part-1.parquet", index=False)
    (lake / "_delta_log" / "0.json").write_text("{}")
    (lake / "_SUCCESS").write_bytes(b"")
    (lake / ".part-0.parquet.crc").write_bytes(b"abc")
    (lake / "part-0.parquet.crc").write_bytes(b"abc")
    (lake / "empty.parquet").write_bytes(b"")
    (lake / "README.md").write_text("rows are in part files")
    reader = TableReader(lake)
    assert reader.num_rows == 5
    assert dict(reader.skipped) == {
        ".part-0.parquet.crc": "hidden or metadata: name starts with '.' or '_'",
        ".staging/": "hidden or metadata directory: name starts with '.' or '_', 1 file",
        "README.md": "not Parquet: no .parquet, .pq or .parq suffix, no PAR1 magic",
        "_SUCCESS": "hidden or metadata: name starts with '.' or '_'",
        "_delta_log/": "hidden or metadata directory: name starts with '.' or '_', 1 file",
        "empty.parquet": "empty: 0 bytes",
        "part-0.parquet.crc": "checksum",
    }
    assert reader.notes()[0].startswith("skipped 7 paths in ")


def test_a_file_named_parquet_that_is_not_is_an_error_naming_it(tmp_path):
    lake = tmp_path / "lake"
    (lake / "site=a").mkdir(parents=True)
    frame(5).to_parquet(lake / "site=a" / "good.parquet", index=False)
    (lake / "site=a" / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInputError,
                       match=r"^site=a/bad.parquet in \S*lake is not a readable Parquet file: "):
        TableReader(lake)


def test_a_folder_of_empty_files_has_no_rows(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    frame(0).to_parquet(lake / "a.parquet", index=False)
    reader = TableReader(lake)
    assert reader.num_rows == 0 and reader.read_arrow().num_rows == 0
    with pytest.raises(InvalidInputError, match="lake has no rows"):
        reader.read()


# -- pandas index metadata ----------------------------------------------------------------------
def test_a_named_pandas_index_is_a_column(tmp_path, one_torch_thread):
    data = frame(200).assign(ts=pd.date_range("2024-01-01", periods=200, freq="min"))
    data.set_index("ts").to_parquet(tmp_path / "d.parquet")
    reader = TableReader(tmp_path / "d.parquet")
    assert "ts" in reader.column_names and "ts" in reader.read().columns
    ok("fit", tmp_path / "d.parquet", "-m", tmp_path / "w.vae", "--exclude", "rid", "--window", "4",
       "--time-column", "ts", "--epochs", "2", "--quiet")
    ok("score", tmp_path / "d.parquet", "-m", tmp_path / "w.vae", "-o", tmp_path / "s.parquet", "--quiet")
    got = pq.read_table(tmp_path / "s.parquet")
    assert got.schema.names.count("ts") == 1 and got.num_rows == 200


def test_an_unnamed_pandas_index_is_row_labels(tmp_path):
    data = frame(6).set_axis([10, 3, 7, 9, 1, 2])
    data.to_parquet(tmp_path / "d.parquet")
    reader = TableReader(tmp_path / "d.parquet")
    assert "__index_level_0__" in reader.column_names  # streamed and copied through by score
    assert reader.read().index.tolist() == [10, 3, 7, 9, 1, 2]  # never a column fit would model
    assert "__index_level_0__" not in reader.read().columns


# -- CSV types for the whole file ---------------------------------------------------------------
def test_a_csv_column_that_turns_to_text_after_the_first_block(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setattr(csv_types, "CSV_BLOCK_BYTES", 2048)
    data = frame(400).astype({"rid": object})
    data.loc[350:, "rid"] = [f"r-{k}" for k in range(50)]  # not modelled; text after many blocks
    data.to_csv(tmp_path / "d.csv", index=False)
    assert (tmp_path / "d.csv").stat().st_size > 4 * 2048
    reader = TableReader(tmp_path / "d.csv")
    assert len(reader.read()) == 400
    changes = [c.describe() for c in reader.type_changes]
    assert changes[0].startswith("column 'rid' is int64 at first but string")
    ok("fit", tmp_path / "d.csv", "-m", tmp_path / "m.vae", "--exclude", "rid", "--epochs", "2", "--quiet")
    ok("score", tmp_path / "d.csv", "-m", tmp_path / "m.vae", "-o", tmp_path / "s.parquet", "--quiet")
    assert scores(tmp_path / "s.parquet")["rid"].tolist()[-1] == "r-49"


def test_csv_types_given_by_the_caller_win(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_types, "CSV_BLOCK_BYTES", 512)
    pd.DataFrame({"k": [1] * 300 + [2.5] * 10, "s": ["a"] * 310}).to_csv(tmp_path / "d.csv", index=False)
    batches = list(TableReader(tmp_path / "d.csv").iter_batches(columns=["k"], csv_types={"k": pa.string()}))
    assert {b.schema.field("k").type for b in batches} == {pa.string()}


# -- names that are not UTF-8, and URIs --------------------------------------------------------
needs_bytes_names = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                                       reason="the file system must accept any bytes in names")


@needs_bytes_names
def test_a_file_name_that_is_not_utf8_is_one_line_naming_its_bytes(tmp_path, model):
    lake = tmp_path / "lake"
    lake.mkdir()
    frame(10).to_parquet(lake / "ok.parquet", index=False)
    bad = os.fsencode(lake) + b"/caf\xe9.parquet"
    with open(bad, "wb") as sink:
        sink.write((lake / "ok.parquet").read_bytes())
    result = invoke("score", lake, "-m", model, "-o", tmp_path / "s.parquet")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the path ") and "caf\\xe9.parquet" in lines[0]
    with pytest.raises(InvalidInputError, match=r"caf\\xe9\.parquet is not valid UTF-8"):
        TableReader(bad)
    with pytest.raises(InvalidInputError, match=r"caf\\xe9\.parquet is not valid UTF-8"):
        TableReader(os.fsdecode(bad))  # the same name as Python decodes it (surrogate escapes)


def test_file_uris_are_read_and_unknown_schemes_are_one_line(tmp_path):
    frame(5).to_parquet(tmp_path / "d.parquet", index=False)
    reader = TableReader((tmp_path / "d.parquet").as_uri())
    assert reader.num_rows == 5 and reader.path == tmp_path / "d.parquet"
    with pytest.raises(InvalidInputError, match=r"^nope://bucket/d.parquet is not a URI pyarrow can open: "):
        TableReader("nope://bucket/d.parquet")
    fs, path = split_location("file:///tmp/x.parquet")
    assert type(fs).__name__ == "LocalFileSystem" and path == "/tmp/x.parquet"


def test_a_single_file_without_a_suffix_is_known_by_its_content(tmp_path):
    frame(5).to_parquet(tmp_path / "extract", index=False)
    assert TableReader(tmp_path / "extract").format == "parquet"
    (tmp_path / "notes").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInputError, match="cannot tell the format of 'notes'"):
        TableReader(tmp_path / "notes")


# -- docs/cli.md, "Inputs" ---------------------------------------------------------------------
def test_the_worked_example_in_docs_cli_inputs_runs(tmp_path, monkeypatch):
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    section = text[text.index("## Inputs"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "docs/cli.md", "exec"), {})  # noqa: S102 - our own documentation


@pytest.mark.parametrize("name", ["lake", "d.parquet", "d.csv", "d.feather", "extract"])
def test_a_store_that_is_not_local_reads_as_a_local_path_does(tmp_path, monkeypatch, name):
    """Object stores go through their pyarrow file system, not local paths: the same rows come back."""
    import pyarrow.feather as feather
    import pyarrow.fs as pa_fs

    import vae_anomaly.tables.read as read

    (tmp_path / "bucket" / "lake" / "site=n").mkdir(parents=True)
    data = frame(30)
    data.to_parquet(tmp_path / "bucket" / "lake" / "site=n" / "part-0", index=False)
    data.to_parquet(tmp_path / "bucket" / "d.parquet", index=False)
    data.to_parquet(tmp_path / "bucket" / "extract", index=False)
    data.to_csv(tmp_path / "bucket" / "d.csv", index=False)
    feather.write_feather(data, tmp_path / "bucket" / "d.feather")
    local = TableReader(tmp_path / "bucket" / name)
    store = pa_fs.SubTreeFileSystem(str(tmp_path), pa_fs.LocalFileSystem())
    monkeypatch.setattr(read, "split_location", lambda location: (store, location.split("://", 1)[1]))
    remote = TableReader(f"s3://bucket/{name}")
    assert remote.path == f"s3://bucket/{name}" and remote.path.name == name
    assert remote.read_arrow().equals(local.read_arrow())
    if remote.format in ("parquet", "dataset"):
        pieces = list(remote.fragments(rows_per_piece=10))
        assert pa.concat_tables(p.to_table(schema=remote.schema) for p in pieces).equals(local.read_arrow())


# -- inputs from peers' bug reports, tried after the reading layer landed ----------------------------
def test_a_partition_key_also_stored_in_the_files_is_refused_naming_both(tmp_path):
    """arrow #47592 and fastparquet #528: a key's type or value from the path silently replaced the
    column the files store under that name."""
    for day, stored in (("2025-01-01", "x"), ("2025-01-02", "y")):
        (tmp_path / f"day={day}").mkdir()
        pq.write_table(pa.table({"v": [1.0, 2.0], "day": [stored, stored]}),
                       tmp_path / f"day={day}" / "part-0.parquet")
    with pytest.raises(InvalidInputError, match=r"stores a column 'day', which is also a partition key"):
        TableReader(tmp_path)


def test_a_first_file_without_columns_does_not_break_the_read(tmp_path):
    """cudf #20303: pd.DataFrame().to_parquet() first in a folder; its pandas metadata describes no
    column, and pandas read the other columns' names as numbers (a traceback)."""
    pd.DataFrame().to_parquet(tmp_path / "0-empty.parquet")
    pd.DataFrame({"v": [1.0, 2.0], "s": ["a", "b"]}).to_parquet(tmp_path / "1-data.parquet")
    got = TableReader(tmp_path).read()
    assert got.columns.tolist() == ["v", "s"] and got["v"].tolist() == [1.0, 2.0]


def test_timestamps_in_two_time_zones_are_read_as_the_same_instants_in_utc(tmp_path):
    """arrow #37110, datafusion #5823: time zones differing between files; both hold instants."""
    paris = pd.DataFrame({"ts": pd.to_datetime(["2025-01-01 12:00"]).tz_localize("Europe/Paris"), "v": [1.0]})
    utc = pd.DataFrame({"ts": pd.to_datetime(["2025-01-01 11:00"]).tz_localize("UTC"), "v": [2.0]})
    paris.to_parquet(tmp_path / "a.parquet")
    utc.to_parquet(tmp_path / "b.parquet")
    got = TableReader(tmp_path).read()
    assert len(got) == 2 and str(got["ts"].dt.tz) == "UTC"
    assert got["ts"].iloc[0] == got["ts"].iloc[1]  # 12:00 in Paris is 11:00 UTC
