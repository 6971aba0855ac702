"""Issue 29, deliverable 2: can a few labels choose (or weight) among the score views already measured?

Offline measurement on the few-label splits of ``benchmarks/adbench.py``
(its 70/30 split, its seeded :func:`adbench.choose_labels` of ``k`` training
anomalies, the rest of the training rows unlabelled and contaminated) with
the views of ``benchmarks/score_leads.py`` (imported, not copied). For each
(set, seed, k), ``VAEDetector(random_state=seed).fit(X_train, labels)``
(Label-Trim keeps the labelled rows out of training and calibration) is
fitted once, and each view scores every training and test row:

``elbo``
    the default, ``-score_samples``.
``elbo+marg``, ``lr_marg``, ``elbo+lr``
    as in ``score_leads.variants``: standardised ELBO plus standardised
    marginal NLL; ELBO minus marginal NLL; standardised ELBO plus the
    standardised ratio. The marginal histograms and the standardisation
    (median / IQR) use the unlabelled training rows.
``resid_maha_trim``
    ``score_leads.residual_covariance_scores`` (Ledoit-Wolf on the residuals
    of the training rows outside the top ``trim_fraction``).
``full``
    the library's ``covariance_type="full"`` on the same network:
    ``fit_residual_covariance`` on a copy, with the rows the network was
    fitted on (sets with over 256 numeric features have none).
``e+{a}g+{b}r``
    a grid of weighted sums: standardised ELBO + ``a`` x standardised
    marginal NLL + ``b`` x standardised ``full`` (a, b in 0, 0.5, 1, 2).
``logit``
    a logistic weight on three standardised views (asinh of the robust
    z-scores of the ELBO, the marginal NLL and ``full``) fitted on the
    labelled rows against the held-out rows, classes weighted equally, an
    L2 penalty ``LOGIT_PENALTY`` on the two weights other than the ELBO's
    (the prior toward the ELBO). Its per-label evidence is leave-one-label-out
    (``logit`` refitted without the label it scores).

The evidence a rule may use is, per view, each labelled anomaly's share of
the *held-out* rows (the rows ``fit`` holds out of training: unlabelled, and
unseen by the network, like the labelled rows) it outscores, ties counted
one half (``u`` below; its mean over the labels is their AUC-ROC against the
held-out rows). The records also keep ``u`` against all unlabelled training
rows (``u_all``). What a rule chooses is then scored by its test AUC-ROC and
AUC-PR. Rules (computed by ``--report`` from the stored records, so new
rules need no refit):

``max``
    the view with the best label AUC (no guard).
``lcb{z}``
    the view whose paired difference to the ELBO, ``u_v - u_elbo`` over the
    labels, has the highest lower bound ``mean - z sd / sqrt(k)``, and only
    if that bound is above 0; else the ELBO. ``lcbt``: ``z`` the 95 %
    quantile of Student's t with ``k - 1`` degrees of freedom (the rule
    :mod:`vae_anomaly.calibration.views` implements).
``loo{z}``
    cross-validated over the labels: for each label left out, the view with
    the best mean ``u`` on the others, and its gain over the ELBO on the one
    left out; switch to the view chosen on all labels only when the lower
    bound of those gains is above 0.
``logit_lcb{z}``
    the logistic combination, only when the lower bound of its
    leave-one-label-out gain over the ELBO is above 0.

Each rule picks from one pool of views, fixed before any result: ``named``
(the score-lead views), ``grid``, ``all`` (both), and ``library`` (``elbo``
and ``full``, the two the library scores and stores). Choose on half A,
confirm on half B and on the synthetic kinds.

``--library`` records instead what the library itself chooses
(``VAEDetector.fit(X_train, labels)``: ``score_view_`` and the test AUCs), and
``--report`` sets those fits beside the offline ``library`` / ``lcbt`` choice.

Usage (one thread, niced, from the repository root)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/label_views.py /work/shared/datasets/adbench \\
        --out benchmarks/results_label_views/runs.jsonl.gz --half A --k 10
    python benchmarks/label_views.py --report benchmarks/results_label_views/runs.jsonl.gz \\
        --md benchmarks/results_label_views/label_views.md
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import adbench  # noqa: E402  (next to this script)
import score_leads  # noqa: E402

NAMED = ("elbo", "elbo+marg", "lr_marg", "elbo+lr", "resid_maha_trim", "full")
GRID_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
LOGIT_PENALTY = 0.5


def grid_name(a: float, b: float) -> str:
    return f"e+{a:g}g+{b:g}r"


GRID = tuple(grid_name(a, b) for a in GRID_WEIGHTS for b in GRID_WEIGHTS if (a, b) != (0.0, 0.0))


# --------------------------------------------------------------------------------------------
# fitting and views
# --------------------------------------------------------------------------------------------
def fit_recording_split(X_train: np.ndarray, labels: np.ndarray, seed: int):
    """``VAEDetector(random_state=seed).fit(X_train, labels)`` and the (held-out, fitted) row positions.

    ``vae_anomaly.detector.held_out_rows`` is wrapped for the call only, to
    record its answer (row-wise models: model rows are the input rows).
    """
    import vae_anomaly.detector as detector

    seen = {}
    original = detector.held_out_rows

    def recording(*args, **kwargs):
        seen["held"], seen["fit"] = original(*args, **kwargs)
        return seen["held"], seen["fit"]

    detector.held_out_rows = recording
    try:
        est = detector.VAEDetector(random_state=seed).fit(X_train, labels)
    finally:
        detector.held_out_rows = original
    return est, seen["held"], seen["fit"]


def library_full(est, X_train: np.ndarray, fit_rows: np.ndarray):
    """A copy of ``est`` scoring with the library's full residual covariance, or None where it has none."""
    from vae_anomaly.model.tensors import to_tensors
    from vae_anomaly.model.training import fit_residual_covariance

    full = copy.deepcopy(est)
    data = to_tensors(full._prepare(X_train).enc.take(fit_rows), "cpu")
    if not fit_residual_covariance(full.module_, data, full.trim_fraction, full.min_log_var):
        return None
    return full


