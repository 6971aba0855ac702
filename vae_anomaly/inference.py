"""Scores from a fitted network with NumPy alone.

CPU scoring runs here rather than in torch: a scoring job (``vae-detect
score``) then needs neither torch nor scikit-learn, which took most of its
start-up time, and the arithmetic is no slower. The formulas are those of
:mod:`vae_anomaly.model` (encoder at the latent mean, Student-t or Gaussian and
categorical negative log-likelihoods, KL to the prior), in float32 with
float64 sums; the torch versions agree to float32 rounding.

Rows are evaluated in chunks of exactly :data:`CHUNK` rows, the last one
padded, so every row goes through the same matrix-product kernels whatever
the number of rows, their order or the caller's batch size: a row's score is
the same to the last bit.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .likelihood import check_degrees_of_freedom, student_t_constants
from .preprocessing import Encoded

__all__ = ["CHUNK", "Network", "NumpyEngine", "scores_in_numpy", "ONE_BLAS_THREAD"]

# Rows per evaluation: hidden activations of a chunk (4096 x 64 float32, 1 MB) stay in cache.
CHUNK = 4096
_LOG_2PI = math.log(2.0 * math.pi)
_LAYER = re.compile(r"^(encoder|to_latent|decoder)\.(\d+)\.(weight|bias)$")

Layers = tuple[tuple[np.ndarray, np.ndarray], ...]


@dataclass(frozen=True)
class Network:
    """The weights a fitted :class:`~vae_anomaly.model.TabularVAE` scores with.

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
    """

    encoder: Layers
    to_latent: Layers
    decoder: Layers
    log_var: np.ndarray
    n_numeric: int
    cat_sizes: tuple[int, ...]
    indicator_cols: np.ndarray
    student_df: float | None = None

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray], n_numeric: int, cat_sizes, indicator_cols,
                   min_log_var: float, hidden=None, latent_dim: int | None = None,
                   student_df: float | None = None) -> Network:
        """Build from a ``TabularVAE`` state dict held as NumPy arrays.

        ``hidden`` and ``latent_dim``, when given (as stored in a model
        file), must match the weights' shapes. ``student_df`` is None for a
        Gaussian likelihood.

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
        student_df = check_degrees_of_freedom(student_df)

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
        log_var = np.maximum(np.asarray(state["log_var"], np.float32), np.float32(min_log_var))
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
        if hidden is not None:
            expected["hidden"] = (widths, [int(h) for h in hidden])
        if latent_dim is not None:
            expected["latent_dim"] = (k, int(latent_dim))
        for what, (got, want) in expected.items():
            if got != want:
                raise ValueError(f"the weights do not match the stored network ({what}: {got} vs {want})")
        return cls(enc, lat, dec, log_var, int(n_numeric), cat_sizes, indicator_cols, student_df)

    @property
    def n_inputs(self) -> int:
        return self.encoder[0][0].shape[0]

    @property
    def latent_dim(self) -> int:
        return self.to_latent[-1][0].shape[1] // 2


