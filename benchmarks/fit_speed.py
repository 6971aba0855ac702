"""Fit time of ``VAEDetector()`` against PyOD's ``VAE``, both with their defaults, in the same run.

For each ADBench set the script fits, on the same training rows (the
70 % stratified split of ``adbench.make_split``, seed 0, no subsampling),

* ``vae_anomaly.VAEDetector(random_state=0)`` (every other parameter at its
  default), and
* ``pyod.models.vae.VAE(random_state=0, verbose=0)`` (PyOD's defaults:
  30 epochs of batch 32; ``verbose=0`` only silences its progress bar),

alternating the two (ours first in odd repeats, PyOD first in even ones), and
reports the median fit seconds over ``--repeats`` repeats, per set and per
thread setting, and the ratio ours / PyOD. Both are torch models; a thread
setting fixes torch's intra-op threads (``torch.set_num_threads``) and the
BLAS/OpenMP pools (``threadpoolctl``) for both alike. ``--threads 1 0`` (the
default) runs one thread and then the machine's default (``0``: what torch
chose at start-up, usually the number of cores).

Only ``fit`` is timed. Imports, PyOD's one-off numba compilation and a small
warm-up fit of each (so that lazy imports on the first fit, such as
scikit-learn's callback module, fall outside the timings) happen before the
first timed fit. The target of issue 28 is ours at or below 1/20 of PyOD's
time; the report gives the ratio per set and of the summed medians.

Results: ``fit_speed.md`` (tables) and ``fit_speed.jsonl`` (one line per
timed fit, then one summary line per set and thread setting) under
``--out`` (default ``benchmarks/results_fit_speed``).

Usage::

    nice -n 10 python benchmarks/fit_speed.py                 # 6 sets of different sizes, 3 repeats
    nice -n 10 python benchmarks/fit_speed.py --all           # all 22 ADBench sets
    nice -n 10 python benchmarks/fit_speed.py --sets 6_cardio --repeats 1 --threads 1
    nice -n 10 python benchmarks/fit_speed.py --repo /path/to/checkout  # another tree's VAEDetector
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DATA = Path(os.environ.get("ADBENCH_DIR", "/work/shared/datasets/adbench"))
# Six sets from 156 to 13,314 training rows and from 6 to 100 columns.
DEFAULT_SETS = ("42_WBC", "6_cardio", "38_thyroid", "2_annthyroid", "24_mnist", "22_magic.gamma")
SEED = 0
TARGET = 1 / 20


def all_sets() -> list[str]:
    """Every ADBench set in :data:`DATA`, smallest file first.

    Returns
    -------
    list of str
        File stems (``"6_cardio"``, ...).
    """
    return [p.stem for p in sorted(DATA.glob("*.parquet"), key=lambda p: p.stat().st_size)]


def training_rows(name: str):
    """The training part of one set (``adbench.make_split``, seed 0, every row kept).

    Parameters
    ----------
    name : str
        File stem under :data:`DATA`.

    Returns
    -------
    ndarray of shape (n_train, n_features), float64
    """
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from adbench import load_dataset, make_split

    X, y = load_dataset(DATA / f"{name}.parquet")
    return make_split(X, y, SEED, max_rows=len(y))[0]


def fit_ours(X) -> float:
    """Seconds taken by ``VAEDetector(random_state=0).fit(X)``."""
    from vae_anomaly import VAEDetector

    est = VAEDetector(random_state=SEED)
    start = time.perf_counter()
    est.fit(X)
    return time.perf_counter() - start


def fit_pyod(X) -> float:
    """Seconds taken by ``pyod.models.vae.VAE(random_state=0, verbose=0).fit(X)``."""
    from pyod.models.vae import VAE

    est = VAE(random_state=SEED, verbose=0)
    start = time.perf_counter()
    est.fit(X)
    return time.perf_counter() - start


METHODS = {"ours": fit_ours, "pyod_vae": fit_pyod}


def warm_up() -> None:
    """Import both libraries and fit each once on a small random table, untimed."""
    import warnings

    import numpy as np
    import torch  # noqa: F401
    from pyod.utils.stat_models import pairwise_distances_no_broadcast

    pairwise_distances_no_broadcast(np.zeros((2, 2)), np.ones((2, 2)))  # numba compiles on first call
    X = np.random.default_rng(0).normal(size=(300, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fit in METHODS.values():
            fit(X)


def time_one(method: str, X, name: str, n_threads: int, rep: int) -> dict:
    """Fit ``method`` once on ``X``, print the time and return its jsonl line."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seconds = METHODS[method](X)
    print(f"{name:>16} {n_threads}t rep {rep} {method:>8} {seconds:8.3f} s", flush=True)
    return {"kind": "fit", "set": name, "rows": int(X.shape[0]), "cols": int(X.shape[1]),
            "threads": n_threads, "repeat": rep, "method": method, "fit_s": seconds,
            "load_avg": os.getloadavg()[0]}


def time_set(name: str, n_threads: int, repeats: int, log) -> dict:
    """Fit both methods ``repeats`` times on one set at ``n_threads``, alternating; return the summary.

    Each timed fit is written to ``log`` (a jsonl file) as it ends.
    """
    X = training_rows(name)
    limiter = set_threads(n_threads)
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    try:
        for rep in range(repeats):
            order = list(METHODS) if rep % 2 == 0 else list(METHODS)[::-1]
            for method in order:
                line = time_one(method, X, name, n_threads, rep)
                times[method].append(line["fit_s"])
                log.write(json.dumps(line) + "\n")
                log.flush()
    finally:
        limiter.unregister()
    ours, pyod = statistics.median(times["ours"]), statistics.median(times["pyod_vae"])
    return {"kind": "summary", "set": name, "rows": int(X.shape[0]), "cols": int(X.shape[1]),
            "threads": n_threads, "ours_s": ours, "pyod_vae_s": pyod, "ratio": ours / pyod,
            "ours_runs": times["ours"], "pyod_vae_runs": times["pyod_vae"]}