def views(est, full, X_train: np.ndarray, X_test: np.ndarray, ref: np.ndarray) -> tuple[dict, dict]:
    """Anomaly scores (higher = more anomalous) of the training rows then the test rows, by view.

    ``ref`` marks the training rows the marginals and standardisations are
    taken on (the unlabelled ones).
    """
    n = len(X_train)
    rows = np.concatenate([X_train, X_test])
    s = -est.score_samples(rows)
    out = {"elbo": s}
    std = score_leads.robust_standardise
    e = std(s[:n][ref], s)[0]
    num = est._prepare(rows).enc.num.astype(np.float64)
    comp = {"e": e}
    if num.shape[1] == X_train.shape[1]:  # one scaled column per raw column
        m = score_leads.marginal_nll(num[:n][ref], num)
        out["lr_marg"] = s - m
        out["elbo+lr"] = e + std((s - m)[:n][ref], s - m)[0]
        comp["g"] = std(m[:n][ref], m)[0]
        out["elbo+marg"] = e + comp["g"]
    if est.module_.cat_sizes == [] and not est.module_.indicator_cols.numel():
        out["resid_maha_trim"] = score_leads.residual_covariance_scores(est, X_train[ref], rows)[
            "resid_maha_trim"]
    if full is not None:
        f = -full.score_samples(rows)
        out["full"] = f
        comp["r"] = std(f[:n][ref], f)[0]
    for a in GRID_WEIGHTS:
        for b in GRID_WEIGHTS:
            if (a, b) == (0.0, 0.0) or (a and "g" not in comp) or (b and "r" not in comp):
                continue
            out[grid_name(a, b)] = e + a * comp.get("g", 0.0) + b * comp.get("r", 0.0)
    return out, comp


def label_shares(scores: np.ndarray, labelled: np.ndarray, against: np.ndarray) -> np.ndarray:
    """Each labelled row's share of the ``against`` rows it outscores, ties one half (k,)."""
    ref = np.sort(scores[against])
    v = scores[labelled]
    below = np.searchsorted(ref, v, side="left")
    upto = np.searchsorted(ref, v, side="right")
    return (below + 0.5 * (upto - below)) / max(len(ref), 1)


