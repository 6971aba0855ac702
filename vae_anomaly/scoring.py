"""Deterministic per-row scores and per-feature terms from a fitted network.

Every function here evaluates rows independently, in fixed-size chunks, with
the network in eval mode and either the latent mean or a fixed set of
importance samples shared by all rows. A row's score therefore does not
depend on which other rows are scored with it, on their order, or on the
caller's batch size.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .model import TabularVAE, kl_to_standard_normal, log_normal
from .training import Tensors

__all__ = ["importance_noise", "score_rows", "feature_terms"]

CHUNK = 65536
# Matrix products on fewer rows than this may take a different kernel whose
# rounding differs; short chunks are padded so every row sees the same arithmetic.
MIN_ROWS = 256


def importance_noise(n_samples: int, latent_dim: int, seed: int) -> torch.Tensor:
    """Fixed standard-normal draws (n_samples, latent_dim) reused for every row."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n_samples, latent_dim, generator=g)


def _chunks(data: Tensors, chunk: int):
    """Yield ``(batch, n_real)``: row chunks padded to at least ``MIN_ROWS`` rows."""
    n = data[0].shape[0]
    for start in range(0, n, chunk):
        batch = tuple(a[start:start + chunk] for a in data)
        rows = batch[0].shape[0]
        if rows < MIN_ROWS:
            x, observed, codes = batch
            pad = MIN_ROWS - rows
            batch = (
                torch.cat([x, x.new_zeros(pad, x.shape[1])]),
                torch.cat([observed, observed.new_zeros(pad, observed.shape[1])]),
                torch.cat([codes, codes.new_full((pad, codes.shape[1]), -1)]),
            )
        yield batch, rows


@torch.no_grad()
def score_rows(module: TabularVAE, data: Tensors, kind: str, noise: torch.Tensor | None = None,
               chunk: int = CHUNK) -> np.ndarray:
    """Anomaly score per row (higher = more anomalous), float64 (n,).

    Parameters
    ----------
    module : TabularVAE
        Fitted network.
    data : tuple of Tensor
        From :func:`vae_anomaly.training.to_tensors`.
    kind : {"elbo", "reconstruction"}
        ``"elbo"``: negative ELBO at the latent mean, or with ``noise`` the
        negative importance-weighted bound over those shared samples.
        ``"reconstruction"``: squared error of the numeric features in scaled
        space plus the categorical negative log-probabilities.
    noise : Tensor (s, k), optional
        Shared importance samples, only for ``kind="elbo"``.
    """
    module.eval()
    out = []
    for (x, observed, codes), rows in _chunks(data, chunk):
        mu, log_var = module.encode(module.assemble(x, observed, codes))
        if kind == "reconstruction":
            mean, _ = module.decode(mu)
            sq = torch.where(observed, (x - mean).pow(2), torch.zeros_like(x))
            _, cat_nll = module.feature_terms(x, observed, codes, mu)
            s = sq.double().sum(1) + cat_nll.double().sum(1)
        elif noise is None or noise.shape[0] <= 1:
            num_nll, cat_nll = module.feature_terms(x, observed, codes, mu)
            s = num_nll.double().sum(1) + cat_nll.double().sum(1) + kl_to_standard_normal(mu, log_var).double()
        else:
            s = -_iw_bound(module, x, observed, codes, mu, log_var, noise.to(mu.device, mu.dtype))
        out.append(s[:rows].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _iw_bound(module, x, observed, codes, mu, log_var, noise):
    """Importance-weighted lower bound on log p(x) per row, float64 (n,)."""
    std = torch.exp(0.5 * log_var)
    log_w = []
    for eps in noise:  # eps: (k,)
        z = mu + std * eps
        num_nll, cat_nll = module.feature_terms(x, observed, codes, z)
        log_px = -(num_nll.double().sum(1) + cat_nll.double().sum(1))
        log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).double()
        log_qz = log_normal(z, mu, log_var).double()
        log_w.append(log_px + log_pz - log_qz)
    # (n, s), reduced along the contiguous axis so each row's arithmetic is the
    # same whatever the number of rows (a strided reduction vectorises across rows).
    stacked = torch.stack(log_w, dim=1).contiguous()
    return torch.logsumexp(stacked, dim=1) - math.log(stacked.shape[1])


