"""Adam with its learning rate halved on plateaus, as torch.optim does it, without its start-up cost.

Constructing any ``torch.optim`` optimizer imports ``torch._dynamo`` (the
compiler): about 1 s of start-up on an idle 2-core machine, 3 to 4 s under
load, a quarter of ``vae-detect fit`` on the bundled sample. This module
calls the same fused kernel that ``torch.optim.Adam(fused=True)`` calls
(``torch._fused_adam_``) with the same state, and reduces the learning rate
by the rule of ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (mode
``"min"``, relative threshold, no cooldown), so training is bit-identical
to those two classes (``tests/model/test_optimizer.py`` checks it step by step).
Where this torch lacks that private kernel or takes it differently (checked
once per optimiser on a one-element tensor), Adam comes from ``torch.optim``.

Adam: Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
"""

from __future__ import annotations

import math

import torch

__all__ = ["FusedAdam", "PlateauHalving"]


class FusedAdam:
    """Adam over ``params`` (betas 0.9 and 0.999, eps 1e-8), one fused kernel call per step.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        Parameters of one dtype on one device (those of a network).
    lr : float
        Learning rate (read at every step; :class:`PlateauHalving` lowers it).
    weight_decay : float, default=0.0
        L2 penalty added to the gradients, as ``torch.optim.Adam`` does.
    """

    betas = (0.9, 0.999)
    eps = 1e-8

    def __init__(self, params, lr: float, weight_decay: float = 0.0):
        self.params = list(params)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self._state: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._fallback = None
        device = self.params[0].device if self.params else torch.device("cpu")
        if not _fused_kernel_works(device):  # another torch release: its own Adam, slower to start
            self._fallback = torch.optim.Adam(self.params, lr=self.lr, weight_decay=self.weight_decay)

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (set it to None)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of the parameters that have a gradient."""
        if self._fallback is not None:
            for group in self._fallback.param_groups:
                group["lr"] = self.lr
            self._fallback.step()
            return
        params, grads, avgs, sqs, steps = [], [], [], [], []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if i not in self._state:  # the state torch.optim.Adam(fused=True) starts from
                self._state[i] = (torch.zeros((), dtype=torch.float32, device=p.device),
                                  torch.zeros_like(p, memory_format=torch.preserve_format),
                                  torch.zeros_like(p, memory_format=torch.preserve_format))
            step, avg, sq = self._state[i]
            params.append(p)
            grads.append(p.grad)
            avgs.append(avg)
            sqs.append(sq)
            steps.append(step)
        if not params:
            return
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(params, grads, avgs, sqs, [], steps, amsgrad=False, lr=self.lr,
                           beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay,
                           eps=self.eps, maximize=False, grad_scale=None, found_inf=None)


def _fused_kernel_works(device: torch.device) -> bool:
    """Whether this torch's private fused Adam kernel takes the call :meth:`FusedAdam.step` makes.

    It is not public API: a torch release without it, or with another
    signature, is detected here on a one-element tensor, and Adam then comes
    from ``torch.optim``.
    """
    if not hasattr(torch, "_fused_adam_"):
        return False
    p, g = torch.zeros(1, device=device), torch.ones(1, device=device)
    try:
        with torch.no_grad():
            torch._fused_adam_([p], [g], [torch.zeros_like(p)], [torch.zeros_like(p)], [],
                               [torch.ones((), device=device)], amsgrad=False, lr=1e-3, beta1=0.9,
                               beta2=0.999, weight_decay=0.0, eps=1e-8, maximize=False, grad_scale=None,
                               found_inf=None)
    except (TypeError, RuntimeError, NotImplementedError):
        return False
    return bool(torch.isfinite(p).all() and p.item() != 0.0)


class PlateauHalving:
    """Multiply an optimizer's learning rate by ``factor`` when a monitored loss stops falling.

    The rule of ``torch.optim.lr_scheduler.ReduceLROnPlateau(mode="min",
    threshold_mode="rel", cooldown=0, min_lr=0)``: a value counts as better
    when it is below ``best * (1 - threshold)``; after more than
    ``patience`` values in a row that are not, the rate is multiplied by
    ``factor`` (unless that changes it by no more than 1e-8).

    Parameters
    ----------
    optimizer : FusedAdam
        Its ``lr`` is lowered in place.
    factor : float, default=0.5
    patience : int, default=10
    threshold : float, default=1e-4
    """

    def __init__(self, optimizer: FusedAdam, factor: float = 0.5, patience: int = 10,
                 threshold: float = 1e-4):
        self.optimizer = optimizer
        self.factor, self.patience, self.threshold = float(factor), int(patience), float(threshold)
        self.best = math.inf
        self.bad = 0

    def step(self, value: float) -> None:
        """Record one epoch's monitored loss; lower the rate after a plateau."""
        value = float(value)
        if value < self.best * (1.0 - self.threshold):
            self.best, self.bad = value, 0
        else:
            self.bad += 1
        if self.bad > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, 0.0)
            if old - new > 1e-8:
                self.optimizer.lr = new
            self.bad = 0