def set_threads(n: int):
    """Fix torch's and the BLAS/OpenMP pools' threads at ``n``; return the threadpoolctl limiter."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    return threadpool_limits(limits=n)


def git_describe(repo: Path) -> str:
    """Short commit of ``repo``, with ``+dirty`` when its tree has changes."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "vae_anomaly"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def run(sets: list[str], repeats: int, threads: list[int], out: Path, repo: Path) -> list[dict]:
    """Time every set, thread setting and repeat; write the jsonl lines as they come.

    Parameters
    ----------
    sets : list of str
        Set names.
    repeats : int
        Timed fits of each method per set and thread setting.
    threads : list of int
        Thread settings; 0 is torch's default at start-up.
    out : Path
        Folder of the results.
    repo : Path
        Checkout whose ``vae_anomaly`` is timed.

    Returns
    -------
    list of dict
        One summary per set and thread setting.
    """
    import torch

    default_threads = torch.get_num_threads()
    warm_up()
    meta = {"kind": "meta", "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "repo": str(repo), "commit": git_describe(repo), "python": platform.python_version(),
            "torch": torch.__version__, "pyod": _version("pyod"), "cpus": os.cpu_count(),
            "default_threads": default_threads, "load_avg_start": os.getloadavg(), "repeats": repeats}
    summaries = []
    with open(out / "fit_speed.jsonl", "w") as log:
        log.write(json.dumps(meta) + "\n")
        for setting in threads:  # every set at one setting before the next, so a cut-short run still reports
            n_threads = setting or default_threads
            for name in sets:
                summary = time_set(name, n_threads, repeats, log)
                summaries.append(summary)
                log.write(json.dumps(summary) + "\n")
                log.flush()
                (out / "fit_speed.md").write_text(report(summaries, meta, None))
        meta_end = {"kind": "meta_end", "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "load_avg_end": os.getloadavg()}
        log.write(json.dumps(meta_end) + "\n")
    (out / "fit_speed.md").write_text(report(summaries, meta, meta_end))
    return summaries


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def report(summaries: list[dict], meta: dict, meta_end: dict | None) -> str:
    """The markdown report: one table per thread setting, and the totals.

    Parameters
    ----------
    summaries : list of dict
        From :func:`run`.
    meta, meta_end : dict
        Run metadata written at the start and the end (None while the run goes on).

    Returns
    -------
    str
    """
    end = "still running" if meta_end is None else f"ended {meta_end['utc']}"
    load_end = "" if meta_end is None else f", at end {tuple(round(v, 2) for v in meta_end['load_avg_end'])}"
    lines = ["# Fit time: VAEDetector() against PyOD VAE (defaults), same run", "",
             f"- started {meta['utc']}, {end}; `{meta['repo']}` at {meta['commit']}",
             f"- Python {meta['python']}, torch {meta['torch']}, PyOD {meta['pyod']}, {meta['cpus']} CPUs "
             f"(torch default {meta['default_threads']} threads)",
             f"- load average (1, 5, 15 min) at start {tuple(round(v, 2) for v in meta['load_avg_start'])}"
             f"{load_end}",
             f"- median of {meta['repeats']} fits each, the two alternating; training part of the 70/30 "
             f"stratified split (seed {SEED}); target ratio <= {TARGET:.3f} (1/20)", ""]
    for n_threads in sorted({s["threads"] for s in summaries}):
        rows = [s for s in summaries if s["threads"] == n_threads]
        lines += [f"## {n_threads} thread{'s' if n_threads > 1 else ''}", "",
                  "| set | rows | cols | ours s | PyOD VAE s | ratio | <= 1/20 |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for s in rows:
            lines.append(f"| {s['set']} | {s['rows']} | {s['cols']} | {s['ours_s']:.3f} "
                         f"| {s['pyod_vae_s']:.3f} | {s['ratio']:.4f} "
                         f"| {'yes' if s['ratio'] <= TARGET else 'no'} |")
        ours, pyod = sum(s["ours_s"] for s in rows), sum(s["pyod_vae_s"] for s in rows)
        met = sum(s["ratio"] <= TARGET for s in rows)
        lines += [f"| **sum of medians** | | | {ours:.3f} | {pyod:.3f} | {ours / pyod:.4f} | "
                  f"{'yes' if ours / pyod <= TARGET else 'no'} |", "",
                  f"Sets at or below 1/20: {met} of {len(rows)}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS),
                        help="ADBench set names (file stems)")
    parser.add_argument("--all", action="store_true", help="every set in the ADBench folder (22)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits of each method (median reported)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 0],
                        help="thread settings; 0 = torch's default at start-up (default: 1 0)")
    parser.add_argument("--out", type=Path, default=HERE / "results_fit_speed", help="results folder")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT,
                        help="checkout whose vae_anomaly is timed (default: this one)")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    sys.path.insert(0, str(repo))
    args.out.mkdir(parents=True, exist_ok=True)
    sets = all_sets() if args.all else args.sets
    run(sets, args.repeats, args.threads, args.out, repo)
    print((args.out / "fit_speed.md").read_text())


if __name__ == "__main__":
    main()
