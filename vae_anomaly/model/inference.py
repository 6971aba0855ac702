"""A trained network run row by row in fixed chunks: scores, per-feature terms, latent means, reconstructions.

Every function here evaluates rows independently, in fixed-size chunks, with
the network in eval mode and either the latent mean or a fixed set of
importance samples shared by all rows. A row's result therefore does not
depend on which other rows are evaluated with it, on their order, or on the
caller's batch size.

The chunks are small enough (:data:`CHUNK` rows) for the network's
intermediate arrays to stay in the CPU cache, and the decoder and the
likelihood terms are evaluated in place, by the same functions of
:mod:`vae_anomaly.model.likelihood` as :meth:`TabularVAE.feature_terms`, so the
results are the same to the last bit. The scoring stage's torch engine
(:mod:`vae_anomaly.scoring.torch_engine`) and the residual covariance fitted
after training (:mod:`vae_anomaly.model.residuals`) both read them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .likelihood import LOG_2PI, numeric_nll_, numeric_terms
from .tensors import Tensors
from .terms import categorical_nll, correlated_gaussian_nll, kl_to_standard_normal
from .vae import TabularVAE

__all__ = ["CHUNK", "score_rows", "score_and_terms", "feature_terms", "latent_means", "reconstructions"]

# Rows per network evaluation: the hidden activations of a chunk (4096 x 64 floats, 1 MB)
# stay in the CPU's L2 cache; 65,536-row chunks were 2x slower on the same rows.
CHUNK = 4096
# Matrix products on fewer rows than this may take a different kernel whose
# rounding differs; short chunks are padded so every row sees the same arithmetic.
MIN_ROWS = 256



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


def _decode_in_place(module: TabularVAE, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``module.decode(z)`` with each ReLU applied in place to its fresh Linear output."""
    h = z
    for layer in module.decoder:
        if isinstance(layer, nn.Linear):
            h = F.linear(h, layer.weight, layer.bias)
        elif isinstance(layer, nn.ReLU):
            h = h.relu_()
        else:
            h = layer(h)
    return h[:, : module.n_numeric], h[:, module.n_numeric:]


class _Terms:
    """Per-feature terms of chunks at the latent mean, with the constants computed once.

    ``numeric(x, mean, observed)`` returns the same values as
    :meth:`TabularVAE.feature_terms` (``kind="elbo"``) or the masked squared
    error (``kind="reconstruction"``), by the same function
    (:func:`vae_anomaly.model.likelihood.numeric_nll_`), in place on one new array.
    """

    def __init__(self, module: TabularVAE, kind: str, has_missing: bool):
        self.kind = kind
        self.has_missing = has_missing
        self.terms = numeric_terms(module.feature_log_var(), torch.exp, module.student_df)
        self.residual = module.residual_covariance() if kind != "reconstruction" else None

    def numeric(self, x: torch.Tensor, mean: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        if self.residual is not None:
            return correlated_gaussian_nll(x, mean, observed, *self.residual)
        t = x - mean
        t.pow_(2)
        if self.kind != "reconstruction":
            numeric_nll_(t, self.terms, torch.Tensor.log1p_)
        if self.has_missing:
            t.masked_fill_(~observed, 0.0)
        return t


def _evaluate(module: TabularVAE, data: Tensors, kind: str, chunk: int):
    """Yield ``(start, rows, num_terms, cat_terms, mu, log_var)`` per chunk (padded rows included)."""
    module.eval()
    observed = data[1]  # bool; as uint8 its min is a vectorised pass (Tensor.all() is not, 30x slower)
    terms = _Terms(module, kind,
                   has_missing=observed.numel() > 0 and not bool(observed.view(torch.uint8).min()))
    start = 0
    for (x, observed, codes), rows in _chunks(data, chunk):
        mu, log_var = module.encode(module.assemble(x, observed, codes))
        mean, logits = _decode_in_place(module, mu)
        num = terms.numeric(x, mean, observed)
        cat = categorical_nll(codes, logits, module.cat_sizes)
        yield start, rows, num, cat, mu, log_var
        start += rows


def _row_scores(kind: str, num64: torch.Tensor, cat: torch.Tensor, mu, log_var) -> torch.Tensor:
    """Score per row (float64) from one chunk's terms; ``num64`` already in float64."""
    s = num64.sum(1) + cat.double().sum(1)
    if kind != "reconstruction":
        s = s + kl_to_standard_normal(mu, log_var).double()
    return s


@torch.inference_mode()
def score_rows(module: TabularVAE, data: Tensors, kind: str, noise: torch.Tensor | None = None,
               chunk: int = CHUNK) -> np.ndarray:
    """Anomaly score per row (higher = more anomalous), float64 (n,).

    Parameters
    ----------
    module : TabularVAE
        Fitted network.
    data : tuple of Tensor
        From :func:`vae_anomaly.model.tensors.to_tensors`.
    kind : {"elbo", "reconstruction"}
        ``"elbo"``: negative ELBO at the latent mean, or with ``noise`` the
        negative importance-weighted bound over those shared samples.
        ``"reconstruction"``: squared error of the numeric features in scaled
        space plus the categorical negative log-probabilities.
    noise : Tensor (s, k), optional
        Shared importance samples, only for ``kind="elbo"``.
    """
    if kind == "elbo" and noise is not None and noise.shape[0] > 1:
        return _iw_scores(module, data, noise, chunk)
    out = np.empty(data[0].shape[0])
    for start, rows, num, cat, mu, log_var in _evaluate(module, data, kind, chunk):
        out[start:start + rows] = _row_scores(kind, num.double(), cat, mu, log_var)[:rows].cpu().numpy()
    return out


def log_normal(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Log-density of a diagonal Gaussian, summed over the last axis."""
    return -0.5 * (LOG_2PI + log_var + (z - mu).pow(2) * torch.exp(-log_var)).sum(dim=-1)


def _iw_scores(module: TabularVAE, data: Tensors, noise: torch.Tensor, chunk: int) -> np.ndarray:
    module.eval()
    out = []
    for (x, observed, codes), rows in _chunks(data, chunk):
        mu, log_var = module.encode(module.assemble(x, observed, codes))
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


@torch.inference_mode()
def score_and_terms(module: TabularVAE, data: Tensors, kind: str,
                    chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly score (n,) and per-feature terms (n, d_num + d_cat) in one pass.

    Same values as :func:`score_rows` (without importance samples) and
    :func:`feature_terms`, computed from a single forward pass per chunk.
    """
    n, d_num = data[0].shape
    scores = np.empty(n)
    terms = np.empty((n, d_num + len(module.cat_sizes)))
    for start, rows, num, cat, mu, log_var in _evaluate(module, data, kind, chunk):
        num64 = num.double()
        scores[start:start + rows] = _row_scores(kind, num64, cat, mu, log_var)[:rows].cpu().numpy()
        terms[start:start + rows, :d_num] = num64[:rows].cpu().numpy()
        terms[start:start + rows, d_num:] = cat[:rows].cpu().numpy()
    return scores, terms


@torch.inference_mode()
def feature_terms(module: TabularVAE, data: Tensors, kind: str, chunk: int = CHUNK) -> np.ndarray:
    """Per-feature surprise at the latent mean, float64 (n, d_num + d_cat).

    Numeric features come first, then categorical ones, in the
    preprocessor's order. For ``kind="elbo"`` they are negative
    log-likelihoods; for ``"reconstruction"`` squared errors (numeric) and
    negative log-probabilities (categorical). Missing values contribute 0.
    """
    return score_and_terms(module, data, kind, chunk)[1]


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
