"""BLAS on one thread while rows are scored: what makes a row's score independent of the rows around it.

With several BLAS threads, OpenBLAS splits a matrix product between threads
in a way that depends on its shape, and the rounding of a row's result then
depends on where the row sits in its chunk: scoring the same rows in
reverse order changed scores by up to 2e-5 (measured on the sample table,
2 cores). The NumPy engine therefore runs its products with BLAS on one
thread, for the duration of the products only, and restores the previous
setting afterwards. It is the one process-wide setting a library call
touches, and it is part of the scores' definition rather than a tuning knob;
jobs that score in worker threads enter it once for the whole pool.
"""

from __future__ import annotations

import threading

__all__ = ["one_blas_thread"]


class _OneBlasThread:
    """Context manager: BLAS on one thread while any scoring in this process is inside it.

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

    The scoring engine's products are small (a chunk of rows times a layer),
    so one thread also costs nothing in speed; under CPU load OpenBLAS's
    spinning threads made scoring 10x slower (``benchmarks/score_speed.py``).
    """
    return _ONE_BLAS_THREAD
