"""Rows in equals rows out: generated data-lake layouts read as pyarrow.dataset reads them.

A seeded generator writes a folder as scheduled jobs leave them: hive
partitions, schemas that drift between files (a null-typed column in the
first file, int in one file and float in another, a column missing from a
file, a pass-through column absent from the first file), mixed Parquet
suffixes and suffix-less part files, 0-row files, pandas index metadata,
and the files a reader must skip (``_SUCCESS``, ``.crc``, hidden files and
folders, ``_delta_log``, 0-byte files, text). The reference is
:mod:`pyarrow.dataset` given the data files, hive partitioning and the
schema :func:`pyarrow.unify_schemas` makes of them; CSV files whose column
types change late are compared with :func:`pyarrow.csv.read_csv`, which
infers over the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vae_anomaly.tables import csv_types
from vae_anomaly.tables.read import TableReader

runner = CliRunner()
DATA_SUFFIXES = (".parquet", ".pq", ".parq", ".PARQUET", ".Pq", "")  # "": found by its PAR1 magic
SITES = ("north", "south", "east west", "7")


@dataclass
class Lake:
    root: Path
    files: list[Path]  # the data files, in read order
    keys: pa.Schema  # partition keys as they should be read
    rids: list[int]  # the row ids of every row, in read order
    junk: set[str]  # what must be skipped, relative to root (folders end in /)


def _frame(rng: np.random.Generator, i: int, n: int, rid: int) -> pa.Table:
    """One file's rows; its schema drifts with ``i`` and chance."""
    frame = pd.DataFrame({
        "rid": np.arange(rid, rid + n, dtype=np.int64),
        "x": rng.normal(size=n),
        "a": rng.normal(size=n),
        "b": rng.integers(0, 9, size=n).astype(np.int64 if rng.random() < 0.5 else np.float64),
        "c": rng.choice(["p", "q", "r"], size=n),
        "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(rid, rid + n), unit="min"),
    })
    if i > 0 and rng.random() < 0.6:
        # a pass-through column absent from the first file
        frame["note"] = pd.Series([f"n{k}" for k in range(n)], dtype="str")
    if rng.random() < 0.3:
        frame = frame.drop(columns="c")  # a column missing from a file
    index = rng.random()
    if index < 0.3:
        table = pa.Table.from_pandas(frame.set_index("ts"))  # a named index: must come back as column ts
    elif index < 0.45 and n > 1:
        table = pa.Table.from_pandas(frame.set_axis(np.arange(n) * 3 + 1))  # stored as __index_level_0__
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    if i == 0 and rng.random() < 0.5:  # null-typed in the first file
        table = table.set_column(table.schema.get_field_index("a"), "a", pa.nulls(n))
    return table


