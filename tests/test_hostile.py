"""Hostile inputs to ``fit``, ``score``, ``evaluate`` and ``info``, and to the library.

Every case ends one of two ways, as listed in docs/reliability.md:

* refused: exit code 1, exactly one ``error: ...`` line on stderr, no traceback,
  nothing on stdout, no output or temporary file left, and the input's bytes
  unchanged (the library raises a ``ValueError`` subclass naming the column);
* a documented result, checked here.

Every case passes; each was first written as a failing test, then fixed.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner
from vae_anomaly.cli.app import app

from vae_anomaly import InvalidInputError, VAEDetector

from .conftest import repack_model

SCRIPT = Path(sys.executable).with_name("vae-detect")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
OUTPUT_COLUMNS = ["anomaly_score", "is_anomaly", "p_value", "top_feature"]
# A valid 1x1 PNG image.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63f80f0400090103fde355f29c0000000049454e44ae426082"
)
runner = CliRunner()



def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


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


def base_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three correlated numeric columns, a text category and a 0/1 label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) @ np.array([[1.0, 0.6, 0.2], [0.0, 0.8, 0.3], [0.0, 0.0, 0.9]])
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "d": x[:, 2], "c": rng.choice(["x", "y", "z"], n),
                         "label": (rng.random(n) < 0.05).astype(np.int64)})


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def hostile_frame(case: str, base: pd.DataFrame) -> pd.DataFrame:
    frame = base.copy()
    if case == "header_only":
        return frame.iloc[:0]
    if case == "one_row":
        return frame.iloc[:1]
    if case == "all_nan_column":
        return frame.assign(a=np.nan)
    if case == "all_constant":
        return frame.assign(a=1.0, b=2.0, d=-3.0, c="x", label=0)
    if case == "plus_inf":
        frame.loc[7, "a"] = np.inf
    elif case == "minus_inf":
        frame.loc[7, "a"] = -np.inf
    elif case == "huge":
        frame.loc[7, "a"] = 1e308
    elif case == "text_in_numeric":
        frame["a"] = frame["a"].astype(str)
        frame.loc[7, "a"] = "oops"
    elif case == "mixed_object":  # only CSV can hold it; there it is all text
        frame["c"] = frame["c"].astype(object)
        frame.loc[::4, "c"] = 7
    else:
        raise ValueError(case)
    return frame


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
            pq.write_table(pa.Table.from_arrays([pa.array(doubled.iloc[:, j]) for j in range(doubled.shape[1])],
                                                names=list(doubled.columns)), path)
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


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return base_frame()


@pytest.fixture(scope="module")
def model(base, tmp_path_factory) -> Path:
    """A small model on columns a, b, d and c, fitted through the CLI."""
    where = tmp_path_factory.mktemp("hostile_model")
    data = write_frame(base, where / "train.parquet")
    result = invoke("fit", data, "-m", where / "model.vae", "-x", "label", "--epochs", 2, "--seed", 0, "-q")
    assert result.exit_code == 0, result.output
    return where / "model.vae"


@pytest.fixture(scope="module")
def detector(model) -> VAEDetector:
    return VAEDetector.load(model)


@pytest.fixture()
def dirs(tmp_path) -> tuple[Path, Path]:
    """``in/`` for the input, ``out/`` for whatever a command writes."""
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    out.mkdir()
    return inp, out


def command(name: str, data: Path, out: Path, model: Path, *extra) -> list:
    if name == "fit":
        return ["fit", data, "-m", out / "model.vae", "-x", "label", "--epochs", 1, "--seed", 0, *extra]
    if name == "score":
        return ["score", data, "-m", model, "-o", out / "scores.parquet", *extra]
    return ["evaluate", data, "-m", model, "-l", "label", *extra]


# ------------------------------------------------------------------------------------------
# inputs refused by every command that reads a table
# ------------------------------------------------------------------------------------------
REFUSED = [
    ("empty", "csv", "error: in.csv is empty (0 bytes)"),
    ("empty", "parquet", "error: in.parquet is empty (0 bytes)"),
    ("header_only", "csv", "error: in.csv has no rows"),
    ("header_only", "parquet", "error: in.parquet has no rows"),
    ("plus_inf", "csv", "error: column 'a' holds an infinite value (inf) at row 7"),
    ("plus_inf", "parquet", "error: column 'a' holds an infinite value (inf) at row 7"),
    ("minus_inf", "parquet", "error: column 'a' holds an infinite value (-inf) at row 7"),
    ("huge", "csv", "error: column 'a' holds a value too large to model (1e+308)"),
    ("huge", "parquet", "error: column 'a' holds a value too large to model (1e+308)"),
    ("png", "parquet", "error: in.parquet is not a readable Parquet file"),
    ("random_bytes", "parquet", "error: in.parquet is not a readable Parquet file"),
    ("random_bytes", "csv", "error: in.csv is not a readable CSV file"),
    ("random_bytes", "arrow", "error: in.arrow is not a readable Arrow IPC file"),
    ("empty_dir", "dir", "error: directory "),
    ("dir_without_parquet", "dir", "error: directory "),
    pytest.param("png", "csv", "error: in.csv is not a readable CSV file"),
    pytest.param("latin1_header", "csv", "error: in.csv is not a readable CSV file"),
    pytest.param("duplicate_names", "csv", "error: in.csv has more than one column named 'a'"),
    pytest.param("duplicate_names", "parquet", "error: in.parquet has more than one column named 'a'"),
]


@pytest.mark.parametrize("name", ["fit", "score", "evaluate"])
@pytest.mark.parametrize(("case", "fmt", "message"), REFUSED)
def test_hostile_table_is_refused_in_one_line(name, case, fmt, message, base, model, dirs):
    inp, out = dirs
    data = make_input(case, fmt, inp, base)
    before = snapshot(inp)
    line = assert_refused(invoke(*command(name, data, out, model)), inp, before, out)
    assert line.startswith(message), line
    if case.endswith("dir"):
        assert line.endswith("holds no .parquet files"), line
    assert line.isprintable() and len(line) <= 410


def fit_leaves_out_a(data, out, model, inp, before) -> tuple[dict, str]:
    """``fit`` succeeds without ``--columns`` (its JSON summary is returned) and, once that
    model is removed, refuses ``-c a -c b`` (its one error line is returned, nothing written)."""
    fitted = invoke(*command("fit", data, out, model, "--json", "-q"))
    assert fitted.exit_code == 0, fitted.output
    (out / "model.vae").unlink()
    line = assert_refused(invoke(*command("fit", data, out, model, "-c", "a", "-c", "b")), inp, before, out)
    return json.loads(fitted.stdout), line


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_text_in_a_numeric_column(fmt, base, model, dirs, detector):
    """fit: the column is left out, with the reason; with --columns, refused. score/evaluate: refused."""
    inp, out = dirs
    data = make_input("text_in_numeric", fmt, inp, base)
    before = snapshot(inp)
    summary, line = fit_leaves_out_a(data, out, model, inp, before)
    assert summary["columns_used"] == ["b", "d", "c"]
    assert "300 distinct values" in summary["columns_ignored"]["a"]
    assert line.startswith("error: column 'a' has 300 distinct text values")
    for name in ("score", "evaluate"):
        line = assert_refused(invoke(*command(name, data, out, model)), inp, before, out)
        assert "column 'a'" in line and ("'oops'" in line or "was numeric (float64) at fit time" in line), line
    # With few distinct values the text column is modelled as categories, as any text column is.
    few = base.assign(a=(np.arange(len(base)) % 3).astype(str))
    few.loc[7, "a"] = "oops"
    data = write_frame(few, inp / f"few.{fmt}")
    assert invoke(*command("fit", data, out, model, "-q")).exit_code == 0
    columns = {c["name"]: c for c in json.loads(invoke("info", out / "model.vae", "--json").stdout)["columns"]}
    assert columns["a"]["kind"] == "categorical" and columns["a"]["categories"] == ["0", "1", "2", "oops"]


# ------------------------------------------------------------------------------------------
# inputs with a documented result
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_fit_on_one_row_is_refused(fmt, base, model, dirs):
    inp, out = dirs
    data = make_input("one_row", fmt, inp, base)
    line = assert_refused(invoke(*command("fit", data, out, model)), inp, snapshot(inp), out)
    assert "row" in line


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_row_is_scored_and_evaluated(fmt, base, model, dirs, detector):
    inp, out = dirs
    data = make_input("one_row", fmt, inp, base)
    scored = invoke(*command("score", data, out, model, "-q"))
    assert scored.exit_code == 0, scored.output
    got = pd.read_parquet(out / "scores.parquet")
    assert len(got) == 1 and list(got.columns) == list(base.columns) + OUTPUT_COLUMNS
    assert got["anomaly_score"].iloc[0] == detector.score_details(base.iloc[:1]).anomaly_score[0]
    evaluated = invoke(*command("evaluate", data, out, model, "--json"))
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)
    assert metrics["n_rows"] == 1 and metrics["auc_roc"] is None  # one class: AUC undefined


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_all_nan_column(fmt, base, model, dirs, detector):
    """fit leaves the column out (or refuses it by name); scoring treats every cell as missing."""
    inp, out = dirs
    data = make_input("all_nan_column", fmt, inp, base)
    before = snapshot(inp)
    summary, line = fit_leaves_out_a(data, out, model, inp, before)
    assert summary["columns_ignored"] == {"a": "all values are missing"}
    assert line == "error: column 'a' has no observed values"
    scored = invoke(*command("score", data, out, model, "-q"))
    assert scored.exit_code == 0, scored.output
    got = pd.read_parquet(out / "scores.parquet")
    assert np.isfinite(got["anomaly_score"]).all()
    want = detector.score_details(base.assign(a=np.nan)).anomaly_score
    np.testing.assert_array_equal(got["anomaly_score"].to_numpy(), want)
    assert invoke(*command("evaluate", data, out, model, "-q")).exit_code == 0


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_all_columns_constant(fmt, base, model, dirs):
    """A model of constant data gives every such row the same score, equal to the threshold: none flagged."""
    inp, out = dirs
    data = make_input("all_constant", fmt, inp, base)
    fitted = invoke(*command("fit", data, out, model, "-q"))
    assert fitted.exit_code == 0, fitted.output
    assert invoke("score", data, "-m", out / "model.vae", "-o", out / "own.parquet", "-q").exit_code == 0
    own = pd.read_parquet(out / "own.parquet")
    assert own["anomaly_score"].nunique() == 1 and np.isfinite(own["anomaly_score"]).all()
    assert not own["is_anomaly"].any()
    assert invoke(*command("score", data, out, model, "-q")).exit_code == 0
    assert np.isfinite(pd.read_parquet(out / "scores.parquet")["anomaly_score"]).all()
    assert invoke(*command("evaluate", data, out, model, "-q")).exit_code == 0


def test_mixed_types_in_a_csv_column_are_text(base, model, dirs, detector):
    """CSV has no types: a column of "x", "y" and 7 is text with a level "7", unseen by the model."""
    inp, out = dirs
    data = make_input("mixed_object", "csv", inp, base)
    fitted = invoke(*command("fit", data, out, model, "-q"))
    assert fitted.exit_code == 0, fitted.output
    info = json.loads(invoke("info", out / "model.vae", "--json").stdout)
    levels = {c["name"]: c["categories"] for c in info["columns"]}
    assert levels["c"] == ["7", "x", "y", "z"]
    assert invoke(*command("score", data, out, model, "-q")).exit_code == 0
    got = pd.read_parquet(out / "scores.parquet")
    assert np.isfinite(got["anomaly_score"]).all()
    seen = got["c"].astype(str) != "7"
    np.testing.assert_array_equal(got.loc[seen, "anomaly_score"],
                                  detector.score_details(base[seen.to_numpy()]).anomaly_score)


def test_unicode_column_names_round_trip(base, dirs):
    inp, out = dirs
    names = {"a": "température", "b": "压力 (kPa)", "d": "🙂 x", "c": "état"}
    data = write_frame(base.rename(columns=names), inp / "in.parquet")
    csv = write_frame(base.rename(columns=names), inp / "in.csv")
    model = out / "model.vae"
    fitted = invoke("fit", data, "-m", model, "-x", "label", "--epochs", 1, "--seed", 0, "--json", "-q")
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.stdout)["columns_used"] == list(names.values())
    info = invoke("info", model)
    assert info.exit_code == 0 and all(n in info.stdout for n in names.values())
    for source in (data, csv):
        target = out / f"scores_{source.suffix[1:]}.parquet"
        assert invoke("score", source, "-m", model, "-o", target, "-q").exit_code == 0
        got = pd.read_parquet(target)
        assert list(got.columns) == list(names.values()) + ["label"] + OUTPUT_COLUMNS
        assert set(got["top_feature"].astype(str)) <= set(names.values())
    np.testing.assert_array_equal(pd.read_parquet(out / "scores_parquet.parquet")["anomaly_score"],
                                  pd.read_parquet(out / "scores_csv.parquet")["anomaly_score"])
    evaluated = invoke("evaluate", csv, "-m", model, "-l", "label", "--json")
    assert evaluated.exit_code == 0 and json.loads(evaluated.stdout)["n_rows"] == len(base)


@pytest.mark.slow
def test_five_thousand_columns(dirs):
    """A wide table (5,000 numeric columns, 30 rows) goes through every command."""
    inp, out = dirs
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(30, 5000)), columns=[f"f{i}" for i in range(5000)])
    wide["label"] = np.arange(30) % 10 == 0
    data = write_frame(wide, inp / "wide.parquet")
    model = out / "wide.vae"
    fitted = invoke("fit", data, "-m", model, "-x", "label", "--epochs", 1, "--seed", 0, "--json", "-q")
    assert fitted.exit_code == 0, fitted.output
    assert len(json.loads(fitted.stdout)["columns_used"]) == 5000
    scored = invoke("score", data, "-m", model, "-o", out / "s.parquet", "--columns-out", "label", "-q")
    assert scored.exit_code == 0, scored.output
    got = pd.read_parquet(out / "s.parquet")
    assert len(got) == 30 and np.isfinite(got["anomaly_score"]).all()
    assert invoke("evaluate", data, "-m", model, "-l", "label", "-q").exit_code == 0
    info = invoke("info", model, "--json")
    assert info.exit_code == 0 and len(json.loads(info.stdout)["columns"]) == 5000


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_extreme_finite_values_are_flagged_not_nan(base, model, dirs, detector):
    """Values below the 1e150 limit are accepted; their rows must come out flagged (score +inf at worst)."""
    inp, out = dirs
    grid = np.array([-1e100, -1e39, -1e20, 1e20, 1e39, 1e100])
    a, b, d = (v.ravel() for v in np.meshgrid(grid, grid, grid, indexing="ij"))
    frame = pd.DataFrame({"a": a, "b": b, "d": d, "c": "x", "label": 1})
    data = write_frame(frame, inp / "in.parquet")
    assert invoke(*command("score", data, out, model, "-q")).exit_code == 0
    got = pd.read_parquet(out / "scores.parquet")
    assert not got["anomaly_score"].isna().any(), f"{got['anomaly_score'].isna().sum()} NaN scores"
    assert got["is_anomaly"].all()


def test_list_cells_in_a_categorical_column_are_refused(base, model, dirs):
    inp, out = dirs
    table = pa.Table.from_pandas(base, preserve_index=False).replace_schema_metadata(None)
    table = table.set_column(3, "c", pa.array([[1, 2]] * len(base)))
    pq.write_table(table, inp / "in.parquet")
    line = assert_refused(invoke(*command("score", inp / "in.parquet", out, model)), inp, snapshot(inp), out)
    assert "column 'c'" in line


@pytest.mark.parametrize(("labels", "message"), [
    ("missing", "error: label column 'nolabel' is not in in.parquet"),
    ("text", "error: label column 'label' should hold 0/1 or true/false but holds 'maybe'"),
    ("all_nan", "error: label column 'label' has 300 missing value(s)"),
])
def test_evaluate_refuses_bad_labels(labels, message, base, model, dirs):
    inp, out = dirs
    frame = {"missing": base, "text": base.assign(label="maybe"), "all_nan": base.assign(label=np.nan)}[labels]
    data = write_frame(frame, inp / "in.parquet")
    column = "nolabel" if labels == "missing" else "label"
    line = assert_refused(invoke("evaluate", data, "-m", model, "-l", column), inp, snapshot(inp), out)
    assert line == message


# ------------------------------------------------------------------------------------------
# output paths
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fit", "score"])
def test_output_in_a_missing_directory(name, base, model, dirs):
    inp, out = dirs
    data = write_frame(base, inp / "in.parquet")
    target = out / "no" / "such" / ("m.vae" if name == "fit" else "s.parquet")
    args = (["fit", data, "-m", target, "-x", "label", "--epochs", 1] if name == "fit"
            else ["score", data, "-m", model, "-o", target])
    line = assert_refused(invoke(*args), inp, snapshot(inp), out)
    assert line == f"error: output directory {target.parent} does not exist"


@pytest.mark.parametrize("name", ["fit", "score"])
def test_output_that_is_a_directory(name, base, model, dirs):
    inp, out = dirs
    data = write_frame(base, inp / "in.parquet")
    args = ["fit", data, "-m", out, "--epochs", 1] if name == "fit" else ["score", data, "-m", model, "-o", out]
    line = assert_refused(invoke(*args), inp, snapshot(inp), out)
    assert line == f"error: output {out} is a directory"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_output_that_is_the_input(fmt, base, model, dirs):
    inp, out = dirs
    data = write_frame(base, inp / f"in.{fmt}")
    line = assert_refused(invoke("score", data, "-m", model, "-o", data), inp, snapshot(inp), out)
    assert line == f"error: output {data} is the input file; choose another output path"


def _unwritable_args(name: str, data: Path, target_dir: Path, model: Path) -> list:
    if name == "fit":
        return ["fit", data, "-m", target_dir / "m.vae", "-x", "label", "--epochs", 1, "--seed", 0]
    return ["score", data, "-m", model, "-o", target_dir / "s.parquet"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="running as root: chmod cannot make a directory read-only (see the simulated tests)")
@pytest.mark.parametrize("name", ["fit", "score"])
def test_read_only_output_directory(name, base, model, dirs):
    inp, out = dirs
    data = write_frame(base, inp / "in.parquet")
    out.chmod(0o500)
    try:
        line = assert_refused(invoke(*_unwritable_args(name, data, out, model)), inp, snapshot(inp), out)
    finally:
        out.chmod(0o700)
    assert line == f"error: output directory {out} is not writable"


@pytest.mark.parametrize("name", ["fit", "score"])
def test_read_only_output_directory_by_access_check(name, base, model, dirs, monkeypatch):
    """As root chmod does not bite, so make ``os.access`` report the directory read-only."""
    inp, out = dirs
    data = write_frame(base, inp / "in.parquet")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != out and real_access(path, mode, **kw))
    line = assert_refused(invoke(*_unwritable_args(name, data, out, model)), inp, snapshot(inp), out)
    assert line == f"error: output directory {out} is not writable"


@pytest.mark.parametrize("name", ["fit", "score"])
def test_read_only_output_directory_refusing_the_temp_file(name, base, model, dirs, monkeypatch):
    """The access check passes but creating the temporary file fails (a read-only mount, an ACL)."""
    inp, out = dirs
    data = write_frame(base, inp / "in.parquet")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(out / ".tmpXYZ"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    line = assert_refused(invoke(*_unwritable_args(name, data, out, model)), inp, snapshot(inp), out)
    if name == "fit":
        assert line == f"error: Permission denied: {out / 'm.vae'}"
    else:
        assert line == f"error: cannot write to {out}: Permission denied"


# ------------------------------------------------------------------------------------------
# hostile model files
# ------------------------------------------------------------------------------------------


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _hostile_model(case: str, good: bytes, where: Path) -> Path:
    path = where / "model.vae"
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10

    def set_(key, value):
        return lambda meta: meta.__setitem__(key, value)

    contents = {
        "empty": b"",
        "text": b"not a model\n",
        "png": PNG,
        "random_bytes": np.random.default_rng(2).bytes(2048),
        "pickle": pickle.dumps(_Exploit()),
        "truncated": good[: len(good) // 2],
        "bit_flipped": bytes(flipped),
        "newer_format": repack_model(good, lambda m: m.update(format_version=99)),
        "pickle_member": repack_model(good, extra={"payload.pkl": pickle.dumps(_Exploit())}),
        "no_network": repack_model(good, lambda m: m.pop("network")),
        "training_is_text": repack_model(good, set_("training", "fast")),
        "schema_of_numbers": repack_model(good, lambda m: m["preprocessing"].update(schema=[1, 2])),
        "window_is_text": repack_model(good, set_("window", "wide")),
        "bad_weights": repack_model(good, lambda m: m["network"].update(latent_dim=999)),
    }
    if case == "missing":
        return path
    if case == "directory":
        path.mkdir()
        return path
    if case == "data_file":
        path = where / "table.parquet"
        write_frame(base_frame(20), path)
        return path
    path.write_bytes(contents[case])
    return path


MODEL_CASES = {
    "missing": "does not exist", "directory": "is a directory", "data_file": "not a vae-anomaly model file",
    "empty": "not a vae-anomaly model file", "text": "not a vae-anomaly model file",
    "png": "not a vae-anomaly model file", "random_bytes": "not a vae-anomaly model file",
    "pickle": "is a pickle", "truncated": "truncated", "bit_flipped": "checksum does not match",
    "newer_format": "model format version 99", "pickle_member": "unexpected members",
    "no_network": "'network' section", "training_is_text": "'training' section",
    "schema_of_numbers": "column schema", "window_is_text": "'window' section", "bad_weights": "is corrupt",
}


@pytest.mark.parametrize("name", ["info", "score", "evaluate"])
@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_hostile_model_file_is_refused(name, case, base, model, dirs, monkeypatch):
    inp, out = dirs
    monkeypatch.chdir(out)  # a pickle that ran would leave out/pwned behind
    if case == "bad_weights" and name == "info":
        pytest.skip("info reads only the metadata; the weights are checked when the network is built")
    bad = _hostile_model(case, model.read_bytes(), inp)
    data = write_frame(base, inp / "in.parquet")
    before = snapshot(inp)
    args = {"info": ["info", bad], "score": ["score", data, "-m", bad, "-o", out / "s.parquet"],
            "evaluate": ["evaluate", data, "-m", bad, "-l", "label"]}[name]
    line = assert_refused(invoke(*args), inp, before, out)
    assert MODEL_CASES[case] in line, line


# ------------------------------------------------------------------------------------------
# the installed script, and several processes at once
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_errors_through_the_installed_script(base, model, tmp_path):
    """The same guarantees with real processes (three at once): exit status 1, one stderr line, no traceback."""
    runs = {}
    for i, (name, case, fmt) in enumerate([("score", "empty", "csv"), ("fit", "png", "parquet")]):
        inp, out = tmp_path / f"in{i}", tmp_path / f"out{i}"
        inp.mkdir()
        out.mkdir()
        data = make_input(case, fmt, inp, base)
        args = [str(a) for a in command(name, data, out, model)]
        runs[(name, case)] = (inp, out, snapshot(inp), subprocess.Popen(
            [str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV))
    bad = tmp_path / "model.pkl.vae"
    bad.write_bytes(pickle.dumps({"weights": [1.0]}))
    info = subprocess.Popen([str(SCRIPT), "info", str(bad)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    for (name, case), (inp, out, before, proc) in runs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 1, (name, case, stderr)
        assert stdout == "" and "Traceback" not in stderr
        assert len(stderr.splitlines()) == 1 and stderr.startswith("error: "), (name, case, stderr)
        assert snapshot(inp) == before and list(out.iterdir()) == []
    stdout, stderr = info.communicate(timeout=120)
    assert info.returncode == 1 and stdout == ""
    assert stderr.splitlines() == [f"error: {bad} is a pickle, not a vae-anomaly model file; it was not loaded"]


@pytest.mark.slow
def test_concurrent_scoring_from_several_processes(model, detector, tmp_path):
    """Four processes score the same model at once (two of them to the same file): all succeed, same bytes."""
    frame = base_frame(10_000, seed=3)
    data = write_frame(frame, tmp_path / "today.parquet")
    model_bytes = model.read_bytes()
    outputs = [tmp_path / "s1.parquet", tmp_path / "s2.parquet", tmp_path / "s3.parquet", tmp_path / "s1.parquet"]
    procs = [subprocess.Popen([str(SCRIPT), "score", str(data), "-m", str(model), "-o", str(o), "--batch-size",
                               "2000", "--jobs", "2", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV) for o in outputs]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0 and stdout == "" and stderr == "", stderr
    assert model.read_bytes() == model_bytes
    first = outputs[0].read_bytes()
    assert all(o.read_bytes() == first for o in outputs[1:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1.parquet", "s2.parquet", "s3.parquet", "today.parquet"]
    got = pd.read_parquet(outputs[0])
    np.testing.assert_array_equal(got["anomaly_score"].to_numpy(), detector.score_details(frame).anomaly_score)


# ------------------------------------------------------------------------------------------
# the library: VAEDetector.fit and scoring on the same inputs
# ------------------------------------------------------------------------------------------
LIBRARY_REFUSED = [
    ("all_nan_column", r"column 'a' has no observed values"),
    ("plus_inf", r"column 'a' holds an infinite value \(inf\) at row 7"),
    ("minus_inf", r"column 'a' holds an infinite value \(-inf\) at row 7"),
    ("huge", r"column 'a' holds a value too large to model"),
    ("text_in_numeric", r"column 'a' mixes value types \(float, str\)"),
    ("mixed_object", r"column 'c' mixes value types \(int, str\)"),
]


@pytest.mark.parametrize(("case", "message"), LIBRARY_REFUSED)
def test_fit_refuses_a_bad_column_by_name(case, message, base):
    frame = hostile_frame(case, base).drop(columns="label")
    if case == "text_in_numeric":  # as a user would have it: numbers with one stray string
        frame["a"] = base["a"].astype(object)
        frame.loc[7, "a"] = "oops"
    with pytest.raises(InvalidInputError, match=message):
        VAEDetector(max_iter=1, random_state=0).fit(frame)


def test_fit_refuses_tables_too_small_or_without_columns(base):
    """sklearn's contract: a ValueError that says what is wrong (never a numpy or torch error)."""
    for frame, message in [(base.iloc[:0], "0 sample"), (base.iloc[:1], "1 sample"),
                           (pd.DataFrame(index=range(5)), "0 feature")]:
        with pytest.raises(ValueError, match=message):
            VAEDetector(max_iter=1).fit(frame)
    with pytest.raises(ValueError, match="minimum of 2"):
        VAEDetector(max_iter=1).fit(np.ones((1, 3)))


