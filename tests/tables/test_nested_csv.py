"""Nested pass-through columns (list, struct, map) go to CSV as JSON text; fit says why it leaves them out.

Issue 26, item 5.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vae_anomaly import InvalidInputError, VAEDetector
from vae_anomaly.cli.app import app
from vae_anomaly.features.columns import choose_columns, ignore_reason
from vae_anomaly.tables.csv_text import csv_batch, json_cells
from vae_anomaly.tables.write import AtomicTableWriter, StreamTableWriter

runner = CliRunner()
N = 200


def _nested_table() -> pa.Table:
    """Two numeric columns and three nested ones, with missing cells in each nested column."""
    rng = np.random.default_rng(0)
    vec = [None if i % 7 == 0 else [int(i), int(i) + 1] for i in range(N)]
    meta = [None if i % 5 == 0 else {"k": int(i % 3), "tag": f"t{i % 4}"} for i in range(N)]
    attrs = [None if i % 6 == 0 else [("a", int(i)), ("b", None)] for i in range(N)]
    return pa.table({
        "x": rng.normal(size=N), "y": rng.normal(size=N),
        "vec": pa.array(vec, pa.list_(pa.int64())),
        "meta": pa.array(meta, pa.struct([("k", pa.int64()), ("tag", pa.string())])),
        "attrs": pa.array(attrs, pa.map_(pa.string(), pa.int64())),
    })


def _expected(table: pa.Table, name: str) -> list:
    """What each cell of a nested column should read as in JSON (None: an empty cell)."""
    out = []
    for v in table.column(name).to_pylist():
        if v is not None and name == "attrs":
            v = dict(v)
        out.append(v)
    return out


def _check_json_columns(rows: list[dict], table: pa.Table) -> None:
    for name in ("vec", "meta", "attrs"):
        got = [None if r[name] == "" else json.loads(r[name]) for r in rows]
        assert got == _expected(table, name), name


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> tuple[Path, Path, pa.Table, dict]:
    """A Parquet file with nested columns, and a model fitted on it through the CLI."""
    where = tmp_path_factory.mktemp("nested")
    table = _nested_table()
    pq.write_table(table, where / "data.parquet")
    model = where / "model.vae"
    result = runner.invoke(app, ["fit", str(where / "data.parquet"), "-m", str(model), "--epochs", "2",
                                 "--seed", "0", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    return where, model, table, json.loads(result.stdout)


def test_fit_states_the_nested_reason(lake):
    *_, summary = lake
    ignored = summary["columns_ignored"]
    assert summary["columns_used"] == ["x", "y"]
    assert set(ignored) == {"vec", "meta", "attrs"}
    # The types are inferred from the values pandas holds, where integers with gaps may be floats.
    assert ignored["vec"] == "nested values (list<item: int64>) are not modelled"
    assert re.fullmatch(r"nested values \(struct<k: \w+, tag: string>\) are not modelled", ignored["meta"])
    assert re.fullmatch(r"nested values \(map<string, \w+>\) are not modelled", ignored["attrs"])
    assert not any("mixes value types" in reason for reason in ignored.values())


def test_ignore_reason_for_nested_columns_from_pandas():
    frame = _nested_table().to_pandas()
    assert ignore_reason(frame["vec"]) == "nested values (list<item: int64>) are not modelled"
    assert re.fullmatch(r"nested values \(map<string, \w+>\) are not modelled", ignore_reason(frame["attrs"]))
    arrow_backed = _nested_table().to_pandas(types_mapper=pd.ArrowDtype)
    reason = ignore_reason(arrow_backed["meta"])
    assert reason == "nested values (struct<k: int64, tag: string>) are not modelled"
    assert choose_columns(frame).used == ["x", "y"]
    assert ignore_reason(pd.Series(["[1, 2]", "[3]"])) is None  # text that looks like a list is text


def test_estimator_refuses_a_nested_column_by_name():
    frame = _nested_table().to_pandas()
    with pytest.raises(InvalidInputError, match=r"column 'vec' holds nested values \(list<item: int64>\)"):
        VAEDetector(max_iter=1).fit(frame[["x", "vec"]])


def test_score_to_csv_file_writes_nested_columns_as_json(lake):
    where, model, table, _ = lake
    out = where / "scores.csv"
    result = runner.invoke(app, ["score", str(where / "data.parquet"), "-m", str(model), "-o", str(out),
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == N
    _check_json_columns(rows, table)
    assert [float(r["x"]) for r in rows] == pytest.approx(table.column("x").to_pylist())


def test_score_to_stdout_writes_nested_columns_as_json(lake):
    where, model, table, _ = lake
    result = runner.invoke(app, ["score", str(where / "data.parquet"), "-m", str(model), "-o", "-",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == N
    _check_json_columns(rows, table)


def test_csv_output_reads_back_with_pandas(lake):
    where, model, table, _ = lake
    out = where / "again.csv"
    result = runner.invoke(app, ["score", str(where / "data.parquet"), "-m", str(model), "-o", str(out),
                                 "--columns-out", "vec", "--quiet"])
    assert result.exit_code == 0, result.output
    back = pd.read_csv(out)
    assert [None if isinstance(v, float) else json.loads(v) for v in back["vec"]] == _expected(table, "vec")


def test_json_cells_follow_the_types():
    assert json_cells(pa.array([[1.5, None, float("nan")], None])).to_pylist() == ["[1.5,null,null]", None]
    maps = pa.array([[(1, "x"), (2, None)], []], pa.map_(pa.int64(), pa.string()))
    assert json_cells(maps).to_pylist() == ['{"1":"x","2":null}', "{}"]
    nested = pa.array([{"v": [1, 2], "s": {"t": "é"}}])
    assert json.loads(json_cells(nested)[0].as_py()) == {"v": [1, 2], "s": {"t": "é"}}
    stamps = pa.array([[0]], pa.list_(pa.timestamp("s", tz="UTC")))
    assert json_cells(stamps).to_pylist() == ['["1970-01-01T00:00:00+00:00"]']


def test_flat_batches_pass_through_unchanged():
    batch = pa.record_batch({"x": [1.0, math.nan], "s": ["a", None]})
    assert csv_batch(batch) is batch


@pytest.mark.parametrize("writer", ["atomic", "stream"])
def test_writers_turn_nested_columns_into_json(tmp_path, writer):
    batch = pa.record_batch({"x": [1.0, 2.0], "vec": pa.array([[1], None]),
                             "view": pa.array(["a", None], pa.string_view())})
    if writer == "atomic":
        with AtomicTableWriter(tmp_path / "out.csv") as w:
            w.write(batch)
        text = (tmp_path / "out.csv").read_text()
    else:
        sink = io.BytesIO()
        with StreamTableWriter(sink) as w:
            w.write(batch)
        text = sink.getvalue().decode()
    assert text.splitlines() == ['"x","vec","view"', '1,"[1]","a"', "2,,"]


def test_empty_output_with_a_nested_schema(tmp_path):
    schema = pa.schema([("vec", pa.list_(pa.int64()))])
    with AtomicTableWriter(tmp_path / "empty.csv", schema=schema):
        pass
    assert (tmp_path / "empty.csv").read_text().splitlines() == ['"vec"']
