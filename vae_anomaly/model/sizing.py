"""Choices made from the data before training: the training settings, the network's shape, the held-out rows.

What the estimator's ``"auto"`` defaults resolve to for a given table
(docs/benchmarks.md says how each rule was chosen), the network built to
that shape, and the rows held out for early stopping and calibration.
:mod:`vae_anomaly.model.training` runs the loop with what these give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..features.encoder import Encoded
from .vae import TabularVAE

__all__ = ["TrainConfig", "train_config", "network_shape", "build_network", "held_out_rows"]


@dataclass(frozen=True)
class TrainConfig:
    """Resolved training settings (no "auto" values left)."""

    max_epochs: int
    batch_size: int
    learning_rate: float
    beta: float
    kl_warmup: int
    early_stopping: bool
    n_iter_no_change: int
    tol: float
    trim_fraction: float
    weight_decay: float = 0.0
    verbose: bool = False


# Sizing rules behind the estimator's "auto" defaults (see docs/benchmarks.md for how they were chosen).
_AUTO_STEPS = 600  # optimiser steps aimed at by max_iter="auto"
_AUTO_EPOCHS = (10, 100)  # ... within these bounds
_AUTO_ROWS = 600_000  # ... and at most this many training rows seen (epochs x rows), down to the fewest
                      # epochs
_AUTO_BATCH = (32, 2048)  # batch_size="auto": about 1/16 of the training rows, a power of two
_HIDDEN = (32, 128)  # first hidden layer: power of two at or above 2 * input width, clipped
# Summary windows: each series is cut into this many equal stretches and the end of each is held
# out, so early stopping and calibration see every part of the series, not only its end.
_HELD_STRETCHES = 5


def train_config(n_train: int, *, batch_size, max_iter, learning_rate_init: float, beta: float,
                 kl_warmup: int, early_stopping: bool, n_iter_no_change: int, tol: float,
                 trim_fraction: float, verbose: bool) -> TrainConfig:
    """Resolve the estimator's training parameters for ``n_train`` rows.

    ``batch_size="auto"`` is about 1/16 of the rows as a power of two in
    [32, 2048]; ``max_iter="auto"`` aims at about 600 optimiser steps,
    between 10 and 100 epochs, and stops at about 600,000 rows seen
    (epochs times ``n_train``) where that leaves more than 10 epochs.

    Examples
    --------
    >>> train_config(4000, batch_size="auto", max_iter="auto", learning_rate_init=3e-3, beta=1.0,
    ...              kl_warmup=10, early_stopping=True, n_iter_no_change=10, tol=1e-4,
    ...              trim_fraction=0.15, verbose=False).max_epochs
    37
    >>> train_config(28000, batch_size="auto", max_iter="auto", learning_rate_init=3e-3, beta=1.0,
    ...              kl_warmup=10, early_stopping=True, n_iter_no_change=10, tol=1e-4,
    ...              trim_fraction=0.15, verbose=False).max_epochs
    21
    """
    if batch_size == "auto":
        batch = int(np.clip(2 ** round(math.log2(max(n_train / 16, 1))), *_AUTO_BATCH))
    else:
        batch = int(batch_size)
    batch = max(1, min(batch, n_train))
    if max_iter == "auto":
        epochs = int(np.clip(_AUTO_STEPS // math.ceil(n_train / batch), *_AUTO_EPOCHS))
        epochs = max(_AUTO_EPOCHS[0], min(epochs, _AUTO_ROWS // max(n_train, 1)))
    else:
        epochs = int(max_iter)
    return TrainConfig(
        max_epochs=epochs, batch_size=batch, learning_rate=float(learning_rate_init), beta=float(beta),
        kl_warmup=int(kl_warmup), early_stopping=bool(early_stopping), n_iter_no_change=int(n_iter_no_change),
        tol=float(tol), trim_fraction=float(trim_fraction), verbose=bool(verbose),
    )


def network_shape(d_in: int, hidden_layer_sizes=None, latent_dim: int | None = None) -> tuple[list[int], int]:
    """Encoder widths and latent size for ``d_in`` network inputs.

    By default ``(h, h // 2)`` with ``h`` the power of two at or above
    ``2 * d_in`` clipped to [32, 128], and a latent of ``ceil(d_in / 4)``
    clipped to [2, 16].
    """
    hidden = hidden_layer_sizes
    if hidden is None:
        h = int(np.clip(2 ** math.ceil(math.log2(max(2 * d_in, 1))), *_HIDDEN))
        hidden = (h, h // 2)
    latent = latent_dim or int(np.clip(math.ceil(d_in / 4), 2, 16))
    return [int(h) for h in hidden], int(latent)


def build_network(enc: Encoded, cat_sizes: list[int], hidden_layer_sizes, latent_dim: int | None,
                  min_log_var: float, student_df: float | None, generator: torch.Generator,
                  device) -> tuple[TabularVAE, list[int]]:
    """A new network for the encoded rows ``enc``, and its encoder widths (:func:`network_shape`).

    ``cat_sizes`` are the levels of each categorical input (of every window
    position, for stacked windows); a numeric feature missing anywhere in
    ``enc`` gets a 0/1 "missing" input. The weights are drawn on the CPU,
    where ``generator`` lives, then moved to ``device``: the same start on
    every device.
    """
    indicator = np.flatnonzero(np.isnan(enc.num).any(axis=0))
    d_in = enc.num.shape[1] + indicator.size + sum(cat_sizes)
    hidden, latent = network_shape(d_in, hidden_layer_sizes, latent_dim)
    return TabularVAE(enc.num.shape[1], cat_sizes, indicator.tolist(), hidden, latent, min_log_var, generator,
                      device="cpu", student_df=student_df).to(device), hidden


def held_out_rows(n: int, validation_fraction: float, rng, starts: np.ndarray | None = None,
                  stretches: bool = False,
                  exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Held-out and training row positions, each sorted.

    Row-wise models hold out a random ``validation_fraction`` of the rows.
    Windowed models (``starts`` marks where each series begins, rows in
    window order) hold out the end of each series, or with ``stretches``
    (summary windows) the end of each of five equal stretches of it.

    ``exclude`` (bool, one per row) marks rows that are in neither: known
    anomalies, or windows that hold one. Row-wise models draw the held-out
    rows among the others, from the same permutation, so that with no row
    excluded the split, and what ``rng`` draws next, are those without
    ``exclude``; windowed models keep their positions and lose the excluded
    rows on both sides.
    """
    keep = None if exclude is None or not np.any(exclude) else ~np.asarray(exclude, dtype=bool)
    if starts is not None:
        group = np.cumsum(starts) - 1
        sizes = np.bincount(group)
        rank = np.arange(n) - np.flatnonzero(starts)[group]
        size, n_held_here = sizes[group], np.round(validation_fraction * sizes[group])
        if stretches:
            # The series' n_held rows, spread over the ends of _HELD_STRETCHES equal stretches.
            k = _HELD_STRETCHES
            stretch = np.floor(rank * k / size)
            end = np.ceil((stretch + 1) * size / k)  # first rank of the next stretch
            held_here = np.floor((stretch + 1) * n_held_here / k) - np.floor(stretch * n_held_here / k)
            held_mask = rank >= end - held_here
        else:
            held_mask = rank >= size - n_held_here
        if 0 < held_mask.sum() < n:
            if keep is None:
                return np.flatnonzero(held_mask), np.flatnonzero(~held_mask)
            return np.flatnonzero(held_mask & keep), np.flatnonzero(~held_mask & keep)
    perm = rng.permutation(n)
    if keep is not None:
        perm = perm[keep[perm]]
    m = perm.size
    n_held = min(m - 1, max(1, int(round(validation_fraction * m))))
    return np.sort(perm[:n_held]), np.sort(perm[n_held:])
