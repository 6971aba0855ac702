"""Leads of issue 15, measured on the benchmark's own splits: other scores from the same fit.

For every (set, seed) of ``benchmarks/adbench.py`` (the same real sets, the
same synthetic kinds from ``benchmarks/synthetic.py``, the same 70/30
split) this fits ``VAEDetector(random_state=seed, **params)`` on the
training part and scores the test part in several ways, so every variant
below is compared with the default score on the very same fit:

``elbo``
    the default anomaly score, ``-score_samples``.
``lat_maha``, ``lat_prior``, ``lat_knn``
    density in the latent space: Mahalanobis distance of the latent mean
    (``transform``) to the training rows' latent means; its squared norm
    (the prior's density at it); mean distance to the 5 nearest training
    latent means.
``elbo+maha``, ``elbo+knn``
    the ELBO score plus a latent score, each standardised by the median and
    interquartile range of its values on the training rows.
``lr_marg``, ``lr_half``, ``elbo+lr``
    a likelihood ratio against a reference model of independent per-column
    marginals (Ren et al., NeurIPS 2019, used a background model instead):
    ELBO score minus the marginal negative log-likelihood (all, or half of
    it), and the standardised ELBO plus the standardised ratio.
``elbo+marg``, ``elbo+marg/2``
    the opposite combination: standardised ELBO plus (half) the
    standardised marginal negative log-likelihood (a product of experts
    that weights marginal extremes more).
``typicality``
    distance of the standardised ELBO score from the training rows'
    median in either direction, so rows that are *too* likely count as
    well (a per-row version of the typicality test of Nalisnick et al.,
    "Detecting out-of-distribution inputs to deep generative models using
    typicality", 2019).
``sigma_mean``, ``sigma_median`` (and ``..._recon`` without the KL term)
    the decoder's per-column variance set after training from the squared
    residuals of the training rows at their latent means (their mean, or
    their median over that of a chi-square with one degree of freedom)
    instead of the learned one, in the spirit of the calibrated decoder of
    the sigma-VAE (Rybkin et al., ICML 2021). ``elbo_check`` rebuilds the
    default score from the same residuals and the learned variance, as a
    check of that arithmetic. Only for models of numeric columns without
    missing values.
``resid_maha``, ``resid_maha_trim``, ``resid_corr``, ``resid_corr_learned``, ``elbo+rmaha``
    with ``--family resid`` (and only then): the numeric residuals at the
    latent mean scored with their full (Ledoit-Wolf) covariance from the
    training rows, all of them or without the top ``trim_fraction`` of
    default scores, or in units of each column's spread; see
    :func:`residual_covariance_scores`. The library's
    ``covariance_type="full"`` is ``resid_maha_trim`` fitted on the
    network's own training rows, with eigenvalues at least ``exp(min_log_var)``.
``ens_mean``, ``ens_rawmean``
    with ``--fits K``: K fits with seeds ``seed, 1000 seed + 1, ...``
    combined by the mean of standardised scores or of raw scores (the
    latent and marginal variants are then not computed).

The marginal model is a histogram of each scaled column (the values the
network sees), ``sqrt(n)`` bins (at least 10) over the training range
widened by 10 % on each side, add-one-half smoothing, and a Laplace tail of
one bin's width beyond it. ``--budget x2`` doubles the default training
budget (``_AUTO_STEPS`` and ``_AUTO_ROWS`` of ``vae_anomaly.model.training``);
``--budget sqrt`` sizes it by the data, ``600 * sqrt(0.8 n / 5000)``
steps within [300, 2400] (``0.8 n``: about the rows the network is fitted
on, ``n`` those of the training part) and no cap on rows seen; ``--latent half`` makes
the default latent width ``ceil(d / 2)`` within [2, 32] instead of
``ceil(d / 4)`` within [2, 16]; ``--heavy-tail X`` compresses a column with
asinh only when its extreme quantiles lie over X robust spreads from the
median (default 10; ``inf``: never). These patch module constants of the
library in this process only.

Every (set, seed, variant) is appended to ``--out`` (JSON lines); a (set,
seed) already in it is skipped. ``--compare A.jsonl:VARIANT
B.jsonl:VARIANT`` prints, per slice (real half A, real half B, each
synthetic kind), the mean AUC-ROC and AUC-PR of both and the sets won and
lost by B (set means over seeds, ties at 3 decimals); a file of
``adbench.py`` (``runs.jsonl``) can be given too, with a method name as
VARIANT (its runs with default parameters, the newest of each).

Usage::

    python benchmarks/score_leads.py ../shared/datasets/adbench --out runs.jsonl \\
        --kinds real --seeds 0 1 2
    python benchmarks/score_leads.py --compare runs.jsonl:elbo runs.jsonl:elbo+marg/2
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import adbench  # noqa: E402  (next to this script)

LATENT_NEIGHBOURS = 5
MAX_ROWS = 50_000  # adbench.py's default --max-rows
CHI2_1_MEDIAN = 0.454936423119572  # median of a chi-square variable with one degree of freedom


def robust_standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(test, train)`` minus the training median, over the training interquartile range."""
    med = np.median(train)
    iqr = float(np.subtract(*np.percentile(train, [75, 25]))) or 1.0
    return (test - med) / iqr, (train - med) / iqr


