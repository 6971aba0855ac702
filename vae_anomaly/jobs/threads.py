"""Thread settings for the work a job hands to its worker threads, held only while that work runs.

The thread counts of the BLAS library and of torch are settings of the
whole process. Jobs that score record batches in threads lower them to one
thread for each batch scored (:func:`one_thread_each`): the limit is taken
when a batch starts and given back when the last batch running finishes, so
it is never held while no batch is being scored, and never left behind by a
caller that stops reading a stream. They change speed only: scores are the
same whatever they are.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["one_thread_each", "torch_threads"]


class _OneBlasThread:
    """BLAS on one thread while any thread is inside: the first to enter sets it, the last to leave
    restores it, so threads working at the same time never restore it under each other.

    The libraries are those loaded when a job last called :meth:`find_libraries`.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._libraries: list = []
        self._before: list[tuple[Any, int]] = []

    def find_libraries(self) -> None:
        """Look up the BLAS libraries loaded now (milliseconds: once a job, not once a batch)."""
        from threadpoolctl import ThreadpoolController

        found = [lib for lib in ThreadpoolController().lib_controllers
                 if lib.user_api == "blas" and callable(getattr(lib, "_real_set_num_threads", None))]
        with self._lock:
            self._libraries = found

    def __enter__(self) -> _OneBlasThread:
        with self._lock:
            if self._depth == 0:
                self._before = [(lib, lib.num_threads) for lib in self._libraries]
                for lib, _ in self._before:
                    _set_threads(lib, 1)
            self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                for lib, n in self._before:
                    _set_threads(lib, n)
                self._before = []


def _set_threads(lib, n: int) -> None:
    # threadpoolctl lets only the first thread that sets OpenBLAS's process-wide count set it
    # again (OpenBLASController.set_num_threads ignores the others, silently); the count here is
    # set by whichever thread starts the first batch and restored by the one ending the last, so it
    # goes through the setter that threadpoolctl itself calls once it has let a thread through.
    # That setter is not public: find_libraries keeps only libraries that have it, so where a
    # threadpoolctl release lacks it BLAS is left as it is (slower under load, never left changed).
    lib._real_set_num_threads(n)


_ONE_BLAS_THREAD = _OneBlasThread()


class _TorchOneThread:
    """Torch on one thread in each worker while any runs, and torch's process-wide count restored after.

    With OpenMP (torch's CPU backend) the count a thread uses is its own, so
    each worker sets it for itself; ``torch.set_num_threads`` also changes the
    count that threads starting torch later pick up, which the last worker to
    finish puts back.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._before: int | None = None

    def count_before(self, torch) -> int:
        """The count to restore: this thread's now if no worker runs, else the one saved."""
        with self._lock:
            return torch.get_num_threads() if self._depth == 0 else self._before

    def run(self, torch, before: int, fn: Callable, args: tuple) -> Any:
        with self._lock:
            if self._depth == 0:
                self._before = before
            self._depth += 1
        try:
            torch.set_num_threads(1)
            return fn(*args)
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    torch.set_num_threads(self._before)


_TORCH_ONE_THREAD = _TorchOneThread()


def one_thread_each(fn: Callable, torch_too: bool = False) -> Callable:
    """``fn`` wrapped to run with BLAS, and torch when ``torch_too`` and it is loaded, on one thread.

    The scoring engine's products are small (one row times a layer), so BLAS
    threads add nothing; under CPU load OpenBLAS's spinning threads made
    scoring 10x slower (``benchmarks/score_speed.py``). Jobs parallelise
    over record batches instead. Scores do not depend on it.

    For the calls a job hands to worker threads, one record batch each: the
    limits hold while any wrapped call runs and are restored when the last
    one returns, so a caller reading the results between calls (see
    :func:`vae_anomaly.jobs.stream.in_order`) finds the process as it left it.
    The BLAS libraries are looked up, and torch's count read, here, in the
    thread that builds the job.
    """
    _ONE_BLAS_THREAD.find_libraries()
    torch = sys.modules.get("torch") if torch_too else None
    before = _TORCH_ONE_THREAD.count_before(torch) if torch is not None else None

    def call(*args):
        with _ONE_BLAS_THREAD:
            if torch is None:
                return fn(*args)
            return _TORCH_ONE_THREAD.run(torch, before, fn, args)

    return call


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count.

    For a job that runs torch in the calling thread for the length of one
    call (``fit_file``). Does nothing when torch is not loaded: the NumPy
    engine scores without it.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
