"""The installed ``vae-detect`` script in real processes: errors in one line, several scorers at once."""

from __future__ import annotations

import pickle
import subprocess

import numpy as np
import pandas as pd
import pytest

from tests.helpers import base_frame

from .hostile import ENV, SCRIPT, command, make_input, snapshot, write_frame


@pytest.mark.slow
def test_errors_through_the_installed_script(base, model, tmp_path):
    """The same guarantees with real processes (three at once): exit status 1, one stderr line, no
    traceback."""
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
    assert stderr.splitlines() == [
        f"error: {bad} is a pickle, not a vae-anomaly model file; it was not loaded"]


@pytest.mark.slow
def test_concurrent_scoring_from_several_processes(model, detector, tmp_path):
    """Four processes score the same model at once (two of them to the same file): all succeed, same bytes."""
    frame = base_frame(10_000, seed=3)
    data = write_frame(frame, tmp_path / "today.parquet")
    model_bytes = model.read_bytes()
    outputs = [tmp_path / "s1.parquet", tmp_path / "s2.parquet", tmp_path / "s3.parquet",
               tmp_path / "s1.parquet"]
    procs = [subprocess.Popen([str(SCRIPT), "score", str(data), "-m", str(model), "-o", str(o),
                               "--batch-size",
                               "2000", "--jobs", "2", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV) for o in outputs]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0 and stdout == "" and stderr == "", stderr
    assert model.read_bytes() == model_bytes
    first = outputs[0].read_bytes()
    assert all(o.read_bytes() == first for o in outputs[1:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1.parquet", "s2.parquet", "s3.parquet",
                                                          "today.parquet"]
    got = pd.read_parquet(outputs[0])
    np.testing.assert_array_equal(got["anomaly_score"].to_numpy(),
                                  detector.score_details(frame).anomaly_score)
