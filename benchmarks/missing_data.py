"""Missing cells: quality of the default ``VAEDetector``, working tree beside a baseline commit.

Issue 27 (part 1) makes missingness part of the evidence: a per-column
probability of a cell being missing, learned at fit, enters the ELBO and the
per-column contributions. This script measures what that default costs or
gains on the ADBench classical sets when cells are missing, side by side with
an earlier commit (the current release).

Protocol
--------
For every selected ADBench classical set (``../shared/datasets/adbench``, in
ADBench order) and every seed (default 0, 1, 2), rows are subsampled and split
exactly as ``benchmarks/adbench.py`` does it (``adbench.load_dataset`` and
``adbench.make_split``: a stratified draw of ``--max-rows`` rows when the set
is larger, default 20,000 here to keep the run short, then a stratified 70/30
split with ``random_state=seed``). Cells are then removed, in the training and
the test part alike, under four conditions:

``complete``
    Nothing removed.
``random``
    Each cell removed with probability 0.10 (missing completely at random).
``blocks``
    In a random 20 % of the rows, one contiguous block of about a third of the
    columns (``round(d / 3)``, at least 1) at a random position is removed: a
    failed join, a group of sensors down.
``mar30``
    A random third of the columns (the same columns in both parts) lose each
    of their cells with probability 0.30; the other columns are complete.

A row left with no value keeps one random cell (only ``random`` can produce
one). The masks come from ``numpy.random.default_rng((seed, condition,
crc32(dataset)))`` in this script, so both versions receive bit-identical
arrays; a SHA-256 of the two arrays is stored with every record and the report
counts any pair that differs. Missingness is independent of the label under
every condition: it carries no signal about which rows are anomalies. The
conditions therefore measure the cost of treating missingness as evidence
where it is not evidence, which is the honest worst case for the new default;
what it gains is measured separately by the outage check below.

Each version fits ``VAEDetector(random_state=seed)`` with its defaults on the
training part (labels never shown, its anomalies left in) and scores the test
part. Per (version, condition, set, seed) the record holds AUC-ROC and AUC-PR
of ``-score_samples`` (``adbench.evaluate``), the share of the normal test rows
that ``predict`` flags (the false-positive rate; the default aims at 1 %), the
share of the test anomalies it flags, and fit and scoring seconds.

Outage check
    Where some columns have no missing cell in the training part (every
    column under ``complete``, two thirds of them under ``mar30``), every
    normal test row is copied and loses ``round(k / 3)`` (at least 1) of
    those ``k`` never-missing columns, chosen at random per row: a feed that
    has never failed goes silent on rows that are otherwise normal. The record
    holds the share of these rows that ``predict`` flags (compare with the
    false-positive rate of the same rows intact) and the share whose top
    contribution (``score_details(X).top_feature()``) is a removed column with
    a positive contribution (the positive part keeps a removed cell that
    contributes 0 from winning an argmax over negative contributions).

Versions and processes
----------------------
Each version runs in its own worker process (this script with ``--worker``),
started from an empty directory with ``PYTHONPATH`` set to the version's tree:
the repository root for the working tree; for ``--baseline REV``, a ``pip
install --no-deps --target`` of a detached ``git worktree`` of REV, made and
removed by ``benchmarks/score_speed.py``'s ``install_baseline`` and
``remove_baseline``. The worker checks that ``vae_anomaly.__file__`` lies in
that tree and stores it. One worker runs one version on one set, for all its
pending seeds and conditions (one process start and torch import per set).
Torch and the BLAS libraries use one thread (``--threads``); the two versions
alternate, the order flipped from one set to the next, so that a change in
machine load reaches both. The load average (``os.getloadavg``) before and
after every fit is stored.

Cache and report
----------------
Every finished (version, condition, set, seed) appends one JSON line to
``<out>/runs.jsonl``. Its key is the version label with its code identity (the
baseline's commit; the working tree's fingerprint, a SHA-256 of
``vae_anomaly/**/*.py`` that is checked again after each fit, so an edit
during the run discards the record), the condition, set, seed, rows used and
the protocol number: an interrupted run resumes where it stopped, and an edit
of the working tree reruns only its side. ``<out>/missing_data.md`` is then
rebuilt from the cache: per condition, the mean AUC-ROC, AUC-PR and
false-positive rate per version over all sets and over ADBench's fixed halves
A and B (``adbench.HALF_A`` / ``HALF_B``), the sets won, lost and tied by the
working tree on the mean over seeds of AUC-ROC (tied within 0.005), its
largest losses, the largest difference of any single run (0 when both
versions are the same code), the outage check and per-set tables.

Usage
-----
Working tree against commit dc12239, all 22 sets, 3 seeds::

    python benchmarks/missing_data.py --baseline dc12239

A quick check on two sets and one seed::

    python benchmarks/missing_data.py --baseline dc12239 --datasets 38_thyroid 4_breastw --seeds 0

Rebuild the report from the cache only::

    python benchmarks/missing_data.py --baseline dc12239 --report-only
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import adbench  # noqa: E402  (next to this script; no vae_anomaly import at module level)

REPO = HERE.parent
DATA_DIR = REPO.parent / "shared" / "datasets" / "adbench"
#: Bump when the data each job sees changes (masks, outage rows): part of the cache key.
PROTOCOL = 1
CONDITIONS = ("complete", "random", "blocks", "mar30")
RANDOM_RATE = 0.10
BLOCK_ROWS, BLOCK_COLS = 0.20, 1 / 3
MAR_COLS, MAR_RATE = 1 / 3, 0.30
OUTAGE_COLS = 1 / 3
#: Mean-over-seeds AUC-ROC differences within this count as a tie.
TIE = 0.005
WORKING, BASELINE = "working", "baseline"
RESULTS_FILE, REPORT_FILE = "runs.jsonl", "missing_data.md"
N_LOSSES = 3
#: Results compared exactly between the versions (all equal when both run the same code).
SAME_FIELDS = ("auc_roc", "auc_pr", "fpr_normal", "flagged_anomalies", "outage_flagged", "outage_top_removed")


# ------------------------------------------------------------------------------------------
# Data: the four conditions and the outage rows
# ------------------------------------------------------------------------------------------
def _count(n: int, fraction: float) -> int:
    """``round(n * fraction)``, at least 1."""
    return max(1, int(round(n * fraction)))


def _keep_one(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give back one random cell to every row whose cells are all masked."""
    empty = np.flatnonzero(mask.all(axis=1))
    if len(empty):
        mask[empty, rng.integers(0, mask.shape[1], size=len(empty))] = False
    return mask


