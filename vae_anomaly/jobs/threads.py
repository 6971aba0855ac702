"""Process-wide thread settings for jobs that score batches in worker threads.

The thread counts of the BLAS library and of torch are settings of the
whole process, so they are changed here, by the jobs layer, for the length
of a job, and never inside a call that a notebook user makes. They change
speed only: scores are the same whatever they are.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["one_blas_thread", "torch_threads"]


class _OneBlasThread:
    """Context manager: BLAS on one thread while any job in this process is inside it.

    The first thread to enter sets the limit and the last to leave restores
    it, so threads scoring at the same time never restore it under each
    other. Entering costs a lock and a counter; the library is looked up once.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._controller = None
        self._limits = None

    def __enter__(self):
        with self._lock:
            if self._depth == 0:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limits = self._controller.limit(limits=1, user_api="blas")
            self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._limits.restore_original_limits()
                self._limits = None


_ONE_BLAS_THREAD = _OneBlasThread()


def one_blas_thread() -> _OneBlasThread:
    """A context manager that keeps BLAS on one thread inside it (re-entrant, across threads).

    The scoring engine's products are small (one row times a layer), so BLAS
    threads add nothing; under CPU load OpenBLAS's spinning threads made
    scoring 10x slower (``benchmarks/score_speed.py``). Jobs parallelise
    over record batches instead. Scores do not depend on it.
    """
    return _ONE_BLAS_THREAD


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count.

    Does nothing when torch is not loaded: the NumPy engine scores without it.
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
