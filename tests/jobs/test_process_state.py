"""Library calls leave the process as they found it: thread counts while a caller's code runs, the umask.

Scoring jobs run BLAS (and torch) on one thread per batch, in their worker
threads; those limits are process-wide, so they must be held only while
batches are being scored, never while the caller's loop body or callback
runs, nor after the caller stops reading. Saving a file must give it the
usual mode (0o666 less the umask) without setting the umask, which is not
safe while other threads create files.
"""

from __future__ import annotations

import os
import stat
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import vae_anomaly.jobs.stream as stream
from vae_anomaly import VAEDetector
from vae_anomaly.jobs.score import score_table
from vae_anomaly.jobs.stream import in_order, scored_batches
from vae_anomaly.tables.read import TableReader
from vae_anomaly.tables.write import AtomicTableWriter, atomic_write_bytes

BLAS_BEFORE = 3  # neither 1 (the jobs' limit) nor this machine's default, so a leak shows
TORCH_BEFORE = 2


def blas() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.fixture
def blas_threads():
    """BLAS set to BLAS_BEFORE threads for the test, and set back after."""
    with threadpool_limits(limits=BLAS_BEFORE, user_api="blas"):
        if not blas() or set(blas()) != {BLAS_BEFORE}:
            pytest.skip(f"NumPy's BLAS cannot be set to {BLAS_BEFORE} threads here: {threadpool_info()}")
        yield [BLAS_BEFORE] * len(blas())


@pytest.fixture
def torch_threads():
    """Torch set to TORCH_BEFORE threads in this thread (and for threads that start torch later)."""
    before = torch.get_num_threads()
    torch.set_num_threads(TORCH_BEFORE)
    yield TORCH_BEFORE
    torch.set_num_threads(before)


