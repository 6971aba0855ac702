"""Known anomalies in training: a term that drives their ELBO down, away from the normal rows'.

With rows the user labelled as anomalies (``VAEDetector.fit(X, y)``), every
training step adds

    label_weight * mean over labelled anomalies a of max(0, margin - (l_a - mean(l)) / std(l))

to the step's loss, where ``l`` is the negative ELBO of each row of the
minibatch (as the step trains on it; mean and standard deviation held fixed,
not differentiated), and ``l_a`` the negative ELBO of each labelled anomaly at
its latent mean, its anomaly score. The network is thus pushed to score the
known anomalies at least ``margin`` standard deviations above the rows it
learns from, while it goes on modelling those rows; anomalies like the
labelled ones then score high too.

The margin of 5 and the hinge on a standardised score are the deviation
loss of DevNet (Pang, Shen and van den Hengel, "Deep anomaly detection with
deviation networks", KDD 2019), here with the minibatch's own scores in
place of DevNet's Gaussian prior of normal scores; Deep SAD (Ruff et al.,
"Deep semi-supervised anomaly detection", ICLR 2020) pushes labelled
anomalies away from the normal rows in the same spirit. The labelled rows
take no part in the ELBO term or in calibration (Label-Trim).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .tensors import Tensors
from .training import row_loss
from .vae import TabularVAE

__all__ = ["LABEL_MARGIN", "deviation_term"]

#: Standard deviations above the minibatch's mean negative ELBO that labelled anomalies are pushed to.
LABEL_MARGIN = 5.0


def deviation_term(module: TabularVAE, anomalies: Tensors, weight: float, limit: int,
                   margin: float = LABEL_MARGIN) -> Callable[[torch.Tensor], torch.Tensor]:
    """The term added to each training step's loss, as a function of the step's row losses.

    Parameters
    ----------
    module : TabularVAE
        The network being trained.
    anomalies : tuple of Tensor
        The labelled anomalies' rows (:func:`vae_anomaly.model.tensors.to_tensors`), on the
        training device.
    weight : float
        ``label_weight``: the term's weight against the ELBO term (> 0).
    limit : int
        Labelled anomalies scored per step (the training batch size): with
        more of them, each step takes the next ``limit`` in turn, so a fit
        with many labels costs at most twice the steps of one without.
    margin : float, default=LABEL_MARGIN

    Returns
    -------
    callable
        ``term(losses)`` with ``losses`` the step's per-row negative ELBO
        (n,) float32: a scalar tensor to add to the loss. A step of one row
        has no spread to measure against, and adds 0.
    """
    rows = anomalies[0].shape[0]
    size = max(1, min(rows, int(limit)))
    turn = [0]  # where the next step's share of the labelled anomalies starts

    def term(losses: torch.Tensor) -> torch.Tensor:
        if losses.numel() < 2:
            return losses.new_zeros(())
        batch = anomalies
        if size < rows:
            idx = (torch.arange(size, device=anomalies[0].device) + turn[0]) % rows
            turn[0] = (turn[0] + size) % rows
            batch = tuple(a[idx] for a in anomalies)
        mean, spread = losses.detach().mean(), losses.detach().std().clamp_min(1e-6)
        scores = row_loss(module, batch, 1.0, None).float()
        return weight * torch.relu(margin - (scores - mean) / spread).mean()

    return term
