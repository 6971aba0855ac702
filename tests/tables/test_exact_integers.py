"""Integer columns with blanks keep every digit: 64-bit IDs and counts read from CSV or Parquet are
neither rounded through float64 at fit nor written back as floats by ``vae-detect score``."""

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.helpers import invoke
from vae_anomaly.tables.read import exact_integers


def table_with_blanks(n: int = 600) -> tuple[list[str], np.ndarray]:
    """CSV lines: a shuffled 64-bit event_id (one blank), a count with repeats (blanks), two readings."""
    rng = np.random.default_rng(0)
    ids = (1_850_000_000_000_000_000 + np.cumsum(rng.integers(1, 40, n)))[rng.permutation(n)]
    counts = rng.poisson(3, n)
    a, b = rng.normal(size=n), rng.normal(size=n)
    lines = ["event_id,count,a,b"]
    for i in range(n):
        lines.append(",".join(["" if i == 7 else str(ids[i]), "" if i % 50 == 3 else str(counts[i]),
                               repr(float(a[i])), repr(float(b[i]))]))
    return lines, ids


def test_the_reader_keeps_integers_with_nulls_exact():
    t = pa.table({"id": pa.array([1_850_000_000_000_006_490, None, 3], pa.int64()),
                  "u": pa.array([2**64 - 1, None, 0], pa.uint64()), "n": pa.array([1, 2, 3], pa.int64())})
    frame = exact_integers(t)
    assert frame["id"].tolist()[0] == 1_850_000_000_000_006_490 and frame["id"].isna().tolist()[1]
    assert frame["u"].tolist()[0] == 2**64 - 1
    assert frame["n"].dtype == np.int64  # without nulls: as pandas reads it


def test_csv_ids_and_counts_with_blanks_come_out_as_they_went_in(tmp_path, one_torch_thread):
    lines, _ = table_with_blanks()
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    fit = invoke("fit", tmp_path / "t.csv", "-m", tmp_path / "m.vae", "--epochs", 3)
    assert fit.exit_code == 0, fit.output
    assert "event_id: integer values, a distinct one in every row (599 of 599)" in fit.stderr
    assert "columns used (3): count, a, b" in fit.stderr
    out = invoke("score", tmp_path / "t.csv", "-m", tmp_path / "m.vae", "-o", tmp_path / "o.csv", "-q")
    assert out.exit_code == 0, out.output
    written = (tmp_path / "o.csv").read_text().splitlines()[1:]
    for given, got in zip(lines[1:], written, strict=True):
        assert got.split(",")[:2] == given.split(",")[:2]  # digits and blanks, not 1.85e+18 or 3.0


def test_parquet_without_pandas_metadata_keeps_its_integers(tmp_path, one_torch_thread):
    lines, _ = table_with_blanks()
    frame = pd.read_csv(io.StringIO("\n".join(lines)), dtype={"event_id": "Int64", "count": "Int64"})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None),
                   tmp_path / "t.parquet")
    fit = invoke("fit", tmp_path / "t.parquet", "-m", tmp_path / "m.vae", "--epochs", 3)
    assert fit.exit_code == 0 and "event_id: integer values" in fit.stderr
    out = invoke("score", tmp_path / "t.parquet", "-m", tmp_path / "m.vae", "-o", tmp_path / "o.parquet",
                 "-q")
    assert out.exit_code == 0, out.output
    scored = pq.read_table(tmp_path / "o.parquet")
    assert scored.column("event_id").type == pa.int64()
    assert scored.column("event_id").to_pylist() == frame["event_id"].astype(object).where(
        frame["event_id"].notna(), None).tolist()