def test_fit_refuses_duplicate_column_names(base):
    frame = base[["a", "b", "d"]].set_axis(["a", "a", "d"], axis=1)
    with pytest.raises(ValueError, match="'a'"):
        VAEDetector(max_iter=1).fit(frame)


def test_fit_refuses_bad_arrays_naming_the_column():
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[4, 1] = np.inf
    with pytest.raises(InvalidInputError, match=r"column 'x1' holds an infinite value"):
        VAEDetector(max_iter=1).fit(x)
    x[4, 1] = np.nan
    x[:, 2] = np.nan
    with pytest.raises(InvalidInputError, match=r"column 'x2' has no observed values"):
        VAEDetector(max_iter=1).fit(x)


def test_constant_columns_fit_and_score_equally(base):
    frame = hostile_frame("all_constant", base).drop(columns="label")
    det = VAEDetector(max_iter=2, random_state=0).fit(frame)
    scores = det.score_samples(frame)
    assert np.isfinite(scores).all() and np.unique(scores).size == 1
    assert (det.predict(frame) == 1).all()


def test_unicode_names_survive_fit_save_and_load(base, tmp_path):
    frame = base.drop(columns="label").rename(columns={"a": "température", "b": "压力", "d": "🙂", "c": ""})
    det = VAEDetector(max_iter=2, random_state=0).fit(frame)
    det.save(tmp_path / "m.vae")
    back = VAEDetector.load(tmp_path / "m.vae")
    assert list(back.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(back.score_samples(frame), det.score_samples(frame))
    assert list(back.feature_contributions(frame).columns) == list(frame.columns)


def test_five_thousand_columns_in_the_library():
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 5000)),
                         columns=[f"f{i}" for i in range(5000)])
    det = VAEDetector(max_iter=1, random_state=0).fit(frame)
    assert det.n_features_in_ == 5000 and np.isfinite(det.score_samples(frame)).all()


