"""A run killed by SIGKILL leaves its temporary file; the next run writing the same output removes it (27.4).

The kernel's out-of-memory killer sends SIGKILL, which no handler sees, so
the temporary file of a ``vae-detect score`` that is writing stays beside
its output. The next run that writes the same output removes it, says so
on stderr (``note: removed 1 temporary file left by an earlier run: ...``)
and in ``--json``, and leaves alone every file whose name is merely like it.
The rule is in :mod:`vae_anomaly.tables.temporary`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import invoke

from .hostile import write_frame
from .test_interrupts import ENV, SCORE_HOOK, SCRIPT, _hooked, _wait_for

POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and fcntl locks")
NOTE = "note: removed 1 temporary file left by an earlier run: "


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note: ")]


def backdate(path: Path, seconds: float = 60) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def leftover(path: Path, content: bytes = b"half a file") -> Path:
    """A file as a run killed a minute ago left it."""
    path.write_bytes(content)
    return backdate(path)


def temporaries(directory: Path, name: str) -> list[Path]:
    """The temporaries of ours for the output ``name``: ``.NAME.XXXXXXXX.tmp``."""
    ours = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{8}}\.tmp")
    return sorted(p for p in directory.iterdir() if ours.fullmatch(p.name))


@POSIX_ONLY
def test_the_run_after_a_sigkilled_score_removes_its_temporary_file(base, model, dirs):
    """The real thing: kill -9 while the output is being written, check the file is there, run again."""
    inp, out = dirs
    rng = np.random.default_rng(0)
    big = pd.concat([base] * (20_000 // len(base) + 1), ignore_index=True).iloc[:20_000]
    data = write_frame(big.assign(a=big["a"] + rng.normal(size=len(big))), inp / "big.parquet")
    target = out / "big.scores.parquet"
    users = [out / ".big.scores.parquet.0123abcd.tmp.bak", out / "big.scores.parquet.0123abcd.tmp",
             out / ".big.scores.parquet.0123ABCD.tmp"]
    for path in users:
        leftover(path, b"a user's file")

    proc = _hooked(SCORE_HOOK, "score", str(data), "-m", str(model), "-o", str(target), "--batch-size", "500",
                   "--jobs", "1", "-q")
    try:
        _wait_for(proc.stderr.fileno(), b"hook: batch\nhook: batch\nhook: batch\n", proc)
        left = temporaries(out, target.name)
        assert len(left) == 1 and left[0].stat().st_size > 0, left  # rows are being written
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        proc.stdout.close()
    assert not target.exists() and temporaries(out, target.name) == left  # the debris
    backdate(left[0])  # a retry comes later than the 2-second grace period; don't wait for it here

    again = subprocess.run([str(SCRIPT), "score", str(data), "-m", str(model), "-o", str(target)],
                           capture_output=True, text=True, env=ENV, timeout=300)
    assert again.returncode == 0, again.stderr
    assert notes(again.stderr) == [NOTE + left[0].name]
    assert temporaries(out, target.name) == [] and len(pd.read_parquet(target)) == 20_000
    assert sorted(p.name for p in out.iterdir()) == sorted([target.name] + [p.name for p in users])
    assert all(p.read_bytes() == b"a user's file" for p in users)


def test_score_and_fit_say_what_they_removed_in_notes_and_json(base, model, dirs):
    inp, out = dirs
    data = write_frame(base, inp / "in.parquet")
    left = leftover(out / ".s.parquet.0123abcd.tmp")
    scored = invoke("score", data, "-m", model, "-o", out / "s.parquet", "--json")
    assert scored.exit_code == 0, scored.output
    assert notes(scored.stderr) == [NOTE + left.name]
    assert NOTE[len("note: "):] + left.name in json.loads(scored.stdout)["notes"]
    assert not left.exists()
    again = invoke("score", data, "-m", model, "-o", out / "s.parquet")
    assert notes(again.stderr) == []  # nothing left: nothing said

    model_left = leftover(out / ".m.vae.89abcdef.tmp")
    fitted = invoke("fit", data, "-m", out / "m.vae", "-x", "label", "--epochs", 1, "--json")
    assert fitted.exit_code == 0, fitted.output
    assert notes(fitted.stderr) == [NOTE + model_left.name]
    assert NOTE[len("note: "):] + model_left.name in json.loads(fitted.stdout)["notes"]
    quiet = leftover(out / ".m.vae.0a0b0c0d.tmp", b"")
    silent = invoke("fit", data, "-m", out / "m.vae", "-x", "label", "--epochs", 1, "-q")
    assert silent.exit_code == 0 and silent.stderr == "" and not quiet.exists()
    assert sorted(p.name for p in out.iterdir()) == ["m.vae", "s.parquet"]


def test_a_dask_run_removes_the_part_directories_a_killed_run_left(base, model, dirs):
    pytest.importorskip("distributed")
    inp, out = dirs
    data = write_frame(base, inp / "in.parquet")
    target = out / "scores"
    for name in (".scores.0123abcd.tmp", ".scores.11111111.trash", ".scores.22222222.old",
                 ".scores.33333333.tmp.bak"):  # the last: a user's copy of one
        (out / name).mkdir()
        leftover(out / name / "part.00000.parquet")
        backdate(out / name)
    result = invoke("score", data, "-m", model, "-o", target, "--dask", "local")
    assert result.exit_code == 0, result.output
    assert notes(result.stderr) == ["note: removed 3 temporary files left by an earlier run: "
                                    ".scores.0123abcd.tmp, .scores.11111111.trash, .scores.22222222.old"]
    assert sorted(p.name for p in out.iterdir()) == [".scores.33333333.tmp.bak", "scores"]
