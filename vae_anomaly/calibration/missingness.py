"""How likely a row's pattern of missing cells is: the evidence a missing cell adds to a row's score.

Leaving a missing cell out of the likelihood treats it as uninformative. In
monitoring it rarely is (a sensor that stops reporting, a failed join), and
a row that lost its values would lose terms and look more normal. Each
input column therefore gets a probability of being missing, learned from
the training rows, and a row's anomaly score adds the negative
log-probability of its pattern of missing cells under independent
Bernoulli variables, one per column.

Only the part that depends on the row counts: a missing cell in column
``c`` weighs ``log((1 - p_c) / p_c)`` and an observed one nothing. The full
negative log-probability differs from this sum by ``-sum_c log(1 - p_c)``,
the same for every row, so dropping it changes no ranking, and a complete
row's score stays exactly what it was without the evidence. A column never
missing in ``n`` training rows gets about ``log(2n + 1)`` nats per missing
cell (about 9 nats for 4,000 rows); one missing in 30 % of them about 0.85.

A likelihood alone spreads such evidence thin: with many columns a row's
ELBO varies by more than 9 nats, so a row that lost a column that was
always there could still pass as normal. A column never missing in the
training rows therefore also adds the spread of the calibration scores below
the threshold (:func:`missing_weights`): a cell missing there flags its row
whatever its values.

Where holes are routine and carry no news (cells lost at random), their
evidence would only add noise to the ranking. So a row adds only what its
pattern's evidence exceeds among the training rows: the part above their
:data:`EVIDENCE_QUANTILE` quantile (:func:`evidence_offset`), never less
than 0. A row with no more holes, or no rarer ones, than 99 training rows
in 100 adds nothing; a complete row never adds anything. The quantile was
chosen on half A of the ADBench sets with cells removed at random, in blocks
and in 30 % of a third of the columns, among 0.5, 0.75, 0.9, 0.99 and the
maximum, by sets won and lost against no evidence, and confirmed on half B
(docs/benchmarks.md, "Missing cells").

The probabilities are the Krichevsky-Trofimov estimate ``(m + 1/2) / (n + 1)``
(Krichevsky and Trofimov, IEEE Trans. Inf. Theory 27(2), 1981): never 0 or 1,
so no pattern is impossible and no weight is infinite.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EVIDENCE_QUANTILE", "missing_rates", "missing_weights", "evidence_offset", "row_evidence",
           "add_missing_evidence", "cell_evidence"]

#: Training rows whose pattern of missing cells is at most this far into the tail add no evidence.
EVIDENCE_QUANTILE = 0.99


def missing_rates(absent: np.ndarray) -> np.ndarray:
    """Each column's smoothed probability of being missing, from training rows.

    Parameters
    ----------
    absent : ndarray of bool (n_rows, n_columns)
        True where a training row's own cell is missing.

    Returns
    -------
    ndarray (n_columns,) float64
        ``(missing + 1/2) / (n_rows + 1)``, in (0, 1).

    Examples
    --------
    >>> missing_rates(np.array([[True, False], [False, False], [True, False]]))
    array([0.625, 0.125])
    """
    absent = np.asarray(absent, dtype=bool)
    return (absent.sum(axis=0) + 0.5) / (absent.shape[0] + 1.0)


def missing_weights(rates: np.ndarray, always_present: np.ndarray | None = None,
                    spread: float = 0.0) -> np.ndarray:
    """Nats a missing cell adds to its row's pattern evidence, per column.

    ``log((1 - p) / p)`` for a column missing with probability ``p``:
    negative for columns missing in most training rows (there, a missing
    cell is the usual case). A column never missing in the training rows
    (``always_present``) also adds ``spread``: with ``spread`` the distance
    from the most normal calibration score to the threshold's quantile, a
    hole there moves any row past the threshold on its own.

    Parameters
    ----------
    rates : ndarray (n_columns,)
        From :func:`missing_rates`, in (0, 1).
    always_present : ndarray of bool (n_columns,), optional
        Columns never missing in the training rows; None: none get ``spread``.
    spread : float, default=0.0
        Nats added for each of them.

    Returns
    -------
    ndarray (n_columns,) float64

    Examples
    --------
    >>> np.round(missing_weights(np.array([0.5, 0.3])), 3)
    array([0.   , 0.847])
    >>> np.round(missing_weights(np.array([0.5, 0.001]), np.array([False, True]), spread=4.0), 3)
    array([ 0.   , 10.907])
    """
    rates = np.asarray(rates, dtype=np.float64)
    weights = np.log1p(-rates) - np.log(rates)
    if always_present is not None and spread > 0.0:
        weights = weights + np.where(always_present, float(spread), 0.0)
    return weights


def _pattern_evidence(absent: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The sum of each row's missing cells' weights (n,), column by column, each row on its own."""
    out = np.zeros(absent.shape[0])
    for c in np.flatnonzero(absent.any(axis=0)):
        out += np.where(absent[:, c], weights[c], 0.0)
    return out


def evidence_offset(absent: np.ndarray, weights: np.ndarray) -> float:
    """How much pattern evidence the training rows carry routinely: its :data:`EVIDENCE_QUANTILE`
    quantile over them, at least 0.

    Parameters
    ----------
    absent : ndarray of bool (n_rows, n_columns)
        The training rows' missing cells.
    weights : ndarray (n_columns,)
        From :func:`missing_weights`.
    """
    if absent.shape[0] == 0:
        return 0.0
    return max(0.0, float(np.quantile(_pattern_evidence(absent, weights), EVIDENCE_QUANTILE)))


def row_evidence(absent: np.ndarray, weights: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """What each row's missing cells add to its score (n,) float64: ``max(0, E - offset)``.

    ``E`` sums the row's missing cells' weights one column at a time, in
    column order, starting from 0, so a row's result does not depend on the
    other rows of its batch (an observed cell adds an exact 0.0).
    """
    return np.maximum(_pattern_evidence(absent, weights) - offset, 0.0)


def add_missing_evidence(scores: np.ndarray, absent: np.ndarray, weights: np.ndarray | None,
                         offset: float = 0.0) -> np.ndarray:
    """``scores`` plus each row's missing-cell evidence (:func:`row_evidence`).

    Parameters
    ----------
    scores : ndarray (n,)
        Anomaly scores (higher is more anomalous).
    absent : ndarray of bool (n, n_columns)
        True where a row's own cell is missing.
    weights : ndarray (n_columns,) or None
        From :func:`missing_weights`; None (a model file written before the
        evidence was recorded) leaves the scores as they are.
    offset : float, default=0.0
        From :func:`evidence_offset`.

    Returns
    -------
    ndarray (n,)
        ``scores`` itself when no cell is missing or ``weights`` is None,
        else a new array.
    """
    if weights is None or not absent.any():
        return scores
    return scores + row_evidence(absent, weights, offset)


def cell_evidence(absent: np.ndarray, weights: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """Each missing cell's share of its row's evidence (n, n_columns) float64, 0 where observed.

    A row's cells share what it adds (:func:`row_evidence`) in proportion to
    their weights, so a row's shares sum to what its holes add to its score.
    """
    total = _pattern_evidence(absent, weights)
    added = np.maximum(total - offset, 0.0)
    scale = np.divide(added, total, out=np.zeros_like(total), where=total > 0.0)
    return np.where(absent, np.asarray(weights, dtype=np.float64), 0.0) * scale[:, None]
