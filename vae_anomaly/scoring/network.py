"""The network's shape and weights as plain values: what persistence stores and the engines score with.

:class:`NetworkSpec` describes a fitted :class:`~vae_anomaly.model.vae.TabularVAE`
(its layer widths, feature counts and likelihood) in JSON-able fields;
:class:`Network` holds its weights as NumPy arrays, checked against the spec.
Neither needs torch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..model.likelihood import bounded_log_var, check_degrees_of_freedom
from ..model.residuals import BUFFERS
from ..options import COVARIANCE_TYPES

__all__ = ["NetworkSpec", "Network", "module_weights"]

_LAYER = re.compile(r"^(encoder|to_latent|decoder)\.(\d+)\.(weight|bias)$")

Layers = tuple[tuple[np.ndarray, np.ndarray], ...]


@dataclass(frozen=True)
class NetworkSpec:
    """The shape and likelihood of a fitted network, as stored in a model file.

    Attributes
    ----------
    n_numeric : int
        Numeric features (each with a Gaussian or Student-t likelihood).
    cat_sizes : tuple of int
        Fitted levels per categorical feature.
    indicator_cols : tuple of int
        Numeric features with a 0/1 "missing" input channel.
    hidden : tuple of int
        Encoder widths; the decoder mirrors them.
    latent_dim : int
    min_log_var : float
        Lower bound on each numeric feature's log-variance.
    student_df : float or None
        Student-t degrees of freedom; None for a Gaussian likelihood.
    covariance_type : {"diag", "full"}
        ``"full"`` when the numeric features are scored with the covariance
        of their residuals (:mod:`vae_anomaly.model.residuals`), whose arrays are
        then among the weights.
    """

    n_numeric: int
    cat_sizes: tuple
    indicator_cols: tuple
    hidden: tuple
    latent_dim: int
    min_log_var: float
    student_df: float | None = None
    covariance_type: str = "diag"

    def to_dict(self) -> dict:
        """JSON-able form (the model file's ``network`` section)."""
        return {"n_numeric": self.n_numeric, "cat_sizes": list(self.cat_sizes),
                "indicator_cols": list(self.indicator_cols), "hidden": list(self.hidden),
                "latent_dim": self.latent_dim, "min_log_var": self.min_log_var, "student_df": self.student_df,
                "covariance_type": self.covariance_type}

    @classmethod
    def from_dict(cls, d: dict) -> NetworkSpec:
        """Inverse of :meth:`to_dict`.

        Files of format 1 have no ``student_df`` (Gaussian), files before
        format 5 no ``covariance_type`` (``"diag"``).

        Raises
        ------
        ValueError
            If ``covariance_type`` is neither ``"diag"`` nor ``"full"``.
        """
        covariance = d.get("covariance_type", "diag")
        if covariance not in COVARIANCE_TYPES:
            raise ValueError(f"unknown covariance_type {covariance!r}")
        return cls(int(d["n_numeric"]), tuple(int(k) for k in d["cat_sizes"]),
                   tuple(int(i) for i in d["indicator_cols"]), tuple(int(h) for h in d["hidden"]),
                   int(d["latent_dim"]), float(d["min_log_var"]),
                   check_degrees_of_freedom(d.get("student_df")), covariance)

    @classmethod
    def of(cls, module, hidden) -> NetworkSpec:
        """The spec of a fitted ``TabularVAE`` whose encoder widths are ``hidden``, read from its attributes.

        The inverse of :func:`vae_anomaly.scoring.torch_engine.module_from_weights`; torch is not
        imported here.
        """
        return cls(module.n_numeric, tuple(module.cat_sizes), tuple(module.indicator_cols.cpu().tolist()),
                   tuple(hidden), module.latent_dim, module.min_log_var, module.student_df,
                   "full" if module.full_covariance else "diag")


def module_weights(module) -> dict[str, np.ndarray]:
    """A torch network's state dict as C-contiguous NumPy arrays on the CPU (views of CPU tensors)."""
    return {k: v.detach().cpu().contiguous().numpy() for k, v in module.state_dict().items()}


@dataclass(frozen=True)
class Network:
    """The weights a fitted :class:`~vae_anomaly.model.vae.TabularVAE` scores with.

    Attributes
    ----------
    encoder, to_latent, decoder : tuple of (weight, bias)
        Linear layers in order; ``weight`` is (in, out) float32, so a layer
        is ``h @ weight + bias``. A ReLU follows every encoder layer and
        every decoder layer but the last; none follows ``to_latent``, whose
        output is the latent mean and log-variance side by side.
    log_var : ndarray (d_num,)
        Per-feature decoder log-variance (log squared scale), already bounded below.
    n_numeric : int
        Numeric features; they come first in the output.
    cat_sizes : tuple of int
        Fitted levels per categorical feature (each has one more logit).
    indicator_cols : ndarray of int
        Numeric features with a 0/1 "missing" input channel.
    student_df : float or None
        Degrees of freedom of the numeric features' Student-t likelihood;
        None for a Gaussian one.
    residual : tuple of ndarray or None
        ``(location, precision, offset)`` float64 of the residuals' full
        covariance (:class:`vae_anomaly.model.residuals.ResidualCovariance`), or
        None: independent features with the variances ``log_var``.
    """

    encoder: Layers
    to_latent: Layers
    decoder: Layers
    log_var: np.ndarray
    n_numeric: int
    cat_sizes: tuple[int, ...]
    indicator_cols: np.ndarray
    student_df: float | None = None
    residual: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_weights(cls, state: Mapping[str, np.ndarray], spec: NetworkSpec) -> Network:
        """Build from a ``TabularVAE`` state dict held as NumPy arrays.

        The weights' shapes must match ``spec``.

        Raises
        ------
        ValueError
            If a layer or ``log_var`` is missing or a shape does not match.
        """
        found: dict[str, dict[int, dict[str, np.ndarray]]] = {"encoder": {}, "to_latent": {}, "decoder": {}}
        for key, value in state.items():
            m = _LAYER.match(key)
            if m:
                found[m.group(1)].setdefault(int(m.group(2)), {})[m.group(3)] = np.asarray(value, np.float32)
        if "log_var" not in state:
            raise ValueError("the network has no 'log_var'")
        student_df = spec.student_df
        n_numeric, cat_sizes, indicator_cols = spec.n_numeric, spec.cat_sizes, spec.indicator_cols

        def layers(part: str) -> Layers:
            if not found[part]:
                raise ValueError(f"the network has no {part!r} layers")
            out = []
            for i in sorted(found[part]):
                w, b = found[part][i].get("weight"), found[part][i].get("bias")
                if w is None or b is None or w.ndim != 2 or b.shape != (w.shape[0],):
                    raise ValueError(f"layer {part}.{i} is incomplete or misshapen")
                out.append((np.ascontiguousarray(w.T), b))
            return tuple(out)

        enc, lat, dec = layers("encoder"), layers("to_latent"), layers("decoder")
        chain = [*enc, *lat]
        for (w1, _), (w2, _) in zip(chain[:-1], chain[1:], strict=True):
            if w1.shape[1] != w2.shape[0]:
                raise ValueError("the encoder's layer shapes do not chain")
        log_var = bounded_log_var(np.asarray(state["log_var"], np.float32), spec.min_log_var)
        cat_sizes = tuple(int(k) for k in cat_sizes)
        indicator_cols = np.asarray(indicator_cols, dtype=np.int64).reshape(-1)
        widths = [w.shape[1] for w, _ in enc]
        k = lat[-1][0].shape[1] // 2
        expected = {
            "inputs": (enc[0][0].shape[0], int(n_numeric) + indicator_cols.size + sum(cat_sizes)),
            "outputs": (dec[-1][0].shape[1], int(n_numeric) + sum(c + 1 for c in cat_sizes)),
            "log_var": (log_var.shape, (int(n_numeric),)),
            "decoder": ([w.shape[0] for w, _ in dec], [k, *widths[::-1]]),
        }
        expected["hidden"] = (widths, [int(h) for h in spec.hidden])
        expected["latent_dim"] = (k, int(spec.latent_dim))
        residual = None
        if spec.covariance_type == "full":
            if any(name not in state for name in BUFFERS):
                raise ValueError("the network has no residual covariance")
            residual = tuple(np.asarray(state[name], np.float64) for name in BUFFERS)
            d = int(n_numeric)
            expected["residual covariance"] = ([a.shape for a in residual], [(d,), (d, d), (d,)])
        for what, (got, want) in expected.items():
            if got != want:
                raise ValueError(f"the weights do not match the stored network ({what}: {got} vs {want})")
        return cls(enc, lat, dec, log_var, int(n_numeric), cat_sizes, indicator_cols, student_df, residual)

    @property
    def n_inputs(self) -> int:
        return self.encoder[0][0].shape[0]

    @property
    def latent_dim(self) -> int:
        return self.to_latent[-1][0].shape[1] // 2
