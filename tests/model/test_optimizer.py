"""The training loop's optimizer: the same steps as torch.optim, without its start-up cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")


def _network(seed: int):
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-0.5, 0.5, generator=gen)
    return net


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_fused_adam_and_plateau_halving_match_torch_optim_bit_for_bit(weight_decay):
    from vae_anomaly.model.optim import FusedAdam, PlateauHalving

    ours, ref = _network(0), _network(0)
    opt = FusedAdam(ours.parameters(), lr=3e-3, weight_decay=weight_decay)
    sched = PlateauHalving(opt, factor=0.5, patience=2)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=3e-3, weight_decay=weight_decay, fused=True)
    ref_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, factor=0.5, patience=2)
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(1))
    y = torch.randn(64, 3, generator=torch.Generator().manual_seed(2))
    # Monitored values that improve, then stall, so the rate is halved twice.
    monitored = [5.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.9999, 3.0, 3.0, 3.0, 1.0]
    for value in monitored:
        for net, o in ((ours, opt), (ref, ref_opt)):
            for _ in range(3):
                o.zero_grad()
                ((net(x) - y) ** 2).mean().backward()
                o.step()
        sched.step(value)
        ref_sched.step(value)
        assert opt.lr == ref_opt.param_groups[0]["lr"]
    assert opt.lr == pytest.approx(3e-3 / 4)
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)


def test_fitting_does_not_import_the_torch_compiler():
    # torch.optim's optimizers import torch._dynamo when built: seconds of start-up for `vae-detect fit`.
    code = ("import sys, numpy as np; from vae_anomaly import VAEDetector; "
            "VAEDetector(random_state=0, max_iter=2).fit(np.random.default_rng(0).normal(size=(200, 3))); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_adam_comes_from_torch_optim_when_the_fused_kernel_is_missing_or_changed(monkeypatch):
    from vae_anomaly.model import optim as adam

    def changed(*args, **kwargs):
        raise TypeError("_fused_adam_() got an unexpected keyword argument 'beta1'")

    monkeypatch.setattr(torch, "_fused_adam_", changed)
    p = torch.nn.Parameter(torch.ones(3))
    opt = adam.FusedAdam([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    assert opt._fallback is not None and torch.all(p < 1.0)  # a step was taken, by torch.optim