def condition_rng(seed: int, condition: str, dataset: str, stream: int = 0) -> np.random.Generator:
    """The generator of one (seed, condition, set); ``stream`` 1 is the outage rows'."""
    return np.random.default_rng((seed, CONDITIONS.index(condition), zlib.crc32(dataset.encode()), stream))


def condition_masks(condition: str, shapes: list[tuple[int, int]],
                    rng: np.random.Generator) -> list[np.ndarray]:
    """Boolean masks (True = removed) for the training and test parts under one condition.

    Parameters
    ----------
    condition : str
        One of :data:`CONDITIONS`.
    shapes : list of (int, int)
        Shapes of the parts, training first.
    rng : numpy.random.Generator
        From :func:`condition_rng`.

    Returns
    -------
    list of ndarray of bool
        One mask per part; no row is masked whole.
    """
    d = shapes[0][1]
    if condition == "complete":
        return [np.zeros(shape, dtype=bool) for shape in shapes]
    if condition == "random":
        return [_keep_one(rng.random(shape) < RANDOM_RATE, rng) for shape in shapes]
    if condition == "blocks":
        width = min(_count(d, BLOCK_COLS), max(d - 1, 1))
        masks = []
        for n, _ in shapes:
            mask = np.zeros((n, d), dtype=bool)
            rows = rng.choice(n, size=min(n, _count(n, BLOCK_ROWS)), replace=False)
            starts = rng.integers(0, d - width + 1, size=len(rows))
            mask[rows[:, None], starts[:, None] + np.arange(width)] = True
            masks.append(_keep_one(mask, rng))
        return masks
    if condition == "mar30":
        cols = rng.choice(d, size=min(_count(d, MAR_COLS), max(d - 1, 1)), replace=False)
        masks = []
        for n, _ in shapes:
            mask = np.zeros((n, d), dtype=bool)
            mask[:, cols] = rng.random((n, len(cols))) < MAR_RATE
            masks.append(_keep_one(mask, rng))
        return masks
    raise ValueError(f"unknown condition {condition!r}")


