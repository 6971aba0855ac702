"""Do tail-fitted thresholds hit rare false-positive targets, and do drift checks stay quiet on normal data?

Usage::

    python benchmarks/tail_thresholds.py                        # every section, 20 seeds
    python benchmarks/tail_thresholds.py --sections tail --seeds 5   # quick look
    python benchmarks/tail_thresholds.py --sections tail --n-cal 10000  # more held-out rows

Sections (all seeded, all on data whose truth is known):

``tail``
    For each score distribution (light: normal, chi-square(20) / 2, log-normal;
    heavy: Student-t(3), Lomax(2); bounded: beta(2, 5), beta(2, 2)) and seed:
    2,000 calibration scores, thresholds for ``target_fpr`` 1e-3 and 1e-4 from
    the fitted tail (:mod:`vae_anomaly.calibration.tail`) and from the conformal rule
    (:mod:`vae_anomaly.calibration.thresholds`), and the share of 10^6 fresh scores
    above each. Reports median, 10th-90th percentile and range of
    flagged / target over the seeds, and how many seeds fall in [0.5, 2].
``fraction``
    The same, for several shares of calibration scores above ``u``
    (the rule for the initial threshold).
``auto``
    The spread of flagged / target for the conformal and the tail threshold at
    rates ``k / (n_cal + 1)``, k = 2, 5, 10, 20: where the conformal threshold
    becomes as steady as the tail (the ``threshold_method="auto"`` rule).
``few``
    Too few calibration scores for the rate (``rate * (n_cal + 1) < 1``, where
    the conformal p-values cannot reach it): the exponential tail fitted to the
    top scores (status ``shape_fixed``) against the largest calibration score
    as the threshold (what release 0.2 did), for 60, 200 and 400 scores.
``drift``
    Drift checks (:mod:`vae_anomaly.calibration.drift`) on an exact Gaussian model
    (each column's contribution ``z**2 / 2`` less its calibration median, the
    score their sum): alarms over 100 normal batches for several calibration
    sets, and the share of batches detected when a few columns are shifted.
``detector``
    The ``tail`` measurement on real ELBO scores: a ``VAEDetector`` fitted on
    a synthetic correlated Gaussian table, calibration sets of 2,000 fresh rows
    and 10^6 fresh rows as the truth.

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vae_anomaly.calibration import drift, tail  # noqa: E402
from vae_anomaly.calibration import thresholds as calibration  # noqa: E402
from vae_anomaly.calibration.drift_reference import DriftReference, column_reference  # noqa: E402

N_CAL = 2_000
N_FRESH = 1_000_000
TARGETS = (1e-3, 1e-4)


def _lomax(rng, size):
    return rng.pareto(2.0, size)


DISTRIBUTIONS = {  # name: (tail kind, sampler(rng, size))
    "normal": ("light", lambda rng, size: rng.standard_normal(size)),
    "chi2(20)/2": ("light", lambda rng, size: rng.chisquare(20, size) / 2),
    "lognormal": ("light*", lambda rng, size: rng.lognormal(0.0, 1.0, size)),
    "student-t(3)": ("heavy", lambda rng, size: rng.standard_t(3, size)),
    "lomax(2)": ("heavy", _lomax),
    "beta(2,5)": ("bounded", lambda rng, size: rng.beta(2, 5, size)),
    "beta(2,2)": ("bounded", lambda rng, size: rng.beta(2, 2, size)),
}


def _summary(ratios) -> str:
    r = np.asarray(ratios)
    inside = np.mean((r >= 0.5) & (r <= 2.0))
    q10, q50, q90 = np.quantile(r, [0.1, 0.5, 0.9])
    return f"{q50:.2f} | {q10:.2f}-{q90:.2f} | {r.min():.2f}-{r.max():.2f} | {inside:.0%}"


def _ratios(fresh_sorted, cal, targets, **fit_kw):
    """flagged / target of the tail and the conformal threshold for each target."""
    fit = tail.fit_tail(cal, **fit_kw)
    out = {}
    for rate in targets:
        t_tail = calibration.threshold_for_rate(cal, rate, fit)
        t_conf = calibration.threshold_for_rate(cal, rate)
        share = [1 - np.searchsorted(fresh_sorted, t, side="right") / fresh_sorted.size
                 for t in (t_tail, t_conf)]
        out[rate] = (share[0] / rate, share[1] / rate)
    return fit, out


def _fresh(sampler, seed):
    rng = np.random.default_rng(seed)
    return sampler(rng, N_CAL), np.sort(sampler(rng, N_FRESH))


def tail_section(seeds):
    print(f"\n## Tail against conformal thresholds ({len(seeds)} seeds, n_cal = {N_CAL:,}, "
          f"{N_FRESH:,} fresh rows)\n")
    print("flagged / target: median | 10th-90th pct | range | seeds in [0.5, 2]\n")
    print("| scores | tails | target | tail threshold | conformal threshold | shape xi (median) |")
    print("|---|---|---|---|---|---:|")
    for name, (kind, sampler) in DISTRIBUTIONS.items():
        ratios = {rate: ([], []) for rate in TARGETS}
        shapes = []
        for seed in seeds:
            cal, fresh = _fresh(sampler, seed)
            fit, out = _ratios(fresh, cal, TARGETS)
            shapes.append(fit.shape)
            for rate, (rt, rc) in out.items():
                ratios[rate][0].append(rt)
                ratios[rate][1].append(rc)
        for rate in TARGETS:
            rt, rc = ratios[rate]
            print(f"| {name} | {kind} | {rate:g} | {_summary(rt)} | {_summary(rc)} "
                  f"| {np.median(shapes):+.2f} |")


def fraction_section(seeds, fractions):
    print(f"\n## Share of calibration scores above u ({len(seeds)} seeds, tail threshold)\n")
    print("flagged / target: median | 10th-90th pct | range | seeds in [0.5, 2]\n")
    print("| scores | target | " + " | ".join(f"top {f:.0%}" for f in fractions) + " |")
    print("|---|---|" + "---|" * len(fractions))
    for name, (_, sampler) in DISTRIBUTIONS.items():
        rows = {rate: {f: [] for f in fractions} for rate in TARGETS}
        for seed in seeds:
            cal, fresh = _fresh(sampler, seed)
            for f in fractions:
                _, out = _ratios(fresh, cal, TARGETS, tail_fraction=f,
                                 min_exceedances=min(40, int(f * N_CAL)))
                for rate in TARGETS:
                    rows[rate][f].append(out[rate][0])
        for rate in TARGETS:
            cells = []
            for f in fractions:
                r = np.asarray(rows[rate][f])
                cells.append(f"{np.median(r):.2f} ({np.quantile(r, 0.1):.2f}-{np.quantile(r, 0.9):.2f}),"
                             f" {np.mean((r >= 0.5) & (r <= 2)):.0%}")
            print(f"| {name} | {rate:g} | " + " | ".join(cells) + " |")


def few_section(seeds, sizes=(60, 200, 400), counts=(0.5, 0.1)):
    print(f"\n## Too few calibration scores for the rate ({len(seeds)} seeds, {N_FRESH:,} fresh rows)\n")
    print("rate = c / (n_cal + 1); flagged / target: median | 10th-90th pct | range | seeds in [0.5, 2]\n")
    print("| scores | n_cal | c | exponential tail (shape_fixed) | largest calibration score |")
    print("|---|---:|---:|---|---|")
    for name, (_, sampler) in DISTRIBUTIONS.items():
        rows = {(n, c): ([], []) for n in sizes for c in counts}
        for seed in seeds:
            rng = np.random.default_rng(seed)
            fresh = np.sort(sampler(rng, N_FRESH))
            for n in sizes:
                cal = sampler(rng, n)
                fit = tail.fit_tail(cal)
                assert fit.status == "shape_fixed", fit.status
                for c in counts:
                    rate = c / (n + 1)
                    for t, out in ((calibration.threshold_for_rate(cal, rate, fit), rows[n, c][0]),
                                   (cal.max(), rows[n, c][1])):
                        out.append((1 - np.searchsorted(fresh, t, side="right") / fresh.size) / rate)
        for (n, c), (rt, rm) in rows.items():
            print(f"| {name} | {n} | {c:g} | {_summary(rt)} | {_summary(rm)} |")


def auto_section(seeds, counts=(2, 5, 10, 20)):
    print(f"\n## Conformal or tail at rates k / (n_cal + 1) ({len(seeds)} seeds, n_cal = {N_CAL:,})\n")
    print("share of (distribution, seed) pairs with flagged / target in [0.5, 2], "
          "and the 10th-90th percentile of the ratio\n")
    print("| k | conformal | tail (tail_fraction 0.1, handing over at u) |")
    print("|---:|---|---|")
    res = {k: ([], []) for k in counts}
    for _, sampler in DISTRIBUTIONS.values():
        for seed in seeds:
            cal, fresh = _fresh(sampler, seed)
            rates = [k / (N_CAL + 1) for k in counts]
            _, out = _ratios(fresh, cal, rates, conformal_count=None)
            for k, rate in zip(counts, rates, strict=True):
                res[k][0].append(out[rate][1])
                res[k][1].append(out[rate][0])
    for k in counts:
        cells = []
        for r in map(np.asarray, res[k]):
            cells.append(f"{np.mean((r >= 0.5) & (r <= 2)):.0%} "
                         f"({np.quantile(r, 0.1):.2f}-{np.quantile(r, 0.9):.2f})")
        print(f"| {k} | " + " | ".join(cells) + " |")


def _families(report) -> tuple[bool, bool]:
    """Detected by all three families; by the score families alone (flagged share, KS)."""
    score_p = min(1.0, 2 * min(report.flagged["p_value"], report.scores["p_value"]))
    return report.detected, score_p <= report.alpha


def _drift_table(make_reference, draw, sizes, shifts, n_refs, n_batches, rng):
    """Markdown rows: alarms on normal batches, then detection of shifted ones."""
    print("| batch rows | shift (sd) in the shifted columns | batches | detected | "
          "by the score tests alone | alarms per reference: median, max |")
    print("|---:|---:|---:|---:|---:|---|")
    for m in sizes:
        for shift in shifts:
            hits, per_ref = [], []
            for _ in range(n_refs if shift == 0 else 1):
                ref = make_reference(rng)
                got = [_families(ref(draw(rng, m, shift))) for _ in range(n_batches)]
                hits += got
                per_ref.append(sum(g[0] for g in got))
            hits = np.asarray(hits)
            spread = f"{np.median(per_ref):.0f}, {max(per_ref)}" if shift == 0 else ""
            print(f"| {m:,} | {shift:g} | {len(hits)} | {hits[:, 0].mean():.1%} | {hits[:, 1].mean():.1%} "
                  f"| {spread} |")


def drift_section(n_refs=10, n_batches=100, d=20, shifted=(0, 1, 2)):
    print(f"\n## Drift checks on an exact Gaussian model ({d} columns, n_cal = {N_CAL:,}, "
          f"target_fpr 0.01, alpha = {drift.DRIFT_ALPHA})\n")
    print(f"Normal batches: {n_refs} calibration sets x {n_batches} batches (5 sets for inputs). Shifted "
          f"batches: columns {list(shifted)} moved by the shift, {n_batches} batches.")

    def terms(x):
        return 0.5 * x**2

    for per_column in ("contributions", "inputs"):
        print(f"\nColumn test on the {per_column}:\n")

        def make_reference(rng, per_column=per_column):
            x = rng.standard_normal((N_CAL, d))
            t = terms(x)
            med = np.median(t, axis=0)
            scores = t.sum(axis=1)
            cols = (lambda x: terms(x) - med) if per_column == "contributions" else (lambda x: x)
            ref = DriftReference(scores, calibration.threshold_for_rate(scores, 0.01),
                                       *column_reference(cols(x)))
            return lambda x: drift.check_drift(ref, terms(x).sum(axis=1), cols(x))

        def draw(rng, m, shift):
            x = rng.standard_normal((m, d))
            x[:, list(shifted)] += shift
            return x

        _drift_table(make_reference, draw, (1_000, 10_000), (0.0, 0.25, 0.5),
                     n_refs if per_column == "contributions" else 5, n_batches, np.random.default_rng(0))



def _table(rng, n, d=8):
    """Correlated Gaussian columns (three latent factors plus noise)."""
    import pandas as pd

    load = np.random.default_rng(123).normal(size=(3, d))
    x = rng.standard_normal((n, 3)) @ load + 0.5 * rng.standard_normal((n, d))
    return pd.DataFrame(x, columns=[f"c{j}" for j in range(d)])


def detector_section(seeds, n_batches=100):
    import torch

    from vae_anomaly import VAEDetector

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    det = VAEDetector(random_state=0).fit(_table(rng, 5 * N_CAL))  # 20% held out: n_cal = 2,000
    fit_s = time.perf_counter() - t0
    fresh = np.sort(det.score_details(_table(rng, N_FRESH)).anomaly_score)
    print(f"\n## ELBO scores of a fitted VAEDetector ({N_CAL * 5:,} correlated Gaussian rows, 8 columns; "
          f"fit {fit_s:.0f} s)\n")
    print(f"Calibration sets: the detector's own held-out rows plus {len(seeds) - 1} sets of "
          f"{N_CAL:,} fresh rows; truth: {N_FRESH:,} fresh rows.\n")
    print("flagged / target: median | 10th-90th pct | range | sets in [0.5, 2]\n")
    print("| target | tail threshold | conformal threshold | shape xi (median) |")
    print("|---|---|---|---:|")
    cals = [det.calibration_scores_] + [det.score_details(_table(rng, N_CAL)).anomaly_score
                                        for _ in seeds[1:]]
    ratios, shapes = {rate: [] for rate in TARGETS}, []
    for cal in cals:
        fit, out = _ratios(fresh, cal, TARGETS)
        shapes.append(fit.shape)
        for rate in TARGETS:
            ratios[rate].append(out[rate])
    for rate in TARGETS:
        r = np.asarray(ratios[rate])
        print(f"| {rate:g} | {_summary(r[:, 0])} | {_summary(r[:, 1])} | {np.median(shapes):+.2f} |")

    print(f"\n### Drift checks on the same detector (alpha = {drift.DRIFT_ALPHA}; shifted: columns c0, c1)\n")

    def make_reference(rng):
        cal_rows = _table(rng, N_CAL)
        details = det.score_details(cal_rows)
        ref = DriftReference(details.anomaly_score, det.threshold_,
                                   *column_reference(details.contributions), details.feature_names)

        def check(frame):
            got = det.score_details(frame)
            return drift.check_drift(ref, got.anomaly_score, got.contributions)
        return check

    def draw(rng, m, shift):
        frame = _table(rng, m)
        sd = frame[["c0", "c1"]].std().to_numpy()
        frame[["c0", "c1"]] += shift * sd
        return frame

    _drift_table(make_reference, draw, (1_000, 10_000), (0.0, 0.25, 0.5), 5, n_batches, rng)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds per distribution")
    parser.add_argument("--sections", default="tail,fraction,auto,few,drift,detector")
    parser.add_argument("--fractions", default="0.02,0.05,0.1,0.2")
    parser.add_argument("--n-cal", type=int, default=N_CAL, help="calibration scores per set")
    args = parser.parse_args(argv)
    globals()["N_CAL"] = args.n_cal
    seeds = list(range(args.seeds))
    sections = args.sections.split(",")
    start = time.perf_counter()
    if "tail" in sections:
        tail_section(seeds)
    if "fraction" in sections:
        fraction_section(seeds, [float(f) for f in args.fractions.split(",")])
    if "auto" in sections:
        auto_section(seeds)
    if "few" in sections:
        few_section(seeds)
    if "drift" in sections:
        drift_section()
    if "detector" in sections:
        detector_section(seeds)
    print(f"\n({time.perf_counter() - start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
