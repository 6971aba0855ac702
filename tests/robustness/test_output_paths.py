"""Output paths ``fit`` and ``score`` cannot write to are refused in one line, before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import invoke

from .hostile import assert_refused, snapshot, write_frame


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
    args = (["fit", data, "-m", out, "--epochs", 1] if name == "fit"
            else ["score", data, "-m", model, "-o", out])
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
                    reason="running as root: chmod cannot make a directory read-only "
                           "(see the simulated tests)")
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
    monkeypatch.setattr(os, "access",
                        lambda path, mode, **kw: Path(path) != out and real_access(path, mode, **kw))
    line = assert_refused(invoke(*_unwritable_args(name, data, out, model)), inp, snapshot(inp), out)
    assert line == f"error: output directory {out} is not writable"


@pytest.mark.parametrize("name", ["fit", "score"])
def test_read_only_output_directory_refusing_the_temp_file(name, base, model, dirs, monkeypatch):
    """The access check passes but creating the temporary file fails (a read-only mount, an ACL)."""
    inp, out = dirs
    data = write_frame(base, inp / "in.parquet")

    real_open = os.open

    def create(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).parent == out:  # the temporary file beside the output
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", create)
    line = assert_refused(invoke(*_unwritable_args(name, data, out, model)), inp, snapshot(inp), out)
    if name == "fit":
        assert line == f"error: Permission denied: {out / 'm.vae'}"
    else:
        assert line == f"error: cannot write to {out}: Permission denied"