def apply_condition(X_train: np.ndarray, X_test: np.ndarray, condition: str, seed: int,
                    dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Copies of both parts with the condition's cells set to NaN."""
    masks = condition_masks(condition, [X_train.shape, X_test.shape], condition_rng(seed, condition, dataset))
    parts = []
    for X, mask in zip((X_train, X_test), masks, strict=True):
        X = X.copy()
        X[mask] = np.nan
        parts.append(X)
    return parts[0], parts[1]


def outage_rows(X_train: np.ndarray, X_normal: np.ndarray, rng: np.random.Generator):
    """Normal test rows that lose some of the columns never missing in training.

    Returns
    -------
    X_out : ndarray or None
        Copy of ``X_normal`` with ``round(k / 3)`` (at least 1) of the ``k``
        never-missing columns set to NaN in each row; None when ``k`` is 0 or
        there are no rows.
    removed : ndarray of bool or None
        Which cells were removed.
    """
    never = np.flatnonzero(~np.isnan(X_train).any(axis=0))
    if len(never) == 0 or len(X_normal) == 0:
        return None, None
    k = _count(len(never), OUTAGE_COLS)
    chosen = never[np.argsort(rng.random((len(X_normal), len(never))), axis=1)[:, :k]]
    removed = np.zeros(X_normal.shape, dtype=bool)
    removed[np.arange(len(X_normal))[:, None], chosen] = True
    removed &= ~np.isnan(X_normal)
    X_out = X_normal.copy()
    X_out[removed] = np.nan
    if np.isnan(X_out).all(axis=1).any():
        raise AssertionError("an outage row lost every value")
    return X_out, removed


def outage_check(est, X_train: np.ndarray, X_normal: np.ndarray, rng: np.random.Generator) -> dict:
    """Outage fields of a record: rows, input digest, share flagged, share whose top column was removed."""
    X_out, removed = outage_rows(X_train, X_normal, rng)
    if X_out is None:
        return {"outage_rows": 0, "outage_flagged": None, "outage_top_removed": None}
    out = {"outage_rows": len(X_out), "outage_sha": data_digest(X_out),
           "outage_flagged": float((np.asarray(est.predict(X_out)) == -1).mean()), "outage_top_removed": None}
    if hasattr(est, "score_details"):
        details = est.score_details(X_out)
        names = list(details.feature_names)
        if len(names) == X_out.shape[1]:
            top = np.array([names.index(n) for n in details.top_feature()], dtype=int)
            rows = np.arange(len(X_out))
            hit = removed[rows, top] & (np.asarray(details.contributions)[rows, top] > 0)
            out["outage_top_removed"] = float(hit.mean())
    return out


def data_digest(*arrays: np.ndarray) -> str:
    """First 16 hex digits of a SHA-256 over the arrays' shapes and bytes (NaN included)."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(repr(a.shape).encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def package_fingerprint(package: Path) -> str:
    """SHA-256 (16 hex digits) of ``package/**/*.py`` paths and contents (``adbench.package_fingerprint``)."""
    return adbench.package_fingerprint(package)


# ------------------------------------------------------------------------------------------
# Worker: one version, one (set, seed), the conditions not yet cached
# ------------------------------------------------------------------------------------------
def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_worker(job_file: Path) -> int:
    """Fit and score one version on one set, for the job's seeds and conditions.

    The job (JSON) names the set, the (seed, conditions) pairs to run, the rows limit, the version label,
    code identity, the tree ``vae_anomaly`` must come from, the threads and the
    cache file; each finished condition is appended to the cache.
    """
    job = json.loads(job_file.read_text())
    threads = job["threads"]
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    import vae_anomaly
    from vae_anomaly import VAEDetector

    package = Path(vae_anomaly.__file__).resolve().parent
    if not package.is_relative_to(Path(job["tree"]).resolve()):
        raise RuntimeError(f"vae_anomaly imported from {package}, not from {job['tree']}")
    fingerprint = package_fingerprint(package)
    if job.get("fingerprint") and fingerprint != job["fingerprint"]:
        raise RuntimeError(f"{job['label']}: package changed before the run ({fingerprint})")
    import sklearn

    versions = {"vae_anomaly": getattr(vae_anomaly, "__version__", None), "torch": torch.__version__,
                "numpy": np.__version__, "scikit-learn": sklearn.__version__,
                "python": sys.version.split()[0]}

    X, y = adbench.load_dataset(Path(job["path"]))
    dataset = job["dataset"]
    for seed, conditions in job["todo"]:
        X_train0, X_test0, _, y_test = adbench.make_split(X, y, seed, job["max_rows"])
        normal = y_test == 0
        for condition in conditions:
            X_train, X_test = apply_condition(X_train0, X_test0, condition, seed, dataset)
            load_before = _loadavg()
            est = VAEDetector(random_state=seed)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                start = time.perf_counter()
                est.fit(X_train)
                fit_s = time.perf_counter() - start
                start = time.perf_counter()
                scores = -np.asarray(est.score_samples(X_test), dtype=np.float64)
                flagged = np.asarray(est.predict(X_test)) == -1
                score_s = time.perf_counter() - start
            auc_roc, auc_pr = adbench.evaluate(scores, y_test)
            record = {
                "protocol": PROTOCOL, "label": job["label"], "code_id": job["code_id"], "rev": job["rev"],
                "fingerprint": fingerprint, "condition": condition, "dataset": dataset, "seed": seed,
                "n_rows_used": len(X_train0) + len(X_test0), "n_features": int(X.shape[1]),
                "data_sha": data_digest(X_train, X_test),
                "missing_train": float(np.isnan(X_train).mean()),
                "missing_test": float(np.isnan(X_test).mean()),
                "auc_roc": auc_roc, "auc_pr": auc_pr, "fpr_normal": float(flagged[normal].mean()),
                "flagged_anomalies": float(flagged[~normal].mean()), "fit_s": fit_s, "score_s": score_s,
            }
            with warnings.catch_warnings(record=True) as caught_outage:
                warnings.simplefilter("always")
                rng = condition_rng(seed, condition, dataset, 1)
                record |= outage_check(est, X_train, X_test[normal], rng)
            record["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:160]}"
                                         for w in caught + caught_outage})
            if package_fingerprint(package) != fingerprint:
                raise RuntimeError(f"{job['label']}: {package} changed during the run; record discarded")
            record |= {"load_before": load_before, "load_after": _loadavg(), "threads": threads,
                       "vae_anomaly_file": str(Path(vae_anomaly.__file__).resolve()), "versions": versions,
                       "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
            adbench.append_record(Path(job["cache"]), record)
            adbench.log(f"  {job['label']:8s} {dataset} seed {seed} {condition:8s} AUC-ROC {auc_roc:.4f} "
                        f"AUC-PR {auc_pr:.4f} FPR {record['fpr_normal']:.4f} fit {fit_s:.1f} s"
                        + (f" ({len(record['warnings'])} warning(s) recorded)" if record["warnings"] else ""))
    return 0


# ------------------------------------------------------------------------------------------
# Parent: sides, jobs, cache
# ------------------------------------------------------------------------------------------
def record_key(r: dict) -> tuple:
    return (r["label"], r["code_id"], r["condition"], r["dataset"], r["seed"], r["n_rows_used"],
            r.get("protocol"))


def read_cache(path: Path) -> list[dict]:
    """Records of the cache in file order (unreadable lines skipped with a warning)."""
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
                record_key(record)
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                adbench.log(f"warning: {path.name}:{number} skipped ({err})")
                continue
            out.append(record)
    return out


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def working_side() -> dict:
    """The working tree: its HEAD, whether ``vae_anomaly`` differs from it, its fingerprint."""
    head = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", "vae_anomaly"))
    fingerprint = package_fingerprint(REPO / "vae_anomaly")
    return {"label": WORKING, "rev": head[:12] + ("+dirty" if dirty else ""), "code_id": f"src:{fingerprint}",
            "fingerprint": fingerprint, "tree": REPO}


def run_job(side: dict, path: Path, todo: list[tuple[int, list[str]]], args, cwd: Path, cache: Path,
            tmp: Path) -> bool:
    """Run one worker for one version and set; True when it exited 0."""
    job = {"label": side["label"], "rev": side["rev"], "code_id": side["code_id"],
           "fingerprint": side.get("fingerprint"), "tree": str(side["tree"]), "path": str(path),
           "dataset": path.stem, "todo": todo, "max_rows": args.max_rows,
           "threads": args.threads, "cache": str(cache.resolve())}
    job_file = tmp / f"job_{side['label']}.json"
    job_file.write_text(json.dumps(job))
    env = {**os.environ, "PYTHONPATH": str(side["tree"])}
    if args.threads > 0:
        env |= {k: str(args.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(job_file)],
                          env=env, cwd=cwd)
    return proc.returncode == 0


def run_all(sides: dict, datasets: list[Path], args, cache: Path, baseline_rev: str | None) -> list[str]:
    """Run every (side, set, seed, condition) not in the cache; returns the failures.

    One worker per (version, set) runs that set's pending seeds and conditions (one process start
    and one torch import per set); the order of the two versions flips from one set to the next.
    """
    import score_speed

    done = {record_key(r) for r in read_cache(cache)}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="missing_data_") as tmp_name:
        tmp = Path(tmp_name)
        base_tmp = tmp / "baseline"
        cwd = tmp / "cwd"
        cwd.mkdir()
        try:
            for turn, path in enumerate(datasets):
                n_used = adbench.rows_used(adbench.count_rows(path), args.max_rows)
                order = [WORKING, BASELINE] if turn % 2 == 0 else [BASELINE, WORKING]
                for label in order:
                    if label not in sides:
                        continue
                    side = sides[label]
                    todo = [(seed, conds) for seed in args.seeds
                            if (conds := [c for c in args.conditions
                                          if (label, side["code_id"], c, path.stem, seed, n_used,
                                              PROTOCOL) not in done])]
                    if not todo:
                        continue
                    if label == BASELINE and "tree" not in side:
                        adbench.log(f"installing baseline {baseline_rev} ...")
                        info = score_speed.install_baseline(baseline_rev, base_tmp)
                        side |= {"tree": info["site"],
                                 "fingerprint": package_fingerprint(info["site"] / "vae_anomaly")}
                        adbench.log(f"baseline {info['commit'][:12]} in {info['site']} "
                                    f"(fingerprint {side['fingerprint']})")
                    adbench.log(f"{label} {path.stem}: "
                                + "; ".join(f"seed {seed} {', '.join(c)}" for seed, c in todo))
                    if not run_job(side, path, todo, args, cwd, cache, tmp):
                        failures.append(f"{label} {path.stem}")
        finally:
            if base_tmp.exists():
                score_speed.remove_baseline(base_tmp)
    return failures


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------
def _f(value, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def select(records: list[dict], sides: dict, datasets: list[str], seeds: list[int],
           conditions: list[str], n_used: dict) -> list[dict]:
    """The newest record of every key of this selection."""
    wanted = {(label, side["code_id"], c, d, s, n_used[d], PROTOCOL) for label, side in sides.items()
              for c in conditions for d in datasets for s in seeds}
    newest = {}
    for r in records:
        if record_key(r) in wanted:
            newest[record_key(r)] = r
    return list(newest.values())


def per_set_means(runs: list[dict], label: str, condition: str, field: str) -> dict[str, float]:
    """Mean over seeds of ``field`` per set, for one version and condition (None values left out)."""
    values: dict[str, list[float]] = {}
    for r in runs:
        if r["label"] == label and r["condition"] == condition and r.get(field) is not None:
            values.setdefault(r["dataset"], []).append(r[field])
    return {d: float(np.mean(v)) for d, v in values.items()}


def write_report(runs: list[dict], sides: dict, datasets: list[str], args, out: Path) -> str:
    """Write ``missing_data.md``; return its summary part."""
    labels = [lab for lab in (BASELINE, WORKING) if lab in sides]
    pair = len(labels) == 2
    halves = [("all sets", datasets),
              ("half A", [d for d in datasets if d in adbench.HALF_A]),
              ("half B", [d for d in datasets if d in adbench.HALF_B])]
    halves = [(name, names) for name, names in halves if names]
    metrics = [("auc_roc", "AUC-ROC"), ("auc_pr", "AUC-PR"), ("fpr_normal", "FPR normal"),
               ("flagged_anomalies", "anomalies flagged"), ("fit_s", "fit s")]
    loads = [x for r in runs for x in (r["load_before"][0], r["load_after"][0])]
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    lines = ["# Missing cells: working tree beside the baseline", "",
             f"Generated {now} by `benchmarks/missing_data.py` from `{RESULTS_FILE}`. Seeds {args.seeds}; "
             f"sets above {args.max_rows} rows subsampled (stratified) as in `benchmarks/adbench.py`; "
             "70/30 stratified split; `VAEDetector(random_state=seed)` defaults; missingness independent "
             "of the label (see the script's docstring). Means are over sets of the mean over seeds, on "
             f"sets both versions have; W/L/T: working against baseline on AUC-ROC, tie within {TIE}.", ""]
    for label in labels:
        side = sides[label]
        files = sorted({r["vae_anomaly_file"] for r in runs if r["label"] == label})
        prints = sorted({r["fingerprint"] for r in runs if r["label"] == label})
        mine = [r for r in runs if r["label"] == label]
        warned = sum(bool(r.get("warnings")) for r in mine)
        vers = sorted({json.dumps(r["versions"], sort_keys=True) for r in runs if r["label"] == label})
        lines.append(f"- `{label}`: rev {side['rev']}, code `{side['code_id']}` (package fingerprint "
                     f"{', '.join(prints)}), vae_anomaly from {', '.join(f'`{f}`' for f in files)}; "
                     f"{', '.join(vers)}; {warned} of {len(mine)} runs recorded warnings (`warnings` "
                     "in the cache)")
    if loads:
        lines.append(f"- 1-minute load average at fits: {min(loads):.2f} to {max(loads):.2f} "
                     f"({os.cpu_count()} CPUs); torch threads {sorted({r['threads'] for r in runs})}")
    lines.append("")
    if pair:
        digests: dict[tuple, set] = {}
        for r in runs:
            digests.setdefault((r["condition"], r["dataset"], r["seed"]), set()).add(
                (r["data_sha"], r.get("outage_sha")))
        differ = sum(len(v) > 1 for v in digests.values())
        results: dict[tuple, dict] = {}
        for r in runs:
            results.setdefault((r["condition"], r["dataset"], r["seed"]), {})[r["label"]] = tuple(
                r.get(m) for m in SAME_FIELDS)
        both = [v for v in results.values() if len(v) == 2]
        same = sum(v[WORKING] == v[BASELINE] for v in both)
        lines.append(f"Inputs: {len(digests)} (condition, set, seed) cells, {differ} with different "
                     f"arrays between the versions (should be 0). Results: {same} of {len(both)} cells "
                     f"run by both versions give exactly the same {', '.join(SAME_FIELDS)}.")
        lines.append("")
    summary = ["## Summary", ""]
    header = ["condition", "slice", "sets"]
    for _, title in metrics:
        header += [f"{title} {lab}" for lab in labels]
    if pair:
        header += ["W/L/T", f"largest losses (Δ AUC-ROC, {N_LOSSES} max)", "max run |Δ AUC-ROC|"]
    summary += [_row(header), _row(["---"] * 3 + ["---:"] * (len(header) - 3))]
    conditions = [c for c in args.conditions if any(r["condition"] == c for r in runs)]
    for condition in conditions:
        means = {(lab, m): per_set_means(runs, lab, condition, m) for lab in labels for m, _ in metrics}
        for slice_name, names in halves:
            common = [d for d in names if all(d in means[(lab, "auc_roc")] for lab in labels)]
            if not common:
                continue
            cells = [condition, slice_name, len(common)]
            for m, _ in metrics:
                cells += [_f(np.mean([means[(lab, m)][d] for d in common if d in means[(lab, m)]])
                             if any(d in means[(lab, m)] for d in common) else None,
                             2 if m == "fit_s" else 3) for lab in labels]
            if pair:
                delta = {d: means[(WORKING, "auc_roc")][d] - means[(BASELINE, "auc_roc")][d] for d in common}
                won = sum(v > TIE for v in delta.values())
                lost = sum(v < -TIE for v in delta.values())
                worst = sorted((v, d) for d, v in delta.items() if v < -TIE)[:N_LOSSES]
                runs_delta = _run_deltas(runs, condition, common)
                cells += [f"{won}/{lost}/{len(common) - won - lost}",
                          ", ".join(f"{d} {v:+.3f}" for v, d in worst) or "none",
                          _f(max(runs_delta) if runs_delta else None, 4)]
            summary.append(_row(cells))
    summary.append("")
    lines += summary
    lines += _outage_table(runs, labels, conditions, halves)
    lines += ["## Per-set results (mean over seeds)", ""]
    for condition in conditions:
        fields = [("auc_roc", "AUC-ROC"), ("auc_pr", "AUC-PR"), ("fpr_normal", "FPR")]
        means = {(lab, m): per_set_means(runs, lab, condition, m) for lab in labels for m, _ in fields}
        head = ["set", "seeds"]
        for _, title in fields:
            head += [f"{title} {lab}" for lab in labels] + (["Δ"] if pair else [])
        lines += [f"### {condition}", "", _row(head), _row(["---"] + ["---:"] * (len(head) - 1))]
        for d in datasets:
            if not any(d in means[(lab, "auc_roc")] for lab in labels):
                continue
            half = " (A)" if d in adbench.HALF_A else " (B)" if d in adbench.HALF_B else ""
            n_seeds = "/".join(str(sum(r["dataset"] == d and r["condition"] == condition and r["label"] == lab
                                       for r in runs)) for lab in labels)
            cells = [d + half, n_seeds]
            for m, _ in fields:
                vals = [means[(lab, m)].get(d) for lab in labels]
                cells += [_f(v) for v in vals]
                if pair:
                    cells.append(_f(vals[1] - vals[0]) if None not in vals else "")
            lines.append(_row(cells))
        lines.append("")
    (out / REPORT_FILE).write_text("\n".join(lines), encoding="utf-8")
    return "\n".join(summary + _outage_table(runs, labels, conditions, halves))


def _run_deltas(runs: list[dict], condition: str, names: list[str]) -> list[float]:
    """|working - baseline| AUC-ROC of every (set, seed) both versions ran under ``condition``."""
    by = {}
    for r in runs:
        if r["condition"] == condition and r["dataset"] in names:
            by.setdefault((r["dataset"], r["seed"]), {})[r["label"]] = r["auc_roc"]
    return [abs(v[WORKING] - v[BASELINE]) for v in by.values() if len(v) == 2]


def _outage_table(runs: list[dict], labels: list[str], conditions: list[str], halves) -> list[str]:
    """Markdown lines of the outage check (conditions with never-missing training columns)."""
    header = ["condition", "slice", "sets"]
    header += [f"FPR intact {lab}" for lab in labels] + [f"outage flagged {lab}" for lab in labels]
    header += [f"top = removed {lab}" for lab in labels]
    rows = []
    for condition in conditions:
        means = {(lab, m): per_set_means(runs, lab, condition, m) for lab in labels
                 for m in ("fpr_normal", "outage_flagged", "outage_top_removed")}
        for slice_name, names in halves:
            common = [d for d in names if all(d in means[(lab, "outage_flagged")] for lab in labels)]
            if not common:
                continue
            cells = [condition, slice_name, len(common)]
            for m in ("fpr_normal", "outage_flagged", "outage_top_removed"):
                for lab in labels:
                    vals = [means[(lab, m)][d] for d in common if d in means[(lab, m)]]
                    cells.append(_f(float(np.mean(vals))) if vals else "n/a")
            rows.append(_row(cells))
    if not rows:
        return []
    return ["## Outage check", "",
            "Every normal test row, with about a third of the columns never missing in training removed "
            "(labels unchanged, all normal): the share flagged by `predict` beside the same rows' "
            "false-positive rate intact, and the share whose top contribution is a removed column (n/a: "
            "no `score_details`).", "", _row(header), _row(["---"] * 3 + ["---:"] * (len(header) - 3)),
            *rows, ""]


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Missing-cell benchmark of VAEDetector's default, working "
                                     "tree beside a baseline commit (protocol in the module docstring).",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--baseline", metavar="REV", default=None,
                        help="commit or tag run side by side (none: the working tree alone)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=None, metavar="NAME",
                        help="case-insensitive substrings of file stems (default: all 22 sets)")
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    parser.add_argument("--max-rows", type=int, default=20_000,
                        help="subsample larger sets to this many rows (stratified, as adbench.py)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder of ADBench Parquet files")
    parser.add_argument("--out", type=Path, default=HERE / "results_missing", help="cache and report folder")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (0: their default)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from the cache only")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.seeds = list(dict.fromkeys(args.seeds))
    if args.datasets:
        args.datasets = [item for text in args.datasets for item in text.split(",") if item]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args.worker)
    datasets = adbench.list_datasets(args.data_dir.resolve(), args.datasets)
    if not datasets:
        raise SystemExit(f"no Parquet datasets match in {args.data_dir}")
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / RESULTS_FILE
    sides = {WORKING: working_side()}
    if args.baseline:
        commit = _git("rev-parse", "--verify", f"{args.baseline}^{{commit}}")
        sides[BASELINE] = {"label": BASELINE, "rev": commit[:12], "code_id": f"commit:{commit}"}
    adbench.log(f"sets ({len(datasets)}): {', '.join(p.stem for p in datasets)}; seeds {args.seeds}; "
                f"conditions {args.conditions}; " + "; ".join(f"{k} {v['rev']}" for k, v in sides.items()))
    failures: list[str] = []
    start = time.perf_counter()
    if not args.report_only:
        failures = run_all(sides, datasets, args, cache, args.baseline)
        adbench.log(f"run took {time.perf_counter() - start:.0f} s")
    names = [p.stem for p in datasets]
    n_used = {p.stem: adbench.rows_used(adbench.count_rows(p), args.max_rows) for p in datasets}
    runs = select(read_cache(cache), sides, names, args.seeds, args.conditions, n_used)
    if runs:
        print(write_report(runs, sides, names, args, args.out), flush=True)
        adbench.log(f"wrote {args.out / REPORT_FILE}")
    else:
        adbench.log("no cached results for this selection; no report written")
    for line in failures:
        adbench.log(f"failed: {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