@torch.no_grad()
def score_and_terms(module: TabularVAE, data: Tensors, kind: str,
                    chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly score (n,) and per-feature terms (n, d_num + d_cat) in one pass.

    Same values as :func:`score_rows` (without importance samples) and
    :func:`feature_terms`, computed from a single forward pass per chunk.
    """
    module.eval()
    scores, terms = [], []
    for (x, observed, codes), rows in _chunks(data, chunk):
        mu, log_var = module.encode(module.assemble(x, observed, codes))
        num_nll, cat_nll = module.feature_terms(x, observed, codes, mu)
        if kind == "reconstruction":
            mean, _ = module.decode(mu)
            num_nll = torch.where(observed, (x - mean).pow(2), torch.zeros_like(x))
            s = num_nll.double().sum(1) + cat_nll.double().sum(1)
        else:
            s = num_nll.double().sum(1) + cat_nll.double().sum(1) + kl_to_standard_normal(mu, log_var).double()
        scores.append(s[:rows].cpu().numpy())
        terms.append(torch.cat([num_nll, cat_nll], dim=1)[:rows].double().cpu().numpy())
    if not scores:
        return np.zeros(0), np.zeros((0, module.n_numeric + len(module.cat_sizes)))
    return np.concatenate(scores), np.concatenate(terms)


@torch.no_grad()
def feature_terms(module: TabularVAE, data: Tensors, kind: str, chunk: int = CHUNK) -> np.ndarray:
    """Per-feature surprise at the latent mean, float64 (n, d_num + d_cat).

    Numeric features come first, then categorical ones, in the
    preprocessor's order. For ``kind="elbo"`` they are negative
    log-likelihoods; for ``"reconstruction"`` squared errors (numeric) and
    negative log-probabilities (categorical). Missing values contribute 0.
    """
    module.eval()
    out = []
    for (x, observed, codes), rows in _chunks(data, chunk):
        mu, _ = module.encode(module.assemble(x, observed, codes))
        num_nll, cat_nll = module.feature_terms(x, observed, codes, mu)
        if kind == "reconstruction":
            mean, _ = module.decode(mu)
            num_nll = torch.where(observed, (x - mean).pow(2), torch.zeros_like(x))
        out.append(torch.cat([num_nll, cat_nll], dim=1)[:rows].double().cpu().numpy())
    n_feat = module.n_numeric + len(module.cat_sizes)
    return np.concatenate(out) if out else np.zeros((0, n_feat))


@torch.no_grad()
def latent_means(module: TabularVAE, data: Tensors, chunk: int = CHUNK) -> np.ndarray:
    """Latent means (n, k) as float64."""
    module.eval()
    out = [module.encode(module.assemble(*batch))[0][:rows].double().cpu().numpy()
           for batch, rows in _chunks(data, chunk)]
    return np.concatenate(out) if out else np.zeros((0, module.latent_dim))


@torch.no_grad()
def reconstructions(module: TabularVAE, data: Tensors, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Decoder means for numeric features and most likely levels, at the latent mean."""
    module.eval()
    nums, cats = [], []
    for batch, rows in _chunks(data, chunk):
        mu, _ = module.encode(module.assemble(*batch))
        mean, codes = module.expected(mu)
        nums.append(mean[:rows].double().cpu().numpy())
        cats.append(codes[:rows].cpu().numpy())
    if not nums:
        return np.zeros((0, module.n_numeric)), np.zeros((0, len(module.cat_sizes)), dtype=np.int64)
    return np.concatenate(nums), np.concatenate(cats)