def make_lake(root: Path, seed: int) -> Lake:
    """Write a random data-lake folder under ``root``; returns what a reader must find in it."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    levels = int(rng.integers(0, 3))
    sites = list(rng.choice(SITES, size=2, replace=False))
    years = [2023, 2024]
    written: list[tuple[tuple[str, ...], Path, list[int]]] = []
    rid = 0
    dirs = set()
    for i in range(int(rng.integers(1, 7))):
        parts = [f"site={rng.choice(sites)}", f"year={rng.choice(years)}"][:levels]
        folder = root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        dirs.add(folder)
        n = 0 if rng.random() < 0.2 else int(rng.integers(1, 40))
        table = _frame(rng, i, n, rid)
        path = folder / f"part-{i:03d}{DATA_SUFFIXES[int(rng.integers(0, len(DATA_SUFFIXES)))]}"
        pq.write_table(table, path, row_group_size=int(rng.integers(1, 16)))
        written.append((path.relative_to(root).parts, path, list(range(rid, rid + n))))
        rid += n
    keys = []
    if levels >= 1:
        used = {p.parts[0].split("=", 1)[1] for p in (w[1].relative_to(root) for w in written)}
        keys.append(("site", pa.int64() if all(s.isdigit() for s in used) else pa.string()))
    if levels == 2:
        keys.append(("year", pa.int64()))
    junk = set()
    some = sorted(dirs)[int(rng.integers(0, len(dirs)))]
    rel = some.relative_to(root).as_posix()
    prefix = "" if rel == "." else rel + "/"
    small = pq.read_table(written[0][1]).slice(0, 1)
    (some / "_SUCCESS").write_bytes(b"")
    (some / ".part-000.crc").write_bytes(b"crc")
    (some / "part-000.parquet.crc").write_bytes(b"crc")
    (some / "notes.txt").write_text("rows are elsewhere")
    (some / "empty.parquet").write_bytes(b"")
    pq.write_table(small, some / ".hidden.parquet")  # real Parquet: skipped all the same
    (root / "_temporary" / "0").mkdir(parents=True)
    pq.write_table(small, root / "_temporary" / "0" / "part-9.parquet")
    (root / "_delta_log").mkdir()
    (root / "_delta_log" / "000.json").write_text("{}")
    junk |= {prefix + name for name in ("_SUCCESS", ".part-000.crc", "part-000.parquet.crc", "notes.txt",
                                        "empty.parquet", ".hidden.parquet")}
    junk |= {"_temporary/", "_delta_log/"}
    written.sort(key=lambda w: w[0])
    return Lake(root, [w[1] for w in written], pa.schema(keys), [r for w in written for r in w[2]], junk)


def reference(lake: Lake) -> pa.Table:
    """What pyarrow.dataset reads from the data files, with the unified schema and hive partitioning."""
    unified = pa.unify_schemas([pq.read_schema(f) for f in lake.files], promote_options="permissive")
    schema = pa.schema([f for f in unified if f.name not in lake.keys.names] + list(lake.keys))
    dataset = pa_ds.dataset([str(f) for f in lake.files], schema=schema, format="parquet",
                            partitioning=pa_ds.HivePartitioning(lake.keys) if len(lake.keys) else None,
                            partition_base_dir=str(lake.root))
    return dataset.to_table().replace_schema_metadata(None)


@pytest.mark.parametrize("seed", range(40))
def test_a_lake_reads_as_pyarrow_dataset_reads_it(tmp_path, seed):
    lake = make_lake(tmp_path / "lake", seed)
    reader = TableReader(lake.root)
    got = reader.read_arrow().replace_schema_metadata(None)
    want = reference(lake)
    assert got.schema == want.schema
    assert got.equals(want)
    assert got["rid"].to_pylist() == lake.rids  # every row, once, in read order
    assert reader.num_rows == len(lake.rids)
    assert reader.files == lake.files
    assert {path for path, _ in reader.skipped} == lake.junk
    assert "ts" in reader.column_names  # a named pandas index is a column
    batches = list(reader.iter_batches(batch_size=7, columns=["rid", "x"]))
    assert all(b.num_rows <= 7 and b.schema.names == ["rid", "x"] for b in batches)
    assert [r for b in batches for r in b.column(0).to_pylist()] == lake.rids
    if any(pq.read_schema(f).field("a").type == pa.float64() for f in lake.files):
        assert got.schema.field("a").type == pa.float64()  # null-typed in the first file or not


@pytest.mark.parametrize("seed", range(3))
def test_a_lake_splits_into_pieces_that_give_the_same_rows(tmp_path, seed):
    lake = make_lake(tmp_path / "lake", seed)
    reader = TableReader(lake.root)
    pieces = list(reader.fragments(rows_per_piece=10))
    rows = pa.concat_tables([p.to_table(schema=reader.schema) for p in pieces]) if pieces else None
    want = reference(lake)
    if rows is None:
        assert want.num_rows == 0
    else:
        assert rows.replace_schema_metadata(None).equals(want)


# -- CSV whose types change late -------------------------------------------------------------
KINDS = {
    # kind: (values before the change, values after)
    "int_to_float": (lambda k: str(k), lambda k: f"{k}.5"),
    "int_to_text": (lambda k: str(k), lambda k: f"id-{k}"),
    "empty_to_int": (lambda k: "", lambda k: str(k)),
    "float_to_text": (lambda k: f"{k}.25", lambda k: "n/a?"),
    "bool_to_text": (lambda k: "true" if k % 2 else "false", lambda k: "maybe"),
    "date_to_timestamp": (lambda k: f"2024-01-{k % 28 + 1:02d}", lambda k: f"2024-02-01 10:00:{k % 60:02d}"),
    "seconds_to_nanos": (lambda k: f"2024-01-01 00:00:{k % 60:02d}",
                         lambda k: f"2024-01-01 00:00:{k % 60:02d}.123456789"),
    "steady_float": (lambda k: f"{k}.0", lambda k: f"{k}.0"),
    "steady_text": (lambda k: f"t{k}", lambda k: f"t{k}"),
    "quoted_text": (lambda k: f'"a, {k}"', lambda k: f'"b ""{k}"""'),
}


