"""Scores from a fitted torch network: the engine for GPUs and the importance-weighted bound.

On CPU, scores at the latent mean come from the NumPy copy of the network
(:mod:`~vae_anomaly.scoring.numpy_engine`; :func:`~vae_anomaly.scoring.engine.build_engine`
chooses). The torch engine here scores on a GPU and computes the
importance-weighted bound, through the network's row-independent evaluation
(:mod:`vae_anomaly.model.inference`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..model.inference import feature_terms, score_and_terms, score_rows
from ..model.tensors import to_tensors
from ..model.vae import TabularVAE
from .network import NetworkSpec

__all__ = ["importance_noise", "TorchEngine", "module_from_weights"]


def importance_noise(n_samples: int, latent_dim: int, seed: int) -> torch.Tensor:
    """Fixed standard-normal draws (n_samples, latent_dim) reused for every row."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n_samples, latent_dim, generator=g)


class TorchEngine:
    """Raw scores from a torch network: on a GPU, or importance-weighted.

    Parameters
    ----------
    module : TabularVAE
        Fitted network, on any device.
    kind : {"elbo", "reconstruction"}
    noise : Tensor (s, k), optional
        Shared importance samples (:func:`importance_noise`), ``kind="elbo"`` only.
    """

    def __init__(self, module: TabularVAE, kind: str, noise: torch.Tensor | None = None):
        self.module = module
        self.kind = kind
        self.noise = noise

    def raw_scores(self, enc, with_terms: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores (n,) and, when asked, per-feature terms (n, d_num + d_cat), float64."""
        data = to_tensors(enc, next(self.module.parameters()).device)
        if self.kind == "elbo" and self.noise is not None and self.noise.shape[0] > 1:
            scores = score_rows(self.module, data, self.kind, self.noise)
            return scores, feature_terms(self.module, data, self.kind) if with_terms else None
        if with_terms:
            return score_and_terms(self.module, data, self.kind)
        return score_rows(self.module, data, self.kind), None


def module_from_weights(spec: NetworkSpec, weights: Mapping[str, np.ndarray], device) -> TabularVAE:
    """The torch network of ``spec`` with ``weights`` (a state dict of NumPy arrays), on ``device``, in
    eval mode.

    Raises
    ------
    RuntimeError
        If the weights do not fit the network.
    """
    module = TabularVAE(spec.n_numeric, spec.cat_sizes, spec.indicator_cols, spec.hidden, spec.latent_dim,
                        spec.min_log_var, torch.Generator().manual_seed(0), device="cpu",
                        student_df=spec.student_df)
    if spec.covariance_type == "full":  # the buffers exist before the weights fill them
        d = spec.n_numeric
        module.set_residual_covariance(np.zeros(d), np.zeros((d, d)), np.zeros(d))
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()}, strict=True)
    return module.to(device).eval()
