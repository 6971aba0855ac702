"""Scores from a fitted network with NumPy alone: the CPU engine.

CPU scoring runs here rather than in torch: a scoring job (``vae-detect
score``) then needs neither torch nor scikit-learn, which took most of its
start-up time, and the arithmetic is no slower. The formulas are those of
:mod:`vae_anomaly.model.likelihood` (encoder at the latent mean, Student-t or
Gaussian and categorical negative log-likelihoods, KL to the prior), in
float32 with float64 sums; the torch engine agrees to float32 rounding.

A row's score is the same to the last bit whatever the number of rows,
their order, its position among them, the caller's batch size or the number
of BLAS threads:

* each row's layer products are computed on their own, as a stack of
  vector-matrix products. One matrix product over many rows does not promise
  that: on this project's machines (OpenBLAS 0.3.31, Haswell kernels on an
  AMD EPYC) the last bit of a row's result depended on its position in the
  product, and with several BLAS threads on how the product was split;
* rows are evaluated in chunks of exactly :data:`CHUNK` rows, the last one
  padded, so the sums over features always run over arrays of one shape.
"""

from __future__ import annotations

import numpy as np

from ..features.encoder import Encoded
from ..model.likelihood import (
    bounded_latent_log_var,
    correlated_nll_,
    kl_elements,
    numeric_nll_,
    numeric_terms,
)
from .network import Layers, Network

__all__ = ["CHUNK", "NumpyEngine", "scores_in_numpy"]

# Rows per evaluation: hidden activations of a chunk (4096 x 64 float32, 1 MB) stay in cache.
CHUNK = 4096


def scores_in_numpy(kind: str, n_samples: int, device) -> bool:
    """Whether rows are scored here rather than in torch: on CPU, at the latent mean.

    The importance-weighted bound (``kind="elbo"`` with ``n_samples > 1``)
    and GPU scoring stay in torch (:mod:`vae_anomaly.scoring.torch_engine`).
    """
    return str(device) == "cpu" and not (kind == "elbo" and n_samples > 1)


def _log1p_(a: np.ndarray) -> None:
    np.log1p(a, out=a)


def _mlp(h: np.ndarray, layers: Layers, relu_last: bool) -> np.ndarray:
    """Linear layers with ReLU between them; ``h`` (n, d_in) float32, one vector-matrix product per row."""
    for i, (w, b) in enumerate(layers):
        h = np.matmul(h[:, None, :], w)[:, 0, :]
        h += b
        if relu_last or i < len(layers) - 1:
            np.maximum(h, 0.0, out=h)
    return h


def _rowwise_matvec(r: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``r @ m`` as one vector-matrix product per row (see the module docstring)."""
    return np.matmul(r[:, None, :], m)[:, 0, :]


class NumpyEngine:
    """Per-row anomaly scores and per-feature terms of a :class:`Network`.

    Parameters
    ----------
    net : Network
    kind : {"elbo", "reconstruction"}
        As ``VAEDetector.score_type``: the negative ELBO at the latent mean,
        or the squared error in scaled space (numeric features) plus the
        categorical negative log-probabilities.
    """

    def __init__(self, net: Network, kind: str):
        if kind not in ("elbo", "reconstruction"):
            raise ValueError(f"unknown score kind {kind!r}")
        self.net = net
        self.kind = kind
        self._terms = numeric_terms(net.log_var, np.exp, net.student_df)
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
            raise ValueError(f"encoded rows have {d_num} numeric and {enc.cat.shape[1]} categorical "
                             f"features; the network expects {self.net.n_numeric} and {d_cat}")
        scores = np.empty(n)
        terms = np.empty((n, d_num + d_cat)) if with_terms else None
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
        mu, log_var = latent[:, :k], bounded_latent_log_var(latent[:, k:])
        out = _mlp(np.ascontiguousarray(mu), net.decoder, False)
        t = x - out[:, : net.n_numeric]
        if self.kind == "elbo" and net.residual is not None:
            num64 = self._correlated(t, observed, has_missing)
        else:
            t *= t
            if self.kind == "elbo":
                numeric_nll_(t, self._terms, _log1p_)
            if has_missing:
                t[~observed] = 0.0
            num64 = t.astype(np.float64)
        cat64 = self._categorical(codes, out[:, net.n_numeric:]).astype(np.float64)
        score = num64.sum(axis=1) + cat64.sum(axis=1)
        if self.kind == "elbo":
            score += kl_elements(mu, log_var, np.exp).astype(np.float64).sum(axis=1)
        return score, np.concatenate([num64, cat64], axis=1) if cat64.shape[1] else num64

    def _correlated(self, t: np.ndarray, observed: np.ndarray, has_missing: bool) -> np.ndarray:
        """Numeric terms (n, d_num) float64 under the residuals' full covariance, 0 where missing."""
        location, precision, offset = self.net.residual
        r = t.astype(np.float64)
        r -= location
        if has_missing:
            r[~observed] = 0.0
        correlated_nll_(r, precision, offset, _rowwise_matvec)
        if has_missing:
            r[~observed] = 0.0
        return r

    def _assemble(self, x: np.ndarray, observed: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Network input: values, missing flags, one-hot levels (unseen or missing: all zero)."""
        net = self.net
        if not net.indicator_cols.size and not net.cat_sizes:
            return x
        inputs = np.zeros((x.shape[0], net.n_inputs), np.float32)
        inputs[:, : net.n_numeric] = x
        if net.indicator_cols.size:
            inputs[:, net.n_numeric: net.n_numeric + net.indicator_cols.size] = (
                ~observed[:, net.indicator_cols])
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