@pytest.mark.parametrize(("case", "message"), [
    ("plus_inf", r"column 'a' holds an infinite value"),
    ("huge", r"column 'a' holds a value too large"),
    ("text_in_numeric", r"column 'a' was numeric \(float64\) at fit time"),
])
def test_scoring_refuses_a_bad_column_by_name(case, message, base, detector):
    frame = hostile_frame(case, base)
    with pytest.raises(InvalidInputError, match=message):
        detector.score_samples(frame.drop(columns="label"))
    with pytest.raises(InvalidInputError, match=message):
        detector.score_details(frame)
    stray = base.drop(columns="label").astype({"a": object})
    stray.loc[7, "a"] = "oops"
    with pytest.raises(InvalidInputError, match=r"column 'a' should be numeric but holds 'oops'"):
        detector.score_samples(stray)


def test_scoring_documented_results(base, detector):
    features = base.drop(columns="label")
    assert detector.score_samples(features.iloc[:0]).shape == (0,)  # no rows in, no scores out
    missing = detector.score_samples(features.assign(a=np.nan))
    assert np.isfinite(missing).all()  # a missing cell adds its typical term
    unseen = detector.score_details(features.assign(c="never seen"))
    assert np.isfinite(unseen.anomaly_score).all()
    assert (unseen.anomaly_score > detector.score_details(features).anomaly_score).mean() > 0.9


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_library_extreme_finite_values_are_flagged_not_nan(detector):
    grid = np.array([-1e100, -1e39, -1e20, 1e20, 1e39, 1e100])
    a, b, d = (v.ravel() for v in np.meshgrid(grid, grid, grid, indexing="ij"))
    details = detector.score_details(pd.DataFrame({"a": a, "b": b, "d": d, "c": "x"}))
    assert not np.isnan(details.anomaly_score).any()
    assert details.is_anomaly.all()


def test_library_list_cells_are_refused(base, detector):
    with pytest.raises(InvalidInputError, match="column 'c'"):
        detector.score_samples(base.drop(columns="label").assign(c=[[1, 2]] * len(base)))
