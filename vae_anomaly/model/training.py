"""Training the network: the loop over minibatches, early stopping, and the residual covariance after it.

The loop slices minibatches from in-memory tensors, stops early on the
held-out rows, halves the learning rate on plateaus and warms up the KL term.

Each step is a small function; :func:`train` strings them together. All
randomness comes from the ``generator`` passed in.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from . import inference, residuals
from .optim import FusedAdam, PlateauHalving
from .sizing import TrainConfig
from .tensors import Tensors
from .terms import kl_to_standard_normal
from .vae import TabularVAE

__all__ = ["TrainResult", "train", "fit_residual_covariance", "assembled_inputs", "ASSEMBLE_ONCE_BYTES"]

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What training produced, besides the fitted module."""

    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    n_iter: int = 0
    best_epoch: int = 0
    stopped_early: bool = False


#: The network's inputs (values, missing flags, one-hot codes) depend on the rows only, not on the
#: weights, so training assembles them once per fit instead of once per step and epoch, when they
#: take at most this many bytes; larger tables are assembled batch by batch. Same values either way.
ASSEMBLE_ONCE_BYTES = 256 * 2**20


def _rows(t: Tensors, idx) -> Tensors:
    return tuple(a[idx] for a in t)


def assembled_inputs(module: TabularVAE, data: Tensors | None,
                     limit: int | None = None) -> torch.Tensor | None:
    """``module.assemble`` of every row of ``data`` (n, n_in), or None to assemble batch by batch.

    None when there is nothing to assemble (no missing flag and no category:
    the inputs are the values themselves) or when the inputs would take more
    than ``limit`` bytes (default :data:`ASSEMBLE_ONCE_BYTES`).
    """
    if data is None:
        return None
    limit = ASSEMBLE_ONCE_BYTES if limit is None else limit
    x = data[0]
    n_in = x.shape[1] + module.indicator_cols.numel() + sum(module.cat_sizes)
    if n_in == x.shape[1] or x.shape[0] * n_in * x.element_size() > limit:
        return None
    with torch.no_grad():
        return module.assemble(*data)


def row_loss(module: TabularVAE, batch: Tensors, beta: float,
             generator: torch.Generator | None, inputs: torch.Tensor | None = None) -> torch.Tensor:
    """Negative ELBO per row (n,), with one reparameterised latent sample.

    With ``generator=None`` the latent mean is used instead of a sample (the
    deterministic bound used for validation and scoring). ``inputs`` are the
    batch's assembled network inputs (:func:`assembled_inputs`), or None to
    assemble them here.
    """
    x, observed, codes = batch
    if inputs is None:
        inputs = module.assemble(x, observed, codes)
    mu, log_var = module.encode(inputs)
    if generator is None:
        z = mu
    else:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * log_var) * eps
    num_nll, cat_nll = module.feature_terms(x, observed, codes, z)
    recon = num_nll.sum(dim=1) + cat_nll.sum(dim=1)
    return recon + beta * kl_to_standard_normal(mu, log_var)


def trimmed_mean(losses: torch.Tensor, trim_fraction: float) -> torch.Tensor:
    """Mean of ``losses`` after dropping the largest ``trim_fraction`` of them."""
    if trim_fraction <= 0.0 or losses.numel() < 2:
        return losses.mean()
    keep = max(1, int(math.ceil(losses.numel() * (1.0 - trim_fraction))))
    return torch.topk(losses, keep, largest=False, sorted=False).values.mean()


def kl_weight(cfg: TrainConfig, epoch: int) -> float:
    """KL weight for ``epoch`` (0-based): linear warm-up to ``beta``."""
    if cfg.kl_warmup <= 0:
        return cfg.beta
    return cfg.beta * min(1.0, (epoch + 1) / cfg.kl_warmup)