def _logit_weights(Z: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """Weights of ``Z``'s columns: class-balanced logistic loss, L2 ``penalty`` on all but column 0."""
    from scipy.optimize import minimize

    w_row = np.where(y == 1, 1.0 / max(y.sum(), 1), 1.0 / max((1 - y).sum(), 1))
    d = Z.shape[1]

    def loss(theta):
        t = theta[0] + Z @ theta[1:]
        p = 1.0 / (1.0 + np.exp(-t))
        nll = np.sum(w_row * (np.logaddexp(0, -t) * y + np.logaddexp(0, t) * (1 - y)))
        g = w_row * (p - y)
        grad = np.concatenate([[g.sum()], Z.T @ g])
        reg = penalty * np.sum(theta[2:] ** 2)
        grad[2:] += 2 * penalty * theta[2:]
        return nll + reg, grad

    theta0 = np.zeros(d + 1)
    theta0[1] = 1.0
    return minimize(loss, theta0, jac=True, method="L-BFGS-B").x[1:]


def logit_view(comp: dict, n: int, labelled: np.ndarray, held: np.ndarray):
    """The logistic combination's scores of every row, and its leave-one-label-out ``u`` (k,)."""
    keys = [c for c in ("e", "g", "r") if c in comp]
    Z = np.arcsinh(np.column_stack([comp[c] for c in keys]))
    rows = np.concatenate([held, labelled])
    y = np.concatenate([np.zeros(len(held)), np.ones(len(labelled))])
    w = _logit_weights(Z[rows], y, LOGIT_PENALTY)
    loo = []
    for i in range(len(labelled)):
        keep = np.ones(len(rows), bool)
        keep[len(held) + i] = False
        wi = _logit_weights(Z[rows[keep]], y[keep], LOGIT_PENALTY)
        loo.append(label_shares(Z[:n] @ wi, labelled[i:i + 1], held)[0])
    return Z @ w, np.asarray(loo), dict(zip(keys, map(float, w), strict=True))


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------
def task_split(task, seed: int, k: int, X0, y0):
    """The rows of one (set, seed, k): its synthetic kind if any, the 70/30 split and the k labels.

    Returns ``X_train, X_test, y_train, y_test, labels``.
    """
    X, y = X0, y0
    if task.kind is not None:
        X, y = adbench._synthetic().NormalModel(task.path.stem, X0, y0, seed).make(task.kind)
    X_train, X_test, y_train, y_test = adbench.make_split(X, y, seed, score_leads.MAX_ROWS)
    return X_train, X_test, y_train, y_test, adbench.choose_labels(y_train, k, seed, task.name)


def run_one(task, seed: int, k: int, X0, y0) -> dict:
    """Fit, score every view and record the evidence and test AUCs of one (set, seed, k)."""
    X_train, X_test, y_train, y_test, labels = task_split(task, seed, k, X0, y0)
    start = time.perf_counter()
    est, held, fit_rows = fit_recording_split(X_train, labels, seed)
    full = library_full(est, X_train, fit_rows)
    fit_s = time.perf_counter() - start
    n = len(X_train)
    labelled = np.flatnonzero(labels == 1)
    unlabelled = np.flatnonzero(labels == 0)
    out, comp = views(est, full, X_train, X_test, labels == 0)
    logit, logit_loo, logit_w = logit_view(comp, n, labelled, held)
    out["logit"] = logit
    rec = {"dataset": task.name, "group": task.group, "seed": seed, "k": int(len(labelled)),
           "k_asked": k, "n_train": n, "n_held": int(len(held)), "fit_s": fit_s,
           "anomalies_train": int(y_train.sum()), "logit_weights": logit_w,
           "logit_loo_u": logit_loo.tolist(), "views": {}}
    for name, scores in out.items():
        roc, pr = adbench.evaluate(np.asarray(scores[n:], float), y_test)
        rec["views"][name] = {"auc_roc": roc, "auc_pr": pr,
                              "u": label_shares(scores[:n], labelled, held).tolist(),
                              "u_all": label_shares(scores[:n], labelled, unlabelled).tolist()}
    return rec


def run_library(task, seed: int, k: int, X0, y0) -> dict:
    """The library's own choice (``VAEDetector.fit(X, labels)``) of one (set, seed, k): view and test AUCs."""
    from vae_anomaly import VAEDetector

    X_train, X_test, y_train, y_test, labels = task_split(task, seed, k, X0, y0)
    est = VAEDetector(random_state=seed).fit(X_train, labels)
    roc, pr = adbench.evaluate(-np.asarray(est.score_samples(X_test), float), y_test)
    evidence = est.score_view_evidence_
    return {"dataset": task.name, "group": task.group, "seed": seed, "k_asked": k, "library": True,
            "score_view": est.score_view_, "auc_roc": roc, "auc_pr": pr,
            "evidence": None if evidence is None else evidence.to_dict()}


def run(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    one = run_library if args.library else run_one
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        with open_records(out) as f:
            done = {(r["dataset"], r["seed"], r["k_asked"]) for r in map(json.loads, f)}
    paths = adbench.list_datasets(Path(args.data_dir), args.datasets)
    if args.half:
        half = adbench.HALF_A if args.half == "A" else adbench.HALF_B
        paths = [p for p in paths if p.stem in half]
    kinds = [k for k in args.kinds if k != "real"]
    tasks = adbench.build_tasks(paths, kinds, "real" in args.kinds, score_leads.MAX_ROWS)
    for task in tasks:
        X0, y0 = adbench.load_dataset(task.path)
        for seed in args.seeds:
            for k in args.k:
                if (task.name, seed, k) in done:
                    continue
                start = time.perf_counter()
                rec = one(task, seed, k, X0, y0)
                with open_records(out, "at") as f:
                    f.write(json.dumps(rec) + "\n")
                print(f"{task.name} seed={seed} k={k} {time.perf_counter() - start:.1f}s", flush=True)


def open_records(path, mode: str = "rt"):
    """A JSON-lines results file, gzip-compressed when its name ends in ``.gz`` (the stored results are)."""
    return gzip.open(path, mode) if str(path).endswith(".gz") else open(path, mode)


# --------------------------------------------------------------------------------------------
# rules and report
# --------------------------------------------------------------------------------------------
def _lcb(d: np.ndarray, z: float | str) -> float:
    """``mean - z sd / sqrt(k)``; with ``z = "t"``, the 95 % quantile of Student's t with k - 1 degrees."""
    if len(d) < 2:
        return -math.inf
    if z == "t":
        from scipy.stats import t

        z = float(t.ppf(0.95, len(d) - 1))
    return float(d.mean() - z * d.std(ddof=1) / math.sqrt(len(d)))


def _z(text: str) -> float | str:
    return text if text == "t" else float(text)


def choose(rec: dict, rule: str, pool: tuple[str, ...], evidence: str = "u") -> str:
    """The view a rule picks for one record (``elbo`` unless the evidence clears its guard)."""
    v = {name: np.asarray(rec["views"][name][evidence]) for name in pool if name in rec["views"]}
    base = v["elbo"]
    if len(base) == 0:
        return "elbo"
    if rule == "max":
        return max(v, key=lambda name: (round(v[name].mean(), 12), name == "elbo"))
    if rule.startswith("lcb"):
        z = _z(rule[3:])
        bounds = {name: _lcb(u - base, z) for name, u in v.items() if name != "elbo"}
        best = max(bounds, key=bounds.get, default=None)
        return best if best is not None and bounds[best] > 0 else "elbo"
    if rule.startswith("loo"):
        z = _z(rule[3:])
        names = list(v)
        U = np.array([v[name] for name in names])  # (views, k)
        k = U.shape[1]
        if k < 2:
            return "elbo"
        gains = []
        for i in range(k):
            others = np.delete(U, i, axis=1).mean(1)
            j = int(np.argmax(others + 1e-12 * (np.array(names) == "elbo")))
            gains.append(U[j, i] - base[i])
        if _lcb(np.asarray(gains), z) <= 0:
            return "elbo"
        return names[int(np.argmax(U.mean(1) + 1e-12 * (np.array(names) == "elbo")))]
    if rule.startswith("logit_lcb"):
        z = _z(rule[9:])
        return "logit" if _lcb(np.asarray(rec["logit_loo_u"]) - base, z) > 0 else "elbo"
    raise ValueError(f"unknown rule {rule!r}")


POOLS = {"named": NAMED, "grid": ("elbo",) + GRID, "all": NAMED + GRID,
         "library": ("elbo", "full")}
RULES = ("max", "lcb1", "lcb1.645", "lcb2.326", "lcbt", "loo1", "loo1.645")


def slices(rec: dict) -> str:
    base = rec["dataset"].split(adbench.KIND_SEP)[0]
    if rec["group"] != "real":
        return rec["group"]
    return "real A" if base in adbench.HALF_A else "real B" if base in adbench.HALF_B else "real"


def table(records: list[dict], evidence: str = "u") -> list[dict]:
    """One row per (slice, k, pool, rule): means of chosen vs ELBO, W/L over sets, switch rate."""
    import pandas as pd

    rows = []
    for rec in records:
        for pool_name, pool in POOLS.items():
            for rule in RULES:
                rows.append((rec, pool_name, rule, choose(rec, rule, pool, evidence)))
        rows.append((rec, "-", "logit_lcb1.645", choose(rec, "logit_lcb1.645", ("elbo",), evidence)))
        rows.append((rec, "-", "logit (always)", "logit"))
        for name in ("elbo+marg", "full", "resid_maha_trim"):
            if name in rec["views"]:
                rows.append((rec, "-", f"{name} (always)", name))
        best = max(rec["views"], key=lambda v: rec["views"][v]["auc_roc"])
        rows.append((rec, "-", "oracle (test)", best))
    d = pd.DataFrame([{"slice": slices(r), "k": r["k_asked"], "dataset": r["dataset"], "seed": r["seed"],
                       "pool": p, "rule": rule, "switched": c != "elbo", "choice": c,
                       "roc": r["views"][c]["auc_roc"], "pr": r["views"][c]["auc_pr"],
                       "roc0": r["views"]["elbo"]["auc_roc"], "pr0": r["views"]["elbo"]["auc_pr"]}
                      for r, p, rule, c in rows])
    out = []
    for (sl, k, pool, rule), g in d.groupby(["slice", "k", "pool", "rule"], sort=False):
        per = g.groupby("dataset")[["roc", "roc0", "pr", "pr0", "switched"]].mean()
        dr = (per.roc - per.roc0).round(adbench.TIE_DECIMALS)
        dp = (per.pr - per.pr0).round(adbench.TIE_DECIMALS)
        out.append({"slice": sl, "k": k, "pool": pool, "rule": rule, "sets": len(per),
                    "seeds": g.seed.nunique(), "roc0": per.roc0.mean(), "roc": per.roc.mean(),
                    "pr0": per.pr0.mean(), "pr": per.pr.mean(), "won": int((dr > 0).sum()),
                    "lost": int((dr < 0).sum()), "won_pr": int((dp > 0).sum()),
                    "lost_pr": int((dp < 0).sum()),
                    "worst": float(dr.min()), "worst_set": str(dr.idxmin()),
                    "switched": float(g.switched.mean())})
    return out


#: The rows of the summary table: (pool, rule); the implemented rule first.
SUMMARY = (("library", "lcbt"), ("library", "lcb1.645"), ("all", "lcb1.645"), ("all", "lcbt"),
           ("all", "max"), ("-", "logit (always)"), ("-", "full (always)"), ("-", "elbo+marg (always)"),
           ("-", "oracle (test)"))


def library_lines(library: list[dict], records: list[dict]) -> list[str]:
    """The library's own fits (``--library``) beside the ``library`` / ``lcbt`` rule offline."""
    import pandas as pd

    offline = {(r["dataset"], r["seed"], r["k_asked"]): r for r in records}
    rows = []
    for lib in library:
        rec = offline.get((lib["dataset"], lib["seed"], lib["k_asked"]))
        if rec is None:
            continue
        choice = choose(rec, "lcbt", POOLS["library"])
        rows.append({"slice": slices(lib), "k": lib["k_asked"], "dataset": lib["dataset"],
                     "same": {"diag": "elbo", "full": "full"}[lib["score_view"]] == choice,
                     "switched": lib["score_view"] == "full", "roc": lib["auc_roc"], "pr": lib["auc_pr"],
                     "roc_off": rec["views"][choice]["auc_roc"], "roc0": rec["views"]["elbo"]["auc_roc"]})
    if not rows:
        return []
    d = pd.DataFrame(rows)
    out = ["## The library's own fits", "",
           "`VAEDetector(random_state=seed).fit(X_train, labels)` on the same splits and labels: the view it "
           "kept, against the offline `library` / `lcbt` choice on the same (set, seed, k).", "",
           "| k | slice | fits | same view as offline | switched to full "
           "| AUC-ROC offline ELBO -> library fit (offline choice) | AUC-PR library fit |",
           "|---|---|---|---|---|---|---|"]
    for (k, sl), g in d.groupby(["k", "slice"]):
        per = g.groupby("dataset")[["roc", "roc_off", "roc0", "pr"]].mean()
        out.append(f"| {k} | {sl} | {len(g)} | {g.same.mean():.0%} | {g.switched.mean():.0%} | "
                   f"{per.roc0.mean():.3f} -> {per.roc.mean():.3f} ({per.roc_off.mean():.3f}) | "
                   f"{per.pr.mean():.3f} |")
    return out + [""]


def report(paths: list[str], md: str | None, evidence: str) -> None:
    every = []
    for p in paths:
        with open_records(p) as f:
            every += [json.loads(line) for line in f]
    records = [r for r in every if not r.get("library")]
    rows = table(records, evidence)
    order = {"real A": 0, "real B": 1, "local": 2, "global": 3, "dependency": 4, "cluster": 5}
    rows.sort(key=lambda r: (r["k"], order.get(r["slice"], 9)))
    rank = {key: i for i, key in enumerate(SUMMARY)}
    summary = sorted((r for r in rows if (r["pool"], r["rule"]) in rank),
                     key=lambda r: (r["k"], order.get(r["slice"], 9), rank[r["pool"], r["rule"]]))
    note = [f"Evidence: `{evidence}` (labelled anomalies against "
            f"{'held-out rows' if evidence == 'u' else 'all unlabelled training rows'}). "
            "Means over sets of the set means over seeds; W/L: sets won/lost against the ELBO on the "
            "same fit (ties at 3 decimals); worst: the largest AUC-ROC loss of a set; switched: share of "
            "(set, seed) where the rule left the ELBO.", ""]
    lines = (note + ["## Summary", ""] + _rows_md(summary) + [""]
             + library_lines([r for r in every if r.get("library")], records)
             + ["## Every rule", ""] + _rows_md(rows))
    text = "\n".join(lines) + "\n"
    print(text)
    if md:
        Path(md).write_text(text)


def _rows_md(rows: list[dict]) -> list[str]:
    head = ["k", "slice", "pool", "rule", "sets", "AUC-ROC elbo -> chosen", "W/L", "AUC-PR elbo -> chosen",
            "W/L (PR)", "worst", "switched"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r['k']} | {r['slice']} | {r['pool']} | {r['rule']} | {r['sets']}x{r['seeds']} | "
                     f"{r['roc0']:.3f} -> {r['roc']:.3f} | {r['won']}/{r['lost']} | "
                     f"{r['pr0']:.3f} -> {r['pr']:.3f} | {r['won_pr']}/{r['lost_pr']} | "
                     f"{r['worst']:+.3f} ({r['worst_set']}) | {r['switched']:.0%} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", help="folder of ADBench Parquet files")
    parser.add_argument("--out", default="label_views.jsonl",
                        help="results (JSON lines, appended; gzip if it ends in .gz)")
    parser.add_argument("--kinds", nargs="+", default=["real"],
                        help="real and/or synthetic kinds (local global dependency cluster)")
    parser.add_argument("--datasets", type=lambda t: t.split(","), help="comma list of name substrings")
    parser.add_argument("--half", choices=["A", "B"], help="only the sets of this fixed half")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--k", nargs="+", type=int, default=[10], help="labelled training anomalies")
    parser.add_argument("--library", action="store_true",
                        help="record the library's own choice (VAEDetector.fit with the labels) instead")
    parser.add_argument("--report", nargs="+", metavar="JSONL", help="summarise results and exit")
    parser.add_argument("--md", help="with --report: also write the table here")
    parser.add_argument("--evidence", choices=["u", "u_all"], default="u",
                        help="with --report: labels against held-out rows (u) or all unlabelled rows")
    args = parser.parse_args(argv)
    if args.report:
        report(args.report, args.md, args.evidence)
        return 0
    if args.data_dir is None:
        parser.error("data_dir is needed unless --report is given")
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
