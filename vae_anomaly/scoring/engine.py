"""The one factory of scoring engines: NumPy on CPU, torch on a GPU or for the importance-weighted bound.

Both the estimator (which holds a torch network) and ``vae-detect score``
(which holds only the weights read from a model file) get their engine
here, so on CPU both score with the same NumPy engine and their scores are
equal to the last bit. Building a NumPy engine from weights imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from ..features.encoder import Encoded
from .network import Network, NetworkSpec
from .numpy_engine import NumpyEngine, scores_in_numpy

__all__ = ["Engine", "build_engine"]


class Engine(Protocol):
    """Turns encoded rows into raw scores and per-feature terms."""

    def raw_scores(self, enc: Encoded, with_terms: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores (n,) float64 and, when asked, terms (n, d_num + d_cat) float64."""
        ...


def build_engine(spec: NetworkSpec, kind: str, n_samples: int, noise_seed: int, device: str = "cpu", *,
                 weights: Mapping[str, np.ndarray] | None = None, module=None) -> Engine:
    """The engine that scores with a fitted network.

    Parameters
    ----------
    spec : NetworkSpec
        The network's shape and likelihood.
    kind : {"elbo", "reconstruction"}
        What the score measures (``VAEDetector.score_type``).
    n_samples : int
        Latent samples; above 1 (with ``kind="elbo"``) the torch engine
        computes the importance-weighted bound with fixed samples.
    noise_seed : int
        Seed of those samples.
    device : str, default="cpu"
        A resolved device. Anything but ``"cpu"`` scores in torch.
    weights : mapping of str to ndarray, optional
        The network's state dict as NumPy arrays (from a model file).
    module : TabularVAE, optional
        The torch network itself (from the estimator); one of ``weights``
        and ``module`` is needed.

    Returns
    -------
    NumpyEngine or TorchEngine

    Raises
    ------
    ValueError
        If the weights do not match ``spec``.
    """
    if scores_in_numpy(kind, n_samples, device):
        if weights is None:
            weights = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
        return NumpyEngine(Network.from_weights(weights, spec), kind)
    from .torch_engine import TorchEngine, importance_noise, module_from_weights

    if module is None:
        module = module_from_weights(spec, weights, device)
    iw = kind == "elbo" and n_samples > 1
    return TorchEngine(module, kind, importance_noise(n_samples, spec.latent_dim, noise_seed) if iw else None)
