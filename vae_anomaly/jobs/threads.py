"""Torch's thread count for jobs that score batches in worker threads.

Torch's intra-op thread count is a setting of the whole process, so it is
changed here, by the jobs layer, for the length of a job, and never inside a
call that a notebook user makes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["torch_threads"]


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
