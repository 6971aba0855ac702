"""What the reader noticed reaches the user: one ``note:`` line each on stderr, in ``--json``, never twice.

Issue 26: a directory's skipped paths, a CSV column whose type changes after
the first block, and a column missing from some files are read without an
error, but a user must hear about them. Every command that reads data
(``fit``, ``score`` with and without ``--dask``, ``evaluate``, ``report``)
prints each of :meth:`vae_anomaly.tables.read.TableReader.notes` on stderr as
``note: ...`` unless ``--quiet``, and puts them in its summary (``notes``);
``fit`` also lists the CSV columns whose type changed.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers import base_frame, invoke
from vae_anomaly.tables import csv_types

SKIPPED = ("_SUCCESS", "part-0.parquet.crc", "README.txt")


def notes(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("note: ")]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A model, and a folder of two Parquet parts beside ``_SUCCESS``, a ``.crc`` file and a README."""
    where = tmp_path_factory.mktemp("notes")
    frame = base_frame(300)
    frame.to_parquet(where / "train.parquet", index=False)
    result = invoke("fit", where / "train.parquet", "-m", where / "model.vae", "-x", "label", "--epochs", 2,
                    "-q")
    assert result.exit_code == 0, result.output
    folder = where / "lake"
    folder.mkdir()
    frame.iloc[:150].to_parquet(folder / "part-0.parquet", index=False)
    frame.iloc[150:].to_parquet(folder / "part-1.parquet", index=False)
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / "part-0.parquet.crc").write_bytes(b"crc\x00\x01")
    (folder / "README.txt").write_text("written by the nightly export\n")
    return where


def _commands(where, out):
    model, folder = where / "model.vae", where / "lake"
    return {
        "fit": ["fit", folder, "-m", out / "m.vae", "-x", "label", "--epochs", 1],
        "score": ["score", folder, "-m", model, "-o", out / "s.parquet"],
        "score --dask": ["score", folder, "-m", model, "-o", out / "parts", "--dask", "local"],
        "evaluate": ["evaluate", folder, "-m", model, "-l", "label"],
        "report": ["report", folder, "-m", model, "-o", out / "r.html"],
    }


@pytest.mark.parametrize("command", ["fit", "score", "score --dask", "evaluate", "report"])
def test_skipped_paths_are_one_note_naming_them(lake, command, tmp_path):
    if command == "score --dask":
        pytest.importorskip("distributed")
    result = invoke(*_commands(lake, tmp_path)[command])
    assert result.exit_code == 0, result.output
    found = notes(result)
    assert len(found) == 1, result.stderr
    assert found[0].startswith(f"note: skipped 3 paths in {lake / 'lake'}: ")
    for name in SKIPPED:
        assert name in found[0], found[0]


@pytest.mark.parametrize("command", ["fit", "score", "evaluate", "report"])
def test_quiet_prints_no_note(lake, command, tmp_path):
    result = invoke(*_commands(lake, tmp_path)[command], "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


@pytest.mark.parametrize("command", ["fit", "score", "evaluate"])
def test_json_holds_the_notes(lake, command, tmp_path):
    result = invoke(*_commands(lake, tmp_path)[command], "--json", "-q")
    assert result.exit_code == 0, result.output
    held = json.loads(result.stdout)["notes"]
    assert len(held) == 1 and held[0].startswith("skipped 3 paths") and all(n in held[0] for n in SKIPPED)


@pytest.fixture()
def late_text(tmp_path, monkeypatch):
    """A CSV file whose ``code`` column holds integers in its first block and text after it."""
    monkeypatch.setattr(csv_types, "CSV_BLOCK_BYTES", 4096)
    frame = base_frame(400).assign(code=[str(i) for i in range(200)] + [f"X{i}" for i in range(200)])
    path = tmp_path / "late.csv"
    frame.to_csv(path, index=False)
    assert len(frame.iloc[:200].to_csv(index=False)) > 4096  # the text starts after the first block
    return path


def test_fit_says_which_csv_column_changed_type(late_text, tmp_path):
    result = invoke("fit", late_text, "-m", tmp_path / "m.vae", "-x", "label", "--epochs", 1, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (change,) = summary["type_changes"]
    assert (change["column"], change["first"], change["other"], change["read_as"]) == \
        ("code", "int64", "string", "string")
    assert change["where"].startswith("block ")
    line = f"column 'code' is int64 at first but string in {change['where']}: read as string (late.csv)"
    assert notes(result) == [f"note: {line}"] and summary["notes"] == [line]
    assert "columns whose type changed in the file: code (int64, then string in block" in result.stderr
    # read as text, with 400 distinct values, the column is left out as an id would be
    assert "code" in summary["columns_ignored"]


def test_a_late_type_change_in_a_column_scoring_copies_is_noted_once(late_text, tmp_path):
    fitted = invoke("fit", late_text, "-m", tmp_path / "m.vae", "-x", "label", "-x", "code", "--epochs", 1,
                    "-q")
    assert fitted.exit_code == 0, fitted.output
    result = invoke("score", late_text, "-m", tmp_path / "m.vae", "-o", tmp_path / "s.parquet",
                    "--batch-size", 50)
    assert result.exit_code == 0, result.output
    found = notes(result)
    assert len(found) == 1 and "column 'code' is int64 at first but string in block" in found[0], found
    scored = pd.read_parquet(tmp_path / "s.parquet")
    assert scored["code"].iloc[-1] == "X199" and np.isfinite(scored["anomaly_score"]).all()
