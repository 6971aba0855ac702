"""Per-feature negative log-likelihoods of the torch network's outputs, and its KL term.

The formulas, constants and bounds come from :mod:`vae_anomaly.model.likelihood`
(shared with the NumPy engine); these functions apply them to torch tensors
with the masking of missing values. :mod:`vae_anomaly.model.vae` calls them for
training and the torch scoring engine for scoring.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .likelihood import correlated_nll_, kl_elements, numeric_nll_, numeric_terms

__all__ = ["gaussian_nll", "correlated_gaussian_nll", "student_t_nll", "categorical_nll",
           "kl_to_standard_normal"]


def gaussian_nll(x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor,
                 observed: torch.Tensor) -> torch.Tensor:
    """Per-feature Gaussian negative log-density, zero where not observed.

    Parameters
    ----------
    x, mu : Tensor (n, d)
    log_var : Tensor (d,)
    observed : bool Tensor (n, d)

    Returns
    -------
    Tensor (n, d)
    """
    nll = numeric_nll_((x - mu).pow(2), numeric_terms(log_var, torch.exp, None), torch.Tensor.log1p_)
    return torch.where(observed, nll, torch.zeros_like(nll))


def correlated_gaussian_nll(x: torch.Tensor, mu: torch.Tensor, observed: torch.Tensor, location: torch.Tensor,
                            precision: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Per-feature terms of a Gaussian with full residual covariance, float64, zero where not observed.

    Parameters
    ----------
    x, mu : Tensor (n, d)
    observed : bool Tensor (n, d)
    location, offset : float64 Tensor (d,)
    precision : float64 Tensor (d, d)

    Returns
    -------
    float64 Tensor (n, d)
        See :func:`vae_anomaly.model.likelihood.correlated_nll_`.
    """
    r = (x - mu).double() - location
    r = torch.where(observed, r, torch.zeros_like(r))
    nll = correlated_nll_(r, precision, offset, torch.matmul)
    return torch.where(observed, nll, torch.zeros_like(nll))


def student_t_nll(x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor, observed: torch.Tensor,
                  df: float) -> torch.Tensor:
    """Per-feature Student-t negative log-density, zero where not observed.

    Parameters
    ----------
    x, mu : Tensor (n, d)
    log_var : Tensor (d,)
        Log of each feature's squared scale.
    observed : bool Tensor (n, d)
    df : float
        Degrees of freedom.

    Returns
    -------
    Tensor (n, d)
    """
    nll = numeric_nll_((x - mu).pow(2), numeric_terms(log_var, torch.exp, df), torch.Tensor.log1p_)
    return torch.where(observed, nll, torch.zeros_like(nll))


def categorical_nll(codes: torch.Tensor, logits: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Per-feature categorical negative log-probability, zero where missing.

    Parameters
    ----------
    codes : long Tensor (n, d_cat)
        -1 for missing; ``k`` (one past the fitted levels) for an unseen level.
    logits : Tensor (n, sum(k + 1))
        Each feature's ``k + 1`` logits side by side.
    sizes : list of int
        Fitted level counts ``k`` per feature.

    Returns
    -------
    Tensor (n, d_cat)
    """
    n = codes.shape[0]
    if not sizes:
        return logits.new_zeros(n, 0)
    out = []
    start = 0
    for j, k in enumerate(sizes):
        block = logits[:, start:start + k + 1]
        c = codes[:, j]
        nll = F.cross_entropy(block, c.clamp(min=0), reduction="none")
        out.append(torch.where(c >= 0, nll, torch.zeros_like(nll)))
        start += k + 1
    return torch.stack(out, dim=1)


def kl_to_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(log_var)) || N(0, I)) per row, shape (n,)."""
    return kl_elements(mu, log_var, torch.exp).sum(dim=1)