def run_epoch(module, optimizer, data: Tensors, cfg: TrainConfig, beta: float, generator,
              amp: bool, noise_generator: torch.Generator | None = None,
              inputs: torch.Tensor | None = None,
              extra: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    """One pass over ``data`` in shuffled minibatches; returns the mean loss.

    ``generator`` (on the CPU) shuffles; ``noise_generator`` draws the latent
    samples on the data's device (default: ``generator``, for data on the CPU).
    ``inputs`` are the assembled network inputs of every row of ``data``
    (:func:`assembled_inputs`), or None to assemble each batch's.
    ``extra(losses)``, given the step's per-row losses, is added to each
    step's loss (the labelled anomalies' term, :mod:`vae_anomaly.model.labelled`).
    The step losses stay on the device until the end of the epoch, so a GPU is
    not made to wait for the host after every step.
    """
    module.train()
    n = data[0].shape[0]
    order = torch.randperm(n, generator=generator, device="cpu").to(data[0].device)
    noise_generator = generator if noise_generator is None else noise_generator
    step_losses, sizes = [], []
    for start in range(0, n, cfg.batch_size):
        idx = order[start:start + cfg.batch_size]
        batch = _rows(data, idx)
        with torch.autocast(device_type=data[0].device.type, dtype=torch.bfloat16, enabled=amp):
            losses = row_loss(module, batch, beta, noise_generator, None if inputs is None else inputs[idx])
        loss = trimmed_mean(losses.float(), cfg.trim_fraction)
        if extra is not None:
            loss = loss + extra(losses.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_losses.append(loss.detach())
        sizes.append(idx.numel())
    total = 0.0  # summed in float64 in step order, as the losses were when read one by one
    for value, size in zip(torch.stack(step_losses).cpu().tolist(), sizes, strict=True):
        total += value * size
    return total / max(sum(sizes), 1)


@torch.no_grad()
def validation_loss(module, data: Tensors, chunk: int = 65536, inputs: torch.Tensor | None = None) -> float:
    """Mean deterministic negative ELBO (beta = 1) over ``data``; ``inputs`` as in :func:`run_epoch`."""
    module.eval()
    n = data[0].shape[0]
    total = 0.0
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        total += float(row_loss(module, _rows(data, rows), 1.0, None,
                                None if inputs is None else inputs[rows]).sum())
    return total / max(n, 1)


def train(module: TabularVAE, train_data: Tensors, val_data: Tensors | None, cfg: TrainConfig,
          generator: torch.Generator, extra: Callable[[torch.Tensor], torch.Tensor] | None = None
          ) -> TrainResult:
    """Fit ``module`` in place; keep the weights of the best validation epoch.

    Parameters
    ----------
    module : TabularVAE
        Freshly initialised network.
    train_data, val_data : tuple of Tensor
        From :func:`vae_anomaly.model.tensors.to_tensors`; ``val_data`` may be None (no early stopping).
    cfg : TrainConfig
        Resolved settings.
    generator : torch.Generator
        Drives shuffling and the latent samples.
    extra : callable, optional
        Added to each step's loss, given the step's per-row losses (see
        :func:`run_epoch`); the training loss curve includes it, the
        validation loss (the held-out rows' negative ELBO) does not.

    Returns
    -------
    TrainResult
    """
    optimizer = FusedAdam(module.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = PlateauHalving(optimizer, factor=0.5, patience=max(1, cfg.n_iter_no_change // 3))
    amp = train_data[0].device.type == "cuda"
    noise_generator = None
    if train_data[0].device.type != "cpu":  # a CPU generator cannot draw on a GPU: seed one there from it
        noise_generator = torch.Generator(device=train_data[0].device)
        noise_generator.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    result = TrainResult()
    best, best_state, stale = math.inf, None, 0
    use_val = val_data is not None and val_data[0].shape[0] > 0
    train_inputs = assembled_inputs(module, train_data)
    val_inputs = assembled_inputs(module, val_data) if use_val else None
    epochs = range(cfg.max_epochs)
    bar = None
    if cfg.verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_epochs, desc="training", unit="epoch", leave=False)
    for epoch in epochs:
        loss = run_epoch(module, optimizer, train_data, cfg, kl_weight(cfg, epoch), generator, amp,
                         noise_generator, train_inputs, extra)
        result.loss_curve.append(loss)
        result.n_iter = epoch + 1
        monitor = validation_loss(module, val_data, inputs=val_inputs) if use_val else loss
        if use_val:
            result.validation_loss_curve.append(monitor)
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{monitor:.3f}")
            bar.update(1)
        if not math.isfinite(monitor):
            logger.warning("loss became %s at epoch %d; keeping the best weights so far", monitor, epoch + 1)
            break
        warming = epoch + 1 < cfg.kl_warmup
        scheduler.step(monitor)
        if monitor < best - cfg.tol * max(1.0, abs(best)) or best_state is None or warming:
            best, stale, result.best_epoch = monitor, 0, epoch + 1
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            stale += 1
            if cfg.early_stopping and stale >= cfg.n_iter_no_change:
                result.stopped_early = True
                break
    if bar is not None:
        bar.close()
    if best_state is not None and (cfg.early_stopping or not math.isfinite(result.loss_curve[-1])):
        module.load_state_dict(best_state)
    module.eval()
    return result


def fit_residual_covariance(module, data, trim_fraction: float, min_log_var: float) -> bool:
    """Estimate the residual covariance of a trained network on ``data`` and make it score with it.

    Parameters
    ----------
    module : TabularVAE
        Trained network with a Gaussian likelihood and at least one numeric feature.
    data : tuple of Tensor
        The rows it was fitted on (:func:`vae_anomaly.model.tensors.to_tensors`).
    trim_fraction : float in [0, 0.5)
        Share of the highest-scoring rows left out of the estimate.
    min_log_var : float
        Log of the smallest variance in any direction.

    Returns
    -------
    bool
        Whether the network now uses a full covariance: not with more than
        :data:`~vae_anomaly.model.residuals.MAX_FEATURES` numeric features, nor when
        :func:`~vae_anomaly.model.residuals.residual_covariance` finds none.
    """
    if module.n_numeric > residuals.MAX_FEATURES:
        return False
    scores = inference.score_rows(module, data, "elbo")
    mean, _ = inference.reconstructions(module, data)
    x, observed = data[0].double().cpu().numpy(), data[1].cpu().numpy()
    found = residuals.residual_covariance(np.where(observed, x - mean, 0.0), scores, trim_fraction,
                                          min_log_var)
    if found is None:
        return False
    module.set_residual_covariance(found.location, found.precision, found.offset)
    return True
