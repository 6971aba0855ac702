"""Stopping ``vae-detect`` part way: Ctrl-C (SIGINT) and SIGTERM leave no model, no temp file.

Each test starts the command in a subprocess, waits until it is training (its
progress bar appears on a pseudo-terminal) or writing (a hook announces it),
sends the signal, and checks the exit code (128 + signal number), the one
``error:`` line, and the files left in the model's directory.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from typer.testing import CliRunner

import vae_anomaly.detector as detector
from vae_anomaly import VAEDetector
from vae_anomaly.cli.app import app
from vae_anomaly.cli.boundary import terminate_gracefully

if os.name == "posix":
    import fcntl
    import termios

POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and pseudo-terminals")

SCRIPT = Path(sys.executable).with_name("vae-detect")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
OLD_MODEL = b"a model from yesterday, which must survive"

# A child that runs the real CLI entry point after installing hooks which announce
# a phase on stderr (in one write, so a signal cannot split the line) and then wait.
PRELUDE = """
import os, sys, time

def announce(what):
    sys.stderr.write(f"hook: {what}\\n")
    sys.stderr.flush()
"""
# Holds the model's temporary file open, just before the rename, until a signal arrives.
WRITE_HOOK = """
real_fsync = os.fsync

def fsync(fd):
    announce("writing")
    time.sleep(120)
    real_fsync(fd)

os.fsync = fsync
"""
# Slows the stream down so the signal lands while the output's temporary file is open.
SCORE_HOOK = """
import vae_anomaly.jobs.score as batch

real_output_batch = batch.output_batch

def output_batch(*args, **kwargs):
    announce("batch")
    time.sleep(0.2)
    return real_output_batch(*args, **kwargs)

batch.output_batch = output_batch
"""
RUN = """
from vae_anomaly.cli.app import main