class _OneBlasThread:
    """Context manager: BLAS on one thread while any scoring runs in this process.

    The thread count of the BLAS library is a process-wide setting. The
    first thread to enter sets it to one and the last to leave restores it,
    so threads scoring at the same time never restore it under each other.
    Entering costs a lock and a counter; the library is looked up once.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._controller = None
        self._limits = None

    def __enter__(self):
        with self._lock:
            if self._depth == 0:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limits = self._controller.limit(limits=1, user_api="blas")
            self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._limits.restore_original_limits()
                self._limits = None


# The products here are small (a chunk times a layer): BLAS threads add nothing, and under
# CPU load OpenBLAS's spinning threads made scoring 10x slower.
ONE_BLAS_THREAD = _OneBlasThread()


def scores_in_numpy(kind: str, n_samples: int, device) -> bool:
    """Whether rows are scored here rather than in torch: on CPU, at the latent mean.

    The importance-weighted bound (``kind="elbo"`` with ``n_samples > 1``)
    and GPU scoring stay in torch (:mod:`vae_anomaly.scoring`).
    """
    return str(device) == "cpu" and not (kind == "elbo" and n_samples > 1)


def _mlp(h: np.ndarray, layers: Layers, relu_last: bool) -> np.ndarray:
    for i, (w, b) in enumerate(layers):
        h = h @ w
        h += b
        if relu_last or i < len(layers) - 1:
            np.maximum(h, 0.0, out=h)
    return h


class NumpyEngine:
    """Per-row anomaly scores and per-feature terms of a :class:`Network`.

    Parameters
    ----------
    net : Network
    kind : {"elbo", "reconstruction"}
        As ``VAEDetector.score_type``: the negative ELBO at the latent mean,
        or the squared error in scaled space (numeric features) plus the
        categorical negative log-probabilities.

    Notes
    -----
    While it scores, the BLAS library runs on one thread (see
    :data:`ONE_BLAS_THREAD`); callers parallelise over batches.
    """

    def __init__(self, net: Network, kind: str):
        if kind not in ("elbo", "reconstruction"):
            raise ValueError(f"unknown score kind {kind!r}")
        self.net = net
        self.kind = kind
        self._inv_var = np.exp(-net.log_var)
        if net.student_df is None:
            self._offset = np.float32(_LOG_2PI) + net.log_var
        else:  # the constants of vae_anomaly.model.student_t_nll; Python floats keep the arrays float32
            self._inv_var, self._offset, self._half_power = student_t_constants(
                net.log_var, self._inv_var, net.student_df)
        offsets = np.cumsum([0, *net.cat_sizes])[:-1]
        self._onehot_base = net.n_numeric + net.indicator_cols.size + offsets  # input column of level 0
        self._logit_base = np.cumsum([0, *(k + 1 for k in net.cat_sizes)])[:-1]

    def raw_scores(self, enc: Encoded, with_terms: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores (n,) float64 and, when asked, terms (n, d_num + d_cat) float64.

        Missing values (NaN numeric, negative codes) contribute 0 to both.
        """
        n, d_num = enc.num.shape
        d_cat = len(self.net.cat_sizes)
        if d_num != self.net.n_numeric or enc.cat.shape[1] != d_cat:
            raise ValueError(f"encoded rows have {d_num} numeric and {enc.cat.shape[1]} categorical features; "
                             f"the network expects {self.net.n_numeric} and {d_cat}")
        scores = np.empty(n)
        terms = np.empty((n, d_num + d_cat)) if with_terms else None
        with ONE_BLAS_THREAD:
            for start in range(0, n, CHUNK):
                stop = min(start + CHUNK, n)
                s, t = self._chunk(enc.num[start:stop], enc.cat[start:stop])
                rows = stop - start
                scores[start:stop] = s[:rows]
                if with_terms:
                    terms[start:stop] = t[:rows]
        return scores, terms

    def _chunk(self, num: np.ndarray, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores and terms of one chunk, padded to ``CHUNK`` rows (padding rows come last)."""
        net = self.net
        rows = num.shape[0]
        x = np.zeros((CHUNK, net.n_numeric), np.float32)
        x[:rows] = num
        observed = ~np.isnan(x)
        has_missing = not observed[:rows].all()
        if has_missing:
            x[~observed] = 0.0
        codes = np.full((CHUNK, len(net.cat_sizes)), -1, np.int64)
        codes[:rows] = cat
        inputs = self._assemble(x, observed, codes)
        latent = _mlp(_mlp(inputs, net.encoder, True), net.to_latent, False)
        k = net.latent_dim
        mu, log_var = latent[:, :k], np.clip(latent[:, k:], -12.0, 8.0)
        out = _mlp(np.ascontiguousarray(mu), net.decoder, False)
        t = x - out[:, : net.n_numeric]
        t *= t
        if self.kind == "elbo" and self.net.student_df is None:
            t *= self._inv_var
            t += self._offset
            t *= np.float32(0.5)
        elif self.kind == "elbo":
            t *= self._inv_var
            np.log1p(t, out=t)
            t *= self._half_power
            t += self._offset
        if has_missing:
            t[~observed] = 0.0
        num64 = t.astype(np.float64)
        cat64 = self._categorical(codes, out[:, net.n_numeric:]).astype(np.float64)
        score = num64.sum(axis=1) + cat64.sum(axis=1)
        if self.kind == "elbo":
            kl = np.float32(0.5) * (mu * mu + np.exp(log_var) - np.float32(1.0) - log_var)
            score += kl.astype(np.float64).sum(axis=1)
        return score, np.concatenate([num64, cat64], axis=1) if cat64.shape[1] else num64

    def _assemble(self, x: np.ndarray, observed: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Network input: values, missing flags, one-hot levels (unseen or missing: all zero)."""
        net = self.net
        if not net.indicator_cols.size and not net.cat_sizes:
            return x
        inputs = np.zeros((x.shape[0], net.n_inputs), np.float32)
        inputs[:, : net.n_numeric] = x
        if net.indicator_cols.size:
            inputs[:, net.n_numeric: net.n_numeric + net.indicator_cols.size] = ~observed[:, net.indicator_cols]
        rows = np.arange(x.shape[0])
        for j, size in enumerate(net.cat_sizes):
            c = codes[:, j]
            valid = (c >= 0) & (c < size)
            inputs[rows[valid], self._onehot_base[j] + c[valid]] = 1.0
        return inputs

    def _categorical(self, codes: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """Negative log-probability of each code (n, d_cat), 0 where missing."""
        out = np.zeros((codes.shape[0], len(self.net.cat_sizes)), np.float32)
        rows = np.arange(codes.shape[0])
        for j, size in enumerate(self.net.cat_sizes):
            block = logits[:, self._logit_base[j]: self._logit_base[j] + size + 1]
            top = block.max(axis=1)
            lse = top + np.log(np.exp(block - top[:, None]).sum(axis=1))
            c = codes[:, j]
            nll = lse - block[rows, np.maximum(c, 0)]
            out[:, j] = np.where(c >= 0, nll, 0.0)
        return out
