"""Writing hostile inputs and checking how a ``vae-detect`` command refused them.

A refusal, as listed in docs/reliability.md, is: exit code 1, exactly one
``error: ...`` line on stderr, no traceback, nothing on stdout, no output or
temporary file left, and the input's bytes unchanged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.helpers import hostile_frame

SCRIPT = Path(sys.executable).with_name("vae-detect")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
OUTPUT_COLUMNS = ["anomaly_score", "is_anomaly", "p_value", "top_feature"]
# A valid 1x1 PNG image.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63f80f0400090103fde355f29c0000000049454e44ae426082"
)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file and folder below ``root`` with its bytes."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(root.rglob("*"))}


def assert_refused(result, inp: Path, before: dict, out: Path | None = None) -> str:
    """Exit 1, one ``error:`` line, no traceback, no stdout, input unchanged, ``out`` still empty."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    assert snapshot(inp) == before, "the input changed, or something was written beside it"
    if out is not None:
        assert sorted(p.name for p in out.iterdir()) == [], "an output or temp file was left behind"
    return lines[0]


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def make_input(case: str, fmt: str, where: Path, base: pd.DataFrame) -> Path:
    """Write the hostile input ``case`` as ``where/in.<fmt>`` (or a folder for ``fmt="dir"``)."""
    path = where / f"in.{fmt}"
    rng = np.random.default_rng(1)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "png":
        path.write_bytes(PNG)
    elif case == "random_bytes":
        path.write_bytes(rng.bytes(4096))
    elif case == "latin1_header":
        text = "température,b,d,c,label\n" + "".join(f"{i}.5,{i},{-i},x,0\n" for i in range(50))
        path.write_bytes(text.encode("latin-1"))
    elif case == "duplicate_names":  # columns a, a, b, d, c, label
        doubled = pd.concat([base[["a"]] * 2, base], axis=1)
        if fmt == "csv":
            doubled.to_csv(path, index=False)
        else:
            columns = [pa.array(doubled.iloc[:, j]) for j in range(doubled.shape[1])]
            pq.write_table(pa.Table.from_arrays(columns, names=list(doubled.columns)), path)
    elif case == "empty_dir":
        path.mkdir()
    elif case == "dir_without_parquet":
        path.mkdir()
        base.to_csv(path / "part-0.csv", index=False)
        (path / "_SUCCESS").write_text("")
        (path / "data.parquet.crc").write_bytes(b"\x00\x01")
    else:
        write_frame(hostile_frame(case, base), path)
    return path


def command(name: str, data: Path, out: Path, model: Path, *extra) -> list:
    if name == "fit":
        return ["fit", data, "-m", out / "model.vae", "-x", "label", "--epochs", 1, "--seed", 0, *extra]
    if name == "score":
        return ["score", data, "-m", model, "-o", out / "scores.parquet", *extra]
    return ["evaluate", data, "-m", model, "-l", "label", *extra]