def torch_threads_of_a_new_thread() -> int:
    """The count a thread starting torch now gets: torch's process-wide setting."""
    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return seen[0]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(600, 4)), columns=["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def det(frame) -> VAEDetector:
    return VAEDetector(max_iter=2, random_state=0).fit(frame)


def batches(frame: pd.DataFrame) -> list[pa.RecordBatch]:
    return pa.Table.from_pandas(frame, preserve_index=False).to_batches(max_chunksize=100)


@pytest.fixture
def in_workers(monkeypatch):
    """Record the BLAS and torch thread counts each batch is scored with."""
    seen = []
    real = stream.details

    def details(*args):
        seen.append((blas(), torch.get_num_threads()))
        return real(*args)

    monkeypatch.setattr(stream, "details", details)
    return seen


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_the_callers_loop_body_runs_with_the_callers_thread_counts(det, frame, n_jobs, blas_threads,
                                                                     torch_threads, in_workers):
    in_loop, scores = [], []
    for _batch, details in scored_batches(det, batches(frame), n_jobs=n_jobs):
        in_loop.append((blas(), torch.get_num_threads()))
        scores.append(details.anomaly_score)
    assert in_loop == [(blas_threads, torch_threads)] * 6
    assert blas() == blas_threads and torch.get_num_threads() == torch_threads
    assert torch_threads_of_a_new_thread() == torch_threads
    # The work itself ran on one thread each: BLAS always, torch when batches go to worker threads.
    assert [b for b, _ in in_workers] == [[1] * len(blas_threads)] * 6
    if n_jobs > 1:
        assert [t for _, t in in_workers] == [1] * 6
    np.testing.assert_array_equal(np.concatenate(scores), det.score_details(frame).anomaly_score)


def test_without_threadpoolctls_own_setter_blas_is_left_as_it_is(det, frame, blas_threads, in_workers,
                                                                  monkeypatch):
    """The per-batch limit goes through a setter threadpoolctl does not make public; where a release
    lacks it, scoring must leave BLAS alone (slower under load) rather than set what it cannot restore."""
    import threadpoolctl

    for cls in vars(threadpoolctl).values():
        if isinstance(cls, type) and "_real_set_num_threads" in vars(cls):
            monkeypatch.delattr(cls, "_real_set_num_threads")
    scores = [details.anomaly_score for _, details in scored_batches(det, batches(frame), n_jobs=2)]
    assert [b for b, _ in in_workers] == [blas_threads] * 6
    assert blas() == blas_threads
    np.testing.assert_array_equal(np.concatenate(scores), det.score_details(frame).anomaly_score)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_stream_the_caller_stops_reading_holds_no_limit(det, frame, n_jobs, blas_threads, torch_threads):
    results = scored_batches(det, batches(frame), n_jobs=n_jobs)
    next(results)
    try:
        assert blas() == blas_threads  # suspended, not closed: nothing may be held meanwhile
        assert torch.get_num_threads() == torch_threads
        assert torch_threads_of_a_new_thread() == torch_threads
    finally:
        results.close()
    assert blas() == blas_threads


def test_score_tables_progress_callback_runs_with_the_callers_thread_counts(det, frame, tmp_path,
                                                                            blas_threads):
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    in_callback = []
    summary = score_table(det, TableReader(tmp_path / "in.parquet"),
                          AtomicTableWriter(tmp_path / "out.parquet"), batch_size=100, n_jobs=1,
                          on_rows=lambda rows: in_callback.append(blas()))
    assert summary["rows"] == 600
    assert in_callback == [blas_threads] * 6
    assert blas() == blas_threads


def test_concurrent_jobs_share_the_limit_and_the_last_to_finish_restores_it(blas_threads):
    """Two jobs in two threads: the first to finish must not restore the limit under the other."""
    started = {name: threading.Event() for name in "ab"}
    go = {name: threading.Event() for name in "ab"}
    seen = {}

    def work(name):
        started[name].set()
        assert go[name].wait(30)
        return blas()

    def job(name):
        seen[name] = list(in_order(work, [(name,)], 1))

    threads = {name: threading.Thread(target=job, args=(name,)) for name in "ab"}
    for name in "ab":
        threads[name].start()
        assert started[name].wait(30)
    go["a"].set()
    threads["a"].join()
    try:
        assert blas() == [1] * len(blas_threads)  # b is still scoring, on one thread
    finally:
        go["b"].set()
        threads["b"].join()
    assert seen == {"a": [[1] * len(blas_threads)], "b": [[1] * len(blas_threads)]}
    assert blas() == blas_threads


def test_jobs_scoring_at_once_in_threads_leave_the_thread_counts_as_they_were(det, frame, tmp_path,
                                                                               blas_threads, torch_threads):
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    summaries = [None] * 4

    def job(i):
        summaries[i] = score_table(det, TableReader(tmp_path / "in.parquet"),
                                   AtomicTableWriter(tmp_path / f"out{i}.parquet"), batch_size=50, n_jobs=2)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [s["rows"] for s in summaries] == [600] * 4
    assert blas() == blas_threads
    assert torch.get_num_threads() == torch_threads and torch_threads_of_a_new_thread() == torch_threads
    first = pd.read_parquet(tmp_path / "out0.parquet")["anomaly_score"].to_numpy()
    for i in range(1, 4):
        np.testing.assert_array_equal(pd.read_parquet(tmp_path / f"out{i}.parquet")["anomaly_score"], first)


@pytest.fixture
def umask_027(monkeypatch):
    """The umask set to 0o027 for the test, and os.umask made to fail while it runs."""
    real = os.umask
    before = real(0o027)

    def umask(mask):
        raise AssertionError(f"os.umask({mask:#o}) was called while saving")

    monkeypatch.setattr(os, "umask", umask)
    yield 0o027
    monkeypatch.undo()
    real(before)


def test_saving_files_never_sets_the_umask_and_gives_them_the_usual_mode(det, frame, tmp_path, umask_027):
    with AtomicTableWriter(tmp_path / "table.parquet") as writer:
        writer.write(batches(frame)[0])
    atomic_write_bytes(tmp_path / "bytes.bin", b"data")
    det.save(tmp_path / "model.vae")
    for name in ("table.parquet", "bytes.bin", "model.vae"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask_027, name
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_temporary_files_and_directories_get_the_usual_mode(tmp_path, umask_027):
    from vae_anomaly.tables.write import temporary_beside

    file = temporary_beside(tmp_path / "out.parquet")
    folder = temporary_beside(tmp_path / "parts", directory=True)
    assert file.name.startswith(".out.parquet.") and file.name.endswith(".tmp") and file.parent == tmp_path
    assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask_027
    assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask_027
    assert temporary_beside(tmp_path / "out.parquet") != file
