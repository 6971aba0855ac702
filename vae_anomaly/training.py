"""The training loop: minibatches sliced from in-memory tensors, early stopping
on a validation split, a plateau learning-rate schedule and KL warm-up.

Each step is a small function; :func:`train` strings them together. All
randomness comes from the ``generator`` passed in.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .model import TabularVAE, kl_to_standard_normal
from .preprocessing import Encoded

__all__ = ["TrainConfig", "TrainResult", "to_tensors", "train"]

logger = logging.getLogger(__name__)


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


@dataclass
class TrainResult:
    """What training produced, besides the fitted module."""

    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    n_iter: int = 0
    best_epoch: int = 0
    stopped_early: bool = False


Tensors = tuple  # (x: float (n, d_num) zero-filled, observed: bool (n, d_num), codes: long (n, d_cat))


def to_tensors(enc: Encoded, device, dtype=torch.float32) -> Tensors:
    """Move encoded rows to ``device`` once: zero-filled values, observed mask, codes."""
    num = torch.from_numpy(np.ascontiguousarray(enc.num))
    observed = ~torch.isnan(num)
    x = torch.nan_to_num(num, nan=0.0).to(device=device, dtype=dtype)
    return x, observed.to(device), torch.from_numpy(np.ascontiguousarray(enc.cat)).to(device)


def _rows(t: Tensors, idx) -> Tensors:
    return tuple(a[idx] for a in t)


def row_loss(module: TabularVAE, batch: Tensors, beta: float, generator: torch.Generator | None) -> torch.Tensor:
    """Negative ELBO per row (n,), with one reparameterised latent sample.

    With ``generator=None`` the latent mean is used instead of a sample (the
    deterministic bound used for validation and scoring).
    """
    x, observed, codes = batch
    mu, log_var = module.encode(module.assemble(x, observed, codes))
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
              amp: bool) -> float:
    """One pass over ``data`` in shuffled minibatches; returns the mean loss."""
    module.train()
    n = data[0].shape[0]
    order = torch.randperm(n, generator=generator, device="cpu").to(data[0].device)
    total, seen = 0.0, 0
    for start in range(0, n, cfg.batch_size):
        idx = order[start:start + cfg.batch_size]
        batch = _rows(data, idx)
        with torch.autocast(device_type=data[0].device.type, dtype=torch.bfloat16, enabled=amp):
            losses = row_loss(module, batch, beta, generator)
        loss = trimmed_mean(losses.float(), cfg.trim_fraction)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * idx.numel()
        seen += idx.numel()
    return total / max(seen, 1)


@torch.no_grad()
def validation_loss(module, data: Tensors, chunk: int = 65536) -> float:
    """Mean deterministic negative ELBO (beta = 1) over ``data``."""
    module.eval()
    n = data[0].shape[0]
    total = 0.0
    for start in range(0, n, chunk):
        total += float(row_loss(module, _rows(data, slice(start, start + chunk)), 1.0, None).sum())
    return total / max(n, 1)


def train(module: TabularVAE, train_data: Tensors, val_data: Tensors | None, cfg: TrainConfig,
          generator: torch.Generator) -> TrainResult:
    """Fit ``module`` in place; keep the weights of the best validation epoch.

    Parameters
    ----------
    module : TabularVAE
        Freshly initialised network.
    train_data, val_data : tuple of Tensor
        From :func:`to_tensors`; ``val_data`` may be None (no early stopping).
    cfg : TrainConfig
        Resolved settings.
    generator : torch.Generator
        Drives shuffling and the latent samples.

    Returns
    -------
    TrainResult
    """
    optimizer = torch.optim.Adam(module.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                                 fused=True)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=max(1, cfg.n_iter_no_change // 3)
    )
    amp = train_data[0].device.type == "cuda"
    result = TrainResult()
    best, best_state, stale = math.inf, None, 0
    use_val = val_data is not None and val_data[0].shape[0] > 0
    epochs = range(cfg.max_epochs)
    bar = None
    if cfg.verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_epochs, desc="training", unit="epoch", leave=False)
    for epoch in epochs:
        loss = run_epoch(module, optimizer, train_data, cfg, kl_weight(cfg, epoch), generator, amp)
        result.loss_curve.append(loss)
        result.n_iter = epoch + 1
        monitor = validation_loss(module, val_data) if use_val else loss
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
