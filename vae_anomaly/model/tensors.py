"""Torch devices and the tensors the network reads: ``"auto"`` resolved, encoded rows moved once.

Kept apart from the network so that the training loop, the torch scoring
engine and the jobs agree on one tensor layout and one device rule.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..exceptions import InvalidInputError
from ..features.encoder import Encoded

__all__ = ["Tensors", "to_tensors", "resolve_device", "module_device"]

Tensors = tuple  # (x: float (n, d_num) zero-filled, observed: bool (n, d_num), codes: long (n, d_cat))


def to_tensors(enc: Encoded, device, dtype=torch.float32) -> Tensors:
    """Move encoded rows to ``device`` once: zero-filled values, observed mask, codes."""
    num = torch.from_numpy(np.ascontiguousarray(enc.num))
    observed = ~torch.isnan(num)
    x = torch.nan_to_num(num, nan=0.0).to(device=device, dtype=dtype)
    return x, observed.to(device), torch.from_numpy(np.ascontiguousarray(enc.cat)).to(device)


def resolve_device(device: str) -> str:
    """``device`` checked, with ``"auto"`` resolved to ``"cuda"`` when CUDA is available, else ``"cpu"``.

    The one device check: the estimator's ``fit`` and ``load`` and the jobs call it.

    Raises
    ------
    InvalidInputError
        If ``device`` is not a torch device, or asks for CUDA where there is none.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        raise InvalidInputError(
            f"device must be 'auto', 'cpu' or a torch device such as 'cuda:0', got {device!r}"
        ) from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(f"device={device!r} was requested but CUDA is not available")
    return device


def module_device(module: nn.Module) -> torch.device:
    """The device a network's parameters live on."""
    return next(module.parameters()).device


