"""Float sums done array by array in the order NumPy's reductions add, so that each element gets their bits.

A reduction along a short axis (``np.sum(a, axis=1)`` of a ``(n, 16)``
array, or ``np.add.reduceat`` over a few columns) pays NumPy's per-row
overhead ``n`` times. Adding whole columns instead, in the same order,
gives every row the same result with a few long vector operations.

``np.add.reduce`` of ``n`` float values along a contiguous axis starts from
0 (so that a sum of ``-0.0`` values is ``0.0``) and adds their pairwise sum (``pairwise_sum`` in NumPy's
``loops_utils.h.src``; see Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., SIAM, 2002, section 4.2): below 8 values one after
another; up to 128 in eight interleaved running sums combined as a balanced
tree, then the rest one by one; beyond that each half (the first a multiple
of 8 long) on its own. ``np.add.reduceat`` keeps a segment's first value and
adds the pairwise sum of the others. The tests check both against NumPy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["sum_like_numpy", "reduceat_like_numpy"]

_UNROLL, _BLOCK = 8, 128  # NumPy's pairwise summation: 8 running sums, blocks of up to 128 values

Term = Callable[[int], np.ndarray]


def sum_like_numpy(term: Term, n: int, fresh: bool = False) -> np.ndarray:
    """Element-wise ``term(0) + ... + term(n - 1)`` as ``np.sum`` adds the ``n`` values of a row.

    Parameters
    ----------
    term : callable
        ``term(j)`` returns a float64 array, of one shape for every ``j``.
    n : int
        How many terms, at least 1.
    fresh : bool, default=False
        Whether ``term`` returns a new array each time, which may then be
        overwritten; otherwise the arrays it returns are left unchanged.

    Returns
    -------
    ndarray of float64
        A new array.

    Examples
    --------
    >>> rows = np.random.default_rng(0).normal(size=(5, 21))
    >>> total = sum_like_numpy(lambda j: rows[:, j], 21)
    >>> bool((total == rows.sum(axis=1)).all())
    True
    """
    total = _pairwise(term, _writable(term, fresh), 0, n)
    total += 0.0  # the reduction's starting value: a -0.0 sum becomes 0.0, as in NumPy
    return total


def reduceat_like_numpy(term: Term, n: int, fresh: bool = False) -> np.ndarray:
    """Element-wise sum of ``term(0), ..., term(n - 1)`` as ``np.add.reduceat`` adds a segment of ``n``
    values.

    Parameters are those of :func:`sum_like_numpy`.

    Examples
    --------
    >>> cols = np.random.default_rng(1).normal(size=(5, 12)) * 10.0 ** np.arange(-6, 6)
    >>> total = reduceat_like_numpy(lambda j: cols[:, 2 + j], 10)
    >>> bool((total == np.add.reduceat(cols, [2], axis=1)[:, 0]).all())
    True
    """
    acc = _writable(term, fresh)
    total = acc(0)
    if n > 1:
        total += _pairwise(term, acc, 1, n - 1)
    return total


def _writable(term: Term, fresh: bool) -> Term:
    """``term``, or a copy of what it returns: the running sums are added into."""
    return term if fresh else (lambda j: np.array(term(j), dtype=np.float64, copy=True))


def _pairwise(term: Term, acc: Term, start: int, n: int) -> np.ndarray:
    """NumPy's ``pairwise_sum`` of ``term(start), ..., term(start + n - 1)``; ``acc`` gives the
    running sums (arrays that may be overwritten)."""
    if n < _UNROLL:
        res = acc(start)
        for i in range(1, n):
            res += term(start + i)
        return res
    if n <= _BLOCK:
        r = [acc(start + j) for j in range(_UNROLL)]
        i = _UNROLL
        while i < n - n % _UNROLL:
            for j in range(_UNROLL):
                r[j] += term(start + i + j)
            i += _UNROLL
        # ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))
        for a, b in ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (4, 6), (0, 4)):
            r[a] += r[b]
        for k in range(i, n):
            r[0] += term(start + k)
        return r[0]
    half = n // 2
    half -= half % _UNROLL
    res = _pairwise(term, acc, start, half)
    res += _pairwise(term, acc, start + half, n - half)
    return res