def marginal_nll(train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Sum over columns of each row's negative log histogram density (see the module docstring).

    Columns constant or empty in ``train`` and missing cells add nothing.
    """
    total = np.zeros(len(rows))
    for j in range(train.shape[1]):
        col = train[:, j]
        col = col[np.isfinite(col)]
        if col.size == 0 or np.ptp(col) == 0:
            continue
        lo, hi = col.min(), col.max()
        width = hi - lo
        n_bins = max(10, int(np.sqrt(col.size)))
        edges = np.linspace(lo - 0.1 * width, hi + 0.1 * width, n_bins + 1)
        counts, _ = np.histogram(col, edges)
        density = (counts + 0.5) / ((col.size + 0.5 * n_bins) * np.diff(edges))
        v = rows[:, j]
        idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, n_bins - 1)
        beyond = np.where(v < edges[0], edges[0] - v, np.where(v > edges[-1], v - edges[-1], 0.0))
        nll = -np.log(density[idx]) + beyond / (width / n_bins + 1e-12)
        total += np.where(np.isfinite(v), nll, 0.0)
    return total


def set_budget(budget: str | None, n_train: int) -> None:
    """Patch the training budget constants of ``vae_anomaly.model.training`` (see the module docstring)."""
    import vae_anomaly.model.training as training

    if budget == "x2":
        training._AUTO_STEPS, training._AUTO_ROWS = 1200, 1_200_000
    elif budget == "sqrt":
        training._AUTO_STEPS = int(np.clip(600 * math.sqrt(0.8 * n_train / 5000), 300, 2400))
        training._AUTO_ROWS = 10**12


def set_latent(latent: str | None) -> None:
    """With ``"half"``, make the default latent width ``ceil(d / 2)`` within [2, 32]."""
    if latent != "half":
        return
    import vae_anomaly.model.sizing as sizing

    default_shape = sizing.network_shape

    def shape(d_in, hidden_layer_sizes=None, latent_dim=None):
        hidden, _ = default_shape(d_in, hidden_layer_sizes, latent_dim)
        return hidden, latent_dim or int(np.clip(math.ceil(d_in / 2), 2, 32))

    sizing.network_shape = shape  # build_network looks it up there



def decoder_residuals(est, X: np.ndarray, signed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Squared (or, with ``signed``, plain) residuals of the numeric columns at the latent mean (n, d)
    and each row's KL term (n,)."""
    import torch

    from vae_anomaly.model.vae import kl_to_standard_normal

    module = est.module_
    x, observed, codes = est._tensors(est._prepare(X).enc)
    with torch.inference_mode():
        mu, log_var = module.encode(module.assemble(x, observed, codes))
        mean, _ = module.decode(mu)
        r = x - mean if signed else (x - mean) ** 2
        r2 = torch.where(observed, r, torch.zeros_like(x)).double().numpy()
        kl = kl_to_standard_normal(mu, log_var).double().numpy()
    return r2, kl


def calibrated_variance_scores(est, X_train: np.ndarray, X_test: np.ndarray) -> dict[str, np.ndarray]:
    """Scores with each column's decoder variance set from the training residuals (see the docstring)."""
    r2_train, _ = decoder_residuals(est, X_train)
    r2_test, kl_test = decoder_residuals(est, X_test)
    learned = est.module_.feature_log_var().detach().double().numpy()
    out = {"elbo_check": (0.5 * (r2_test / np.exp(learned) + learned)).sum(1) + kl_test}
    for name, var in (("sigma_mean", r2_train.mean(0)),
                      ("sigma_median", np.median(r2_train, 0) / CHI2_1_MEDIAN)):
        var = np.maximum(var, 1e-6)
        out[name] = (0.5 * (r2_test / var + np.log(var))).sum(1) + kl_test
        out[name + "_recon"] = (0.5 * r2_test / var).sum(1)
    return out


def residual_covariance_scores(est, X_train: np.ndarray, X_test: np.ndarray) -> dict[str, np.ndarray]:
    """Scores with a full covariance for the decoder's residuals, estimated after training.

    ``resid_maha``: the Mahalanobis distance of a row's numeric residuals at
    its latent mean, under their Ledoit-Wolf covariance on the training
    rows, plus the KL term (the ELBO with one full-covariance Gaussian for
    the residuals instead of the learned per-column variances; the log
    determinant is the same for every row). ``resid_maha_trim``: the
    covariance from the training rows outside the top ``trim_fraction`` of
    default scores (the share training drops from each batch).
    ``elbo+rmaha``: standardised ELBO plus standardised ``resid_maha``.
    ``resid_corr`` and ``resid_corr_learned``: the same on residuals divided
    by each column's spread (their standard deviation on the training rows,
    or the decoder's learned one), so the shrinkage pulls towards a
    diagonal model with per-column variances instead of one common variance.
    """
    from sklearn.covariance import LedoitWolf

    r_train, kl_train = decoder_residuals(est, X_train, signed=True)
    r_test, kl_test = decoder_residuals(est, X_test, signed=True)
    s_train = -est.score_samples(X_train)
    keep = s_train <= np.quantile(s_train, 1.0 - est.trim_fraction)
    out = {}
    for name, rows in (("resid_maha", slice(None)), ("resid_maha_trim", keep)):
        lw = LedoitWolf().fit(r_train[rows])
        out[name] = 0.5 * lw.mahalanobis(r_test) + kl_test
        if name == "resid_maha":
            train = 0.5 * lw.mahalanobis(r_train) + kl_train
    # Per-column scales kept, correlations added: Ledoit-Wolf on residuals in units of each column's
    # spread, which shrinks towards the diagonal model rather than towards one common variance.
    scales = {"resid_corr": r_train.std(0), "resid_corr_learned": np.exp(0.5 * est.module_.feature_log_var()
                                                                         .detach().double().numpy())}
    for name, scale in scales.items():
        scale = np.maximum(scale, 1e-6)
        lw = LedoitWolf().fit(r_train / scale)
        out[name] = 0.5 * lw.mahalanobis(r_test / scale) + kl_test
    e_test, _ = robust_standardise(s_train, -est.score_samples(X_test))
    out["elbo+rmaha"] = e_test + robust_standardise(train, out["resid_maha"])[0]
    return out


def variants(ests: list, X_train: np.ndarray, X_test: np.ndarray,
             family: str = "all") -> dict[str, np.ndarray]:
    """Anomaly scores of the test rows (higher = more anomalous), by variant name."""
    from sklearn.neighbors import NearestNeighbors

    est = ests[0]
    s_test, s_train = -est.score_samples(X_test), -est.score_samples(X_train)
    out = {"elbo": s_test}
    if family == "resid":
        if est.module_.cat_sizes == [] and not est.module_.indicator_cols.numel():
            out.update(residual_covariance_scores(est, X_train, X_test))
        return out
    if len(ests) > 1:
        std = [robust_standardise(-e.score_samples(X_train), -e.score_samples(X_test))[0] for e in ests]
        out["ens_mean"] = np.mean(std, axis=0)
        out["ens_rawmean"] = np.mean([-e.score_samples(X_test) for e in ests], axis=0)
        return out
    e_test, _ = robust_standardise(s_train, s_test)
    out["typicality"] = np.abs(e_test)
    if est.module_.cat_sizes == [] and not est.module_.indicator_cols.numel():
        out.update(calibrated_variance_scores(est, X_train, X_test))
    z_train, z_test = est.transform(X_train), est.transform(X_test)
    centre = z_train.mean(0)
    precision = np.linalg.inv(np.cov(z_train.T) + 1e-6 * np.eye(z_train.shape[1]))

    def maha(z):
        return np.einsum("ij,jk,ik->i", z - centre, precision, z - centre)

    out["lat_maha"], out["lat_prior"] = maha(z_test), (z_test**2).sum(1)
    nn = NearestNeighbors(n_neighbors=LATENT_NEIGHBOURS).fit(z_train)
    out["lat_knn"] = nn.kneighbors(z_test)[0].mean(1)
    knn_train = nn.kneighbors(z_train, n_neighbors=LATENT_NEIGHBOURS + 1)[0][:, 1:].mean(1)
    out["elbo+maha"] = e_test + robust_standardise(maha(z_train), out["lat_maha"])[0]
    out["elbo+knn"] = e_test + robust_standardise(knn_train, out["lat_knn"])[0]
    num_train = est._prepare(X_train).enc.num.astype(np.float64)
    num_test = est._prepare(X_test).enc.num.astype(np.float64)
    if num_train.shape[1] == X_train.shape[1]:  # one scaled column per raw column
        m_test, m_train = marginal_nll(num_train, num_test), marginal_nll(num_train, num_train)
        out["lr_marg"], out["lr_half"] = s_test - m_test, s_test - 0.5 * m_test
        out["elbo+lr"] = e_test + robust_standardise(s_train - m_train, s_test - m_test)[0]
        g_test, _ = robust_standardise(m_train, m_test)
        out["elbo+marg"], out["elbo+marg/2"] = e_test + g_test, e_test + 0.5 * g_test
    return out


def run(args: argparse.Namespace) -> None:
    """Fit and score every (set, seed) not yet in ``args.out``."""
    import torch

    from vae_anomaly import VAEDetector

    torch.set_num_threads(1)
    set_latent(args.latent)
    if args.heavy_tail is not None:
        import vae_anomaly.features.scaling as scaling

        scaling._HEAVY_TAIL = args.heavy_tail
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {(r["dataset"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())}
    kinds = [k for k in args.kinds if k != "real"]
    tasks = adbench.build_tasks(adbench.list_datasets(Path(args.data_dir), args.datasets), kinds,
                                "real" in args.kinds, MAX_ROWS)
    for task in tasks:
        X0, y0 = adbench.load_dataset(task.path)
        for seed in args.seeds:
            if (task.name, seed) in done:
                continue
            X, y = X0, y0
            if task.kind is not None:
                X, y = adbench._synthetic().NormalModel(task.path.stem, X0, y0, seed).make(task.kind)
            X_train, X_test, _, y_test = adbench.make_split(X, y, seed, MAX_ROWS)
            set_budget(args.budget, len(X_train))
            start = time.perf_counter()
            ests = [VAEDetector(random_state=seed * 1000 + k if k else seed, **args.vae_params).fit(X_train)
                    for k in range(args.fits)]
            fit_s = time.perf_counter() - start
            with out.open("a") as f:
                for name, scores in variants(ests, X_train, X_test, args.family).items():
                    roc, pr = adbench.evaluate(np.asarray(scores, float), y_test)
                    f.write(json.dumps({"dataset": task.name, "group": task.group, "seed": seed,
                                        "variant": name, "auc_roc": roc, "auc_pr": pr,
                                        "fit_s": fit_s}) + "\n")
            print(f"{task.name} seed={seed} fit={fit_s:.1f}s", flush=True)


def compare(base: str, new: str) -> None:
    """Print per slice the means of two ``FILE[+FILE...]:VARIANT`` results and B's sets won / lost."""
    import pandas as pd

    def read(path: str) -> pd.DataFrame:
        d = pd.DataFrame([json.loads(line) for line in open(path)])
        if "method" in d:  # adbench.py's runs.jsonl: its methods' runs with their default parameters
            d = d[d.params.map(lambda p: not p)].rename(columns={"method": "variant"})
            d["group"] = d.synthetic_kind.fillna("real")
        return d[["dataset", "group", "seed", "variant", "auc_roc", "auc_pr"]]

    def load(spec: str) -> pd.DataFrame:
        files, variant = spec.rsplit(":", 1)
        d = pd.concat([read(f) for f in files.split("+")], ignore_index=True)
        d = d[d.variant == variant]
        base_name = d.dataset.str.split(adbench.KIND_SEP).str[0]
        halves = {**dict.fromkeys(adbench.HALF_A, "real A"), **dict.fromkeys(adbench.HALF_B, "real B")}
        d["slice"] = [halves.get(b, "real") if g == "real" else g
                      for g, b in zip(d.group, base_name, strict=True)]
        return d.drop_duplicates(["dataset", "seed"], keep="last")

    both = load(base).merge(load(new), on=["dataset", "seed", "slice"], suffixes=("_a", "_b"))
    for name, g in both.groupby("slice", sort=False):
        per = g.groupby("dataset")[["auc_roc_a", "auc_roc_b", "auc_pr_a", "auc_pr_b"]].mean()
        d_roc = (per.auc_roc_b - per.auc_roc_a).round(adbench.TIE_DECIMALS)
        d_pr = (per.auc_pr_b - per.auc_pr_a).round(adbench.TIE_DECIMALS)
        print(f"{name:11s} sets={len(per):2d} seeds={g.seed.nunique()} "
              f"AUC-ROC {per.auc_roc_a.mean():.3f} -> {per.auc_roc_b.mean():.3f} "
              f"W/L {(d_roc > 0).sum()}/{(d_roc < 0).sum()}  "
              f"AUC-PR {per.auc_pr_a.mean():.3f} -> {per.auc_pr_b.mean():.3f} "
              f"W/L {(d_pr > 0).sum()}/{(d_pr < 0).sum()}  worst {d_roc.min():+.3f} ({d_roc.idxmin()})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", help="folder of ADBench Parquet files")
    parser.add_argument("--out", default="leads.jsonl", help="results (JSON lines, appended)")
    parser.add_argument("--kinds", nargs="+", default=["real"],
                        help="real and/or synthetic kinds (local global dependency cluster)")
    parser.add_argument("--datasets", type=lambda t: t.split(","), help="comma list of name substrings")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--vae-params", type=json.loads, default={},
                        help="JSON dict of VAEDetector arguments")
    parser.add_argument("--fits", type=int, default=1, help="fits per (set, seed) for the ensemble variants")
    parser.add_argument("--budget", choices=["x2", "sqrt"], help="training budget (module docstring)")
    parser.add_argument("--latent", choices=["half"], help="default latent width (module docstring)")
    parser.add_argument("--heavy-tail", type=float,
                        help="robust spreads beyond which a column is asinh-compressed "
                             "(default 10; inf = never)")
    parser.add_argument("--family", choices=["all", "resid"], default="all",
                        help="variants to compute: all but the residual covariance ones, or only those")
    parser.add_argument("--compare", nargs=2, metavar="FILE:VARIANT", help="compare two results and exit")
    args = parser.parse_args(argv)
    if args.compare:
        compare(*args.compare)
        return 0
    if args.data_dir is None:
        parser.error("data_dir is needed unless --compare is given")
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
