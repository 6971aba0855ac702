"""A killed run's temporaries beside an output are removed by the next run; nothing else is (issue 27.4).

The rule is in :mod:`vae_anomaly.tables.temporary`: exactly our naming
pattern for that output, not held (locked) by a live process, not changed
in the last two seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from vae_anomaly.tables.temporary import GRACE_S, hold, release, sweep, temporary_beside
from vae_anomaly.tables.write import AtomicTableWriter, atomic_write_bytes

POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="fcntl locks")


def old(path: Path, content: bytes = b"half a table") -> Path:
    """``path`` made (a file, unless it exists) and dated a minute back: older than the grace period."""
    if not path.exists():
        path.write_bytes(content)
    then = time.time() - 60
    os.utime(path, (then, then))
    return path


OURS = [".out.parquet.0123abcd.tmp", ".out.parquet.89abcdef.tmp"]
NOT_OURS = [
    ".out.parquet.0123abcd.tmp.bak",  # a user's copy
    "out.parquet.0123abcd.tmp",  # not hidden
    ".out.parquet.0123ABCD.tmp",  # upper-case hex: never one of ours
    ".out.parquet.0123abc.tmp",  # seven digits
    ".out.parquet.0123abcde.tmp",  # nine
    ".out.parquet.0123abcd.TMP",
    ".other.parquet.0123abcd.tmp",  # another output's
    ".xout.parquet.0123abcd.tmp",
    ".out.parquetx.0123abcd.tmp",
    ".out.parquet.0123abcd.old",  # a --dask run's kinds, not a file writer's
    ".out.parquet.0123abcd.trash",
    "out.parquet",
]


def test_only_our_own_dead_temporaries_are_removed(tmp_path):
    for name in OURS + NOT_OURS:
        old(tmp_path / name)
    target = old(tmp_path / "data.csv", b"a user's file")
    (tmp_path / ".out.parquet.fedcba98.tmp").symlink_to(target)  # a link: never ours
    folder = tmp_path / ".out.parquet.76543210.tmp"  # a directory holding a user's file
    folder.mkdir()
    old(folder / "notes.txt")
    old(folder)
    assert sorted(sweep(tmp_path / "out.parquet")) == OURS
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(NOT_OURS + ["data.csv", ".out.parquet.fedcba98.tmp", ".out.parquet.76543210.tmp"])
    assert (folder / "notes.txt").exists() and target.read_bytes() == b"a user's file"


def test_a_temporary_changed_in_the_last_seconds_is_kept(tmp_path):
    fresh = temporary_beside(tmp_path / "out.parquet")
    assert sweep(tmp_path / "out.parquet") == [] and fresh.exists()
    then = time.time() - GRACE_S - 1
    os.utime(fresh, (then, then))
    assert sweep(tmp_path / "out.parquet") == [fresh.name] and not fresh.exists()


@POSIX_ONLY
def test_a_temporary_held_by_a_live_process_is_kept_until_it_dies(tmp_path):
    mine = old(temporary_beside(tmp_path / "out.parquet"))
    lock = hold(mine)  # this process writes it
    assert lock is not None
    theirs = old(temporary_beside(tmp_path / "out.parquet"))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(theirs)!r}, os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert sweep(tmp_path / "out.parquet") == []
        os.kill(holder.pid, signal.SIGKILL)  # as the out-of-memory killer does: its lock goes with it
        holder.wait(timeout=30)
        assert sweep(tmp_path / "out.parquet") == [theirs.name]
        assert mine.exists()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()
        release(lock)
    assert sweep(tmp_path / "out.parquet") == [mine.name]


def test_a_dask_runs_part_directories_are_removed_with_their_kinds(tmp_path):
    kinds = {".out.0123abcd.tmp": "tmp", ".out.11111111.trash": "trash", ".out.22222222.old": "old"}
    for name in kinds:
        (tmp_path / name).mkdir()
        old(tmp_path / name / "part.00000.parquet")
        old(tmp_path / name / ".part.00001.parquet.0a0b0c0d.tmp")  # a part being written when it died
        old(tmp_path / name)
    assert sweep(tmp_path / "out") == [".out.0123abcd.tmp"]  # a file writer's kinds: tmp only
    assert sorted(sweep(tmp_path / "out", ("tmp", "trash", "old"))) == [".out.11111111.trash",
                                                                         ".out.22222222.old"]
    assert list(tmp_path.iterdir()) == []


def test_the_writers_remove_them_first_and_say_which(tmp_path):
    left = old(tmp_path / ".out.parquet.0123abcd.tmp")
    with AtomicTableWriter(tmp_path / "out.parquet") as writer:
        writer.write(pa.record_batch({"x": [1.0]}))
    assert writer.removed == [left.name] and not left.exists()
    model = old(tmp_path / ".m.vae.0123abcd.tmp")
    assert atomic_write_bytes(tmp_path / "m.vae", b"model") == [model.name] and not model.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.vae", "out.parquet"]
