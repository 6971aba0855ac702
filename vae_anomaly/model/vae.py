"""The variational autoencoder: input assembly, encoder, decoder, and the residual covariance it scores with.

Reads top to bottom: input assembly, encoder, decoder, then generation. The
per-feature loss terms are in :mod:`vae_anomaly.model.terms` (re-exported
here), their formulas and bounds in :mod:`vae_anomaly.model.likelihood`. Shapes
are noted as ``(n, d)`` with ``n`` rows, ``d_num`` numeric and ``d_cat``
categorical features, ``k`` latent dimensions.

Weights are initialised from an explicit :class:`torch.Generator`, so
building a model never touches torch's global random state.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

from .likelihood import bounded_latent_log_var, bounded_log_var, check_degrees_of_freedom
from .residuals import BUFFERS
from .tensors import module_device
from .terms import (
    categorical_nll,
    correlated_gaussian_nll,
    gaussian_nll,
    kl_to_standard_normal,
    student_t_nll,
)

__all__ = ["TabularVAE", "draw_noise", "gaussian_nll", "correlated_gaussian_nll", "student_t_nll",
           "categorical_nll", "kl_to_standard_normal"]

class _Linear(nn.Linear):
    """``nn.Linear`` whose constructor leaves the weights uninitialised.

    torch's own initialisation draws from the global generator; :func:`_mlp`
    fills the weights from ours instead. (Building on the ``meta`` device
    would do the same but imports sympy, a quarter of a second at start-up.)
    """

    def reset_parameters(self) -> None:
        pass


def _mlp(sizes: list[int], generator: torch.Generator, device) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = _Linear(a, b, device=device)
        bound = 1.0 / math.sqrt(a)
        with torch.no_grad():
            # Same distribution as torch's default Linear init, from our own generator.
            lin.weight.uniform_(-bound, bound, generator=generator)
            lin.bias.uniform_(-bound, bound, generator=generator)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class TabularVAE(nn.Module):
    """MLP VAE over numeric and categorical columns with missing values.

    Parameters
    ----------
    n_numeric : int
        Number of numeric features (Student-t or Gaussian likelihood).
    cat_sizes : sequence of int
        Number of fitted levels of each categorical feature. The decoder
        gives each one an extra logit for levels never seen in training.
    indicator_cols : sequence of int
        Numeric features that get a 0/1 "missing" input channel.
    hidden : sequence of int
        Encoder layer widths; the decoder mirrors them.
    latent_dim : int
        Size of the Gaussian latent.
    min_log_var : float
        Lower bound on each numeric feature's decoder log-variance.
    generator : torch.Generator
        Source of the initial weights.
    device : str or torch.device
        Where the parameters live.
    student_df : float or None, default=None
        Degrees of freedom of a Student-t likelihood for the numeric
        features; None for a Gaussian one. ``log_var`` is then the log of
        the squared scale.
    """

    def __init__(self, n_numeric, cat_sizes, indicator_cols, hidden, latent_dim, min_log_var,
                 generator, device="cpu", student_df=None):
        super().__init__()
        self.student_df = check_degrees_of_freedom(student_df)
        self.n_numeric = int(n_numeric)
        self.cat_sizes = [int(k) for k in cat_sizes]
        self.latent_dim = int(latent_dim)
        self.min_log_var = float(min_log_var)
        self.register_buffer("indicator_cols", torch.as_tensor(list(indicator_cols), dtype=torch.long,
                                                                device=device))
        self.register_buffer("cat_offsets", torch.as_tensor(_offsets(self.cat_sizes), dtype=torch.long,
                                                             device=device))
        n_in = self.n_numeric + len(indicator_cols) + sum(self.cat_sizes)
        n_out = self.n_numeric + sum(k + 1 for k in self.cat_sizes)
        hidden = [int(h) for h in hidden]
        self.encoder = _mlp([n_in, *hidden], generator, device)
        self.to_latent = _mlp([hidden[-1], 2 * self.latent_dim], generator, device)
        self.decoder = _mlp([self.latent_dim, *hidden[::-1], n_out], generator, device)
        # One learned log-variance per numeric feature (homoscedastic decoder).
        self.log_var = nn.Parameter(torch.zeros(self.n_numeric, device=device))

    # -- residual covariance (set after training) ---------------------------------------------
    def set_residual_covariance(self, location, precision, offset) -> None:
        """Score the numeric features with a full covariance of their residuals from now on.

        ``location`` (d_num,), ``precision`` (d_num, d_num) and ``offset``
        (d_num,) are those of :class:`vae_anomaly.model.residuals.ResidualCovariance`;
        they are kept in float64 as buffers, so they are saved with the
        weights. Training never uses them (see :mod:`vae_anomaly.model.residuals`).
        """
        device = self.log_var.device
        for name, value in zip(BUFFERS, (location, precision, offset), strict=True):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float64).to(device).clone())

    def residual_covariance(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(location, precision, offset)`` the numeric features are scored with, or None (independent)."""
        if self.student_df is not None or not hasattr(self, BUFFERS[0]):
            return None
        return tuple(getattr(self, name) for name in BUFFERS)

    @property
    def full_covariance(self) -> bool:
        """Whether the numeric features are scored with a full residual covariance."""
        return self.residual_covariance() is not None

    # -- input assembly --------------------------------------------------------------------
    def assemble(self, x: torch.Tensor, observed: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Concatenate numeric values, missing flags and one-hot codes.

        ``x`` (n, d_num) has zeros where ``observed`` (n, d_num) is False;
        ``codes`` (n, d_cat) holds -1 for missing and ``k`` for unseen levels,
        both encoded as all-zero one-hot rows.
        """
        parts = [x]
        if self.indicator_cols.numel():
            parts.append((~observed[:, self.indicator_cols]).to(x.dtype))
        if self.cat_sizes:
            total = int(sum(self.cat_sizes))
            valid = (codes >= 0) & (codes < torch.as_tensor(self.cat_sizes, device=codes.device))
            flat = torch.where(valid, codes + self.cat_offsets, total)  # (n, d_cat)
            onehot = torch.zeros(x.shape[0], total + 1, dtype=x.dtype, device=x.device)
            onehot.scatter_(1, flat, 1.0)
            parts.append(onehot[:, :total])
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    # -- encoder / decoder -----------------------------------------------------------------
    def encode(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and log-variance, each (n, k)."""
        h = F.relu(self.encoder(inputs))
        mu, log_var = self.to_latent(h).chunk(2, dim=1)
        return mu, bounded_latent_log_var(log_var)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Numeric means (n, d_num) and category logits (n, sum(k + 1))."""
        out = self.decoder(z)
        return out[:, : self.n_numeric], out[:, self.n_numeric:]

    def feature_log_var(self) -> torch.Tensor:
        """Per-feature decoder log-variance (d_num,), bounded below."""
        return bounded_log_var(self.log_var, self.min_log_var)

    def feature_terms(self, x, observed, codes, z):
        """Negative log-likelihood of each feature given latent ``z``.

        Returns
        -------
        num_nll : Tensor (n, d_num)
            Zero where the value is missing.
        cat_nll : Tensor (n, d_cat)
            Zero where the code is missing.
        """
        mu, logits = self.decode(z)
        residual = self.residual_covariance()
        if residual is not None:
            num_nll = correlated_gaussian_nll(x, mu, observed, *residual)
        elif self.student_df is None:
            num_nll = gaussian_nll(x, mu, self.feature_log_var(), observed)
        else:
            num_nll = student_t_nll(x, mu, self.feature_log_var(), observed, self.student_df)
        cat_nll = categorical_nll(codes, logits, self.cat_sizes)
        return num_nll, cat_nll

    def expected(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder means (n, d_num) and most likely fitted level per category (n, d_cat)."""
        mu, logits = self.decode(z)
        cats = []
        start = 0
        for k in self.cat_sizes:
            cats.append(logits[:, start:start + k].argmax(dim=1))
            start += k + 1
        codes = torch.stack(cats, dim=1) if cats else torch.zeros(z.shape[0], 0, dtype=torch.long,
                                                                   device=z.device)
        return mu, codes

    def sample_codes(self, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Draw one fitted level per categorical feature from the decoder."""
        _, logits = self.decode(z)
        cats = []
        start = 0
        for k in self.cat_sizes:
            probs = logits[:, start:start + k].softmax(dim=1)
            cats.append(torch.multinomial(probs, 1, generator=generator)[:, 0])
            start += k + 1
        if not cats:
            return torch.zeros(z.shape[0], 0, dtype=torch.long, device=z.device)
        return torch.stack(cats, dim=1)


    @torch.no_grad()
    def sample(self, n: int, seed: int, code_seed: int) -> tuple:
        """Draw ``n`` rows from the generative model: numeric values (n, d_num) float64 and codes (n, d_cat).

        Latents come from the prior, numeric values from the likelihood
        around the decoder's mean, codes from the decoder's probabilities.
        """
        gen = torch.Generator(device="cpu").manual_seed(seed)
        device = module_device(self)
        z = torch.randn(n, self.latent_dim, generator=gen).to(device)
        mean, _ = self.decode(z)
        std = torch.exp(0.5 * self.feature_log_var())
        num = (mean + std * draw_noise(mean.shape, self.student_df, gen).to(device)).double().cpu().numpy()
        return num, self.sample_codes(z, gen.manual_seed(code_seed)).cpu().numpy()


def draw_noise(shape, df: float | None, gen: torch.Generator) -> torch.Tensor:
    """Standard Gaussian draws, or Student-t ones with integer ``df``: ``g / sqrt(chi2_df / df)``.

    Raises
    ------
    ValueError
        If ``df`` is not an integer.
    """
    g = torch.randn(shape, generator=gen)
    if df is None:
        return g
    if df != int(df):
        raise ValueError(f"sampling needs integer Student-t degrees of freedom, got {df}")
    chi2 = torch.randn((int(df), *shape), generator=gen).pow(2).sum(dim=0)
    return g * torch.rsqrt(chi2 / df)


def _offsets(sizes: list[int]) -> list[int]:
    return [0, *itertools.accumulate(sizes)][:-1]