sys.argv[0] = "vae-detect"
main()
"""


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """20,000 rows of 32 correlated columns: several seconds of training at --epochs 200."""
    where = tmp_path_factory.mktemp("interrupt")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 32)) @ rng.normal(size=(32, 32))
    path = where / "big.parquet"
    pd.DataFrame(x, columns=[f"s{i}" for i in range(32)]).to_parquet(path, index=False)
    return path


def _wait_for(fd: int, marker: bytes, proc: subprocess.Popen, timeout: float = 90.0) -> bytes:
    """Read ``fd`` until ``marker`` shows up; fail if the process ends first."""
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} within {timeout} s; got {seen[-500:]!r}"
            if sel.select(timeout=min(left, 1.0)):
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # pty closed: the child is gone
                    chunk = b""
                assert chunk or proc.poll() is None, f"exited {proc.returncode} early: {seen[-2000:]!r}"
                seen += chunk
    return seen


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def _check_stopped(proc: subprocess.Popen, sig: int, stderr: str) -> None:
    assert proc.returncode == CODES[sig], stderr
    assert "Traceback" not in stderr, stderr
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", stderr).replace("\r", "\n")  # terminal codes out
    lines = [line for line in plain.splitlines() if line.strip()]
    name = signal.Signals(sig).name
    assert lines[-1] == f"error: interrupted by {name}", stderr
    assert sum(line.startswith("error:") for line in lines) == 1, stderr


@POSIX_ONLY
@pytest.mark.slow
@pytest.mark.parametrize(("sig", "existing"), [(signal.SIGINT, False), (signal.SIGTERM, True)],
                         ids=["sigint-new", "sigterm-existing"])
def test_signal_during_training_leaves_no_model(big, tmp_path, sig, existing):
    """The real ``vae-detect`` with its stderr on a terminal: the progress bar marks training."""
    model = tmp_path / "model.vae"
    if existing:
        model.write_bytes(OLD_MODEL)
    main_fd, child_fd = os.openpty()
    # A terminal 100 columns wide: with the default width of 0, tqdm draws nothing.
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.Popen([str(SCRIPT), "fit", str(big), "-m", str(model), "--epochs", "200",
                                 "--seed", "0"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=child_fd, env=ENV, preexec_fn=_default_sigint)
        os.close(child_fd)

        def still_training():
            time.sleep(0.3)
            assert proc.poll() is None, "training ended before the signal; give it more work"

        stderr = _signal_after(proc, b"training:", sig, still_training, fd=main_fd)
    finally:
        os.close(main_fd)
    _check_stopped(proc, sig, stderr)
    assert proc.stdout.read() == b""
    if existing:
        assert model.read_bytes() == OLD_MODEL
    else:
        assert not model.exists()
    assert _leftovers(tmp_path, {"model.vae"}) == []


def _default_sigint() -> None:
    """Run in the child before exec: a job started in the background (CI, nohup) inherits
    SIGINT as *ignored*, and Python then never installs its Ctrl-C handler. A user at a
    terminal has the default disposition; give the child that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _hooked(hook: str, *args: str) -> subprocess.Popen:
    """Start ``vae-detect ARGS`` in a child that installs ``hook`` first."""
    return subprocess.Popen([sys.executable, "-c", PRELUDE + hook + RUN, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                            preexec_fn=_default_sigint)


def _signal_after(proc: subprocess.Popen, marker: bytes, sig: int, check_before=None,
                  fd: int | None = None) -> str:
    """Wait for ``marker`` on the child's stderr (its pipe, or ``fd``: a terminal it writes to),
    run ``check_before``, send ``sig``; return all of stderr."""
    fd = proc.stderr.fileno() if fd is None else fd
    try:
        seen = _wait_for(fd, marker, proc)
        if check_before is not None:
            check_before()
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return (seen + _drain(fd)).decode(errors="replace")


@POSIX_ONLY
@pytest.mark.parametrize(("sig", "existing"), [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["sigint-existing", "sigterm-new"])
def test_signal_while_the_model_is_written_removes_the_temp_file(big, tmp_path, sig, existing):
    """The window between training and the atomic rename: the temp file exists, then is removed."""
    small = tmp_path / "small.parquet"
    pd.read_parquet(big).head(300).to_parquet(small, index=False)
    out = tmp_path / "models"
    out.mkdir()
    model = out / "model.vae"
    if existing:
        model.write_bytes(OLD_MODEL)

    def temp_file_is_there():
        temps = _leftovers(out, {"model.vae"})
        assert len(temps) == 1 and temps[0].startswith(".model.vae.") and temps[0].endswith(".tmp"), temps

    proc = _hooked(WRITE_HOOK, "fit", str(small), "-m", str(model), "--epochs", "1", "-q")
    stderr = _signal_after(proc, b"hook: writing\n", sig, temp_file_is_there)
    _check_stopped(proc, sig, stderr)
    if existing:
        assert model.read_bytes() == OLD_MODEL
    else:
        assert not model.exists()
    assert _leftovers(out, {"model.vae"}) == []


@POSIX_ONLY
def test_sigterm_while_scoring_keeps_the_previous_output(big, tmp_path):
    """Scoring stopped mid-stream: no temp file, and yesterday's output is untouched."""
    model = tmp_path / "m.vae"
    small = tmp_path / "small.parquet"
    pd.read_parquet(big).head(300).to_parquet(small, index=False)
    fitted = CliRunner().invoke(app, ["fit", str(small), "-m", str(model), "--epochs", "1", "-q"])
    assert fitted.exit_code == 0, fitted.output
    out = tmp_path / "scores"
    out.mkdir()
    target = out / "big.scores.parquet"
    target.write_bytes(b"yesterday's scores")

    def temp_file_is_there():
        assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")], "no temp file while writing"

    proc = _hooked(SCORE_HOOK, "score", str(big), "-m", str(model), "-o", str(target), "--batch-size", "500",
                   "--jobs", "2", "-q")
    stderr = _signal_after(proc, b"hook: batch\nhook: batch\n", signal.SIGTERM, temp_file_is_there)
    _check_stopped(proc, signal.SIGTERM, stderr)
    assert target.read_bytes() == b"yesterday's scores"
    assert _leftovers(out, {"big.scores.parquet"}) == []


@POSIX_ONLY
def test_terminate_gracefully_restores_the_previous_handler():
    def mine(signum, frame):  # pragma: no cover - never called
        pass

    before = signal.signal(signal.SIGTERM, mine)
    try:
        with pytest.raises(SystemExit) as stopped, terminate_gracefully():
            assert signal.getsignal(signal.SIGTERM) is not mine
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises out of this sleep
        assert stopped.value.code == 143
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("refit", [False, True], ids=["first-fit", "refit"])
def test_interrupted_fit_leaves_no_half_trained_estimator(refit, monkeypatch):
    """Library level: a fit stopped by Ctrl-C leaves the estimator unfitted, even one fitted before."""
    x = pd.DataFrame(np.random.default_rng(0).normal(size=(300, 3)), columns=["a", "b", "c"])
    det = VAEDetector(max_iter=2, random_state=0)
    if refit:
        det.fit(x)
    stopped = []

    def interrupted(module, *args, **kwargs):
        with torch.no_grad():  # the network has moved, as after some epochs
            for p in module.parameters():
                p.add_(0.5)
        stopped.append(module)
        raise KeyboardInterrupt

    monkeypatch.setattr(detector, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        det.fit(x * 10)
    monkeypatch.undo()
    assert stopped, "the fit never reached the training loop, so nothing was interrupted"
    with pytest.raises(NotFittedError):
        check_is_fitted(det)
    with pytest.raises(NotFittedError):
        det.score_samples(x)
    assert not [k for k in vars(det) if k.endswith("_") and not k.startswith("_")], "fitted attributes remain"
    np.testing.assert_array_equal(det.fit(x).score_samples(x), VAEDetector(max_iter=2, random_state=0).fit(x)
                                  .score_samples(x))