def make_csv(path: Path, seed: int) -> int:
    rng = np.random.default_rng(seed)
    names = list(rng.choice(list(KINDS), size=int(rng.integers(2, len(KINDS) + 1)), replace=False))
    n = int(rng.integers(200, 600))
    turn = {name: int(rng.integers(1, n)) for name in names}
    lines = [",".join(names)]
    for k in range(n):
        lines.append(",".join(KINDS[name][k >= turn[name]](k) for name in names))
    path.write_text("\n".join(lines) + "\n")
    return n


@pytest.mark.parametrize("seed", range(25))
def test_a_csv_gets_the_types_of_its_whole_file(tmp_path, monkeypatch, seed):
    block = 256 + 128 * (seed % 5)
    monkeypatch.setattr(csv_types, "CSV_BLOCK_BYTES", block)
    path = tmp_path / "late.csv"
    n = make_csv(path, seed)
    want = pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(block_size=block),
                           convert_options=pa_csv.ConvertOptions(strings_can_be_null=True))
    reader = TableReader(path)
    got = reader.read_arrow()
    assert got.num_rows == n
    assert got.schema == want.schema
    assert got.equals(want)
    assert reader.schema == want.schema
    changed = {c.column for c in reader.type_changes}
    first = pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(block_size=block),
                            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True)).schema
    before = {f.name: f.type for f in first}
    assert changed == {f.name for f in want.schema
                       if f.type != before[f.name] and not pa.types.is_null(before[f.name])}


# -- through the CLI ---------------------------------------------------------------------------
def _invoke(*args):
    from vae_anomaly.cli.app import app

    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11])
def test_scoring_a_lake_equals_scoring_what_pyarrow_dataset_reads(tmp_path, seed, one_torch_thread):
    lake = make_lake(tmp_path / "lake", seed)
    while len(lake.rids) < 30:  # enough rows to fit on
        seed += 100
        lake = make_lake(tmp_path / f"lake{seed}", seed)
    single = tmp_path / "single.parquet"
    pq.write_table(reference(lake), single)
    _invoke("fit", lake.root, "-m", tmp_path / "m.vae", "--epochs", "2", "--exclude", "rid", "--quiet")
    _invoke("score", lake.root, "-m", tmp_path / "m.vae", "-o", tmp_path / "lake.scores.parquet", "--quiet")
    _invoke("score", single, "-m", tmp_path / "m.vae", "-o", tmp_path / "single.scores.parquet", "--quiet")
    got = pq.read_table(tmp_path / "lake.scores.parquet").replace_schema_metadata(None)
    want = pq.read_table(tmp_path / "single.scores.parquet").replace_schema_metadata(None)
    assert got.equals(want)
    assert got["rid"].to_pylist() == lake.rids
