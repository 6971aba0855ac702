"""ADBench-style unsupervised benchmark for ``vae_anomaly.VAEDetector``.

Protocol
--------
This follows the unsupervised protocol of ADBench (Han et al., NeurIPS 2022,
Appendix C) on the 22 "Classical" ADBench datasets stored as Parquet files
(numeric columns ``f0 .. f{d-1}`` and an int8 ``label`` column, 1 = anomaly).
For every dataset and every seed (default 0, 1, 2):

1. If the dataset has more than ``--max-rows`` rows (default 50,000), a
   stratified subsample of ``--max-rows`` rows is drawn with that seed.
2. The rows are split 70 % / 30 % with
   ``sklearn.model_selection.train_test_split(test_size=0.3,
   stratify=label, random_state=seed)``.
3. Every method is fitted on the 70 % part *without labels* (the anomalies
   of that part stay in it) and scores the 30 % part; AUC-ROC
   (``roc_auc_score``) and AUC-PR (``average_precision_score``) are computed
   from an anomaly score where higher means more anomalous. Fit and score
   wall times (``time.perf_counter``) are recorded.

All methods of one run see exactly the same split, receive the raw float64
features (no scaling is added here; each method does its own), and run in
the same process. Differences to ADBench itself: ADBench's current loader
also min-max scales, subsamples sets above 10,000 rows to 10,000 and
up-samples sets below 1,000 rows; none of that is done here.

Methods
-------
``vae``
    ``vae_anomaly.VAEDetector(random_state=seed, **vae_params)``; anomaly
    score ``-score_samples(X)``. Imported lazily, so the other methods run
    even when the package is not importable.
``iforest``
    ``sklearn.ensemble.IsolationForest(random_state=seed)`` with defaults;
    anomaly score ``-score_samples(X)``.
``pyod_vae``
    ``pyod.models.vae.VAE(random_state=seed, verbose=0)``, otherwise PyOD
    defaults; anomaly score ``decision_function(X)``. In PyOD 3.6.7 the
    defaults are 30 epochs, batch size 32, Adam (lr 1e-3, weight decay
    1e-5), encoder 128-64-32, latent dimension 2, decoder 32-64-128,
    dropout 0.2, no batch norm, ``beta=1.0`` with ``capacity=0.0``,
    per-column standardisation of the input (``preprocessing=True``) and
    the score is the Euclidean reconstruction distance in standardised
    space. Note that ``vae_loss`` clamps the KL term to ``[0, capacity]``,
    so with the default ``capacity=0`` the KL term (and its gradient) is
    always 0, and scoring draws a random latent sample per row.
``pyod_ae``
    ``pyod.models.auto_encoder.AutoEncoder(random_state=seed, verbose=0)``,
    otherwise defaults (10 epochs, batch size 32, layers 64-32-64, batch
    norm, dropout 0.2, standardised input); anomaly score
    ``decision_function(X)``.

PyOD standardises with ``(x - mean) / (std + 1e-8)``, so a column that is
constant in the training part but not in the test part (this happens in
``24_mnist`` and ``17_InternetAds``) gives a few test rows huge scores.
PyOD's ``fit`` also scores the whole training set (to set its threshold),
which is included in its fit time. The one-off numba compilation of PyOD's
distance function (about 2 s) is done before the first timed fit.

Few labels (``--labels K [K ...]``)
-----------------------------------
Issue 29's protocol for a user who knows a few anomalies. The sets, seeds,
subsample and 70/30 split are exactly those above. For every (set, seed)
and every ``k``, ``k`` anomalies of the *training* part are drawn with
``numpy.random.default_rng((seed, k, crc32(set name)))``, the same for
every method (:func:`choose_labels`); the training labels given to the
methods are 1 for those rows and 0 for every other training row, which
stays in the training part unlabelled (the other anomalies included).
When the training part holds fewer than ``k`` anomalies, all of them are
labelled and the count is recorded (``n_labels``; ``42_WBC`` and
``15_Hepatitis`` hold 7 and 9 at every seed). No test label is ever shown;
AUC-ROC and AUC-PR are computed on the test part as above. Methods given
the labels (``--label-methods``):

``vae_labels``
    ``VAEDetector(random_state=seed).fit(X_train, y_train)`` (Label-Trim:
    the labelled rows are left out of training and calibration); anomaly
    score ``-score_samples(X)``.
``devnet``
    ``pyod.models.devnet.DevNet`` with PyOD's defaults (``y``: 1 labelled
    anomaly, 0 unlabelled) on the raw features. PyOD 3.6.7 ignores its
    ``random_seed`` argument (it seeds NumPy and torch with 42 when the
    module is imported), so NumPy's and torch's global generators are
    seeded with the seed just before the fit. Its stdout (a line per
    epoch) is discarded.
    Note: PyOD 3.6.7's ``DevNet.fit`` calls ``deviation_loss(outputs,
    labels)`` into the signature ``(y_true, y_pred)``, and its ``(batch,
    1)`` outputs broadcast against the ``(batch,)`` labels, so every row
    gets the same gradient whatever its label: its scores do not depend on
    which rows are labelled (on ``6_cardio``, seed 0, the scores with the
    10 labels, with 10 other anomalies, with 10 random rows and with every
    training anomaly labelled correlate at 0.99999). Its figures are
    PyOD's DevNet as shipped, not the method of the paper.
``devnet_minmax``
    The same, on features min-max scaled with the training part's range
    (as ADBench feeds DevNet); PyOD's DevNet does no scaling of its own.
``devnet_fixed``
    PyOD's DevNet (network, optimiser, loss, budget) with the paper's
    training step: the deviation loss gets the labels as targets and one
    score per row, and each batch is half labelled anomalies, drawn with
    replacement (:class:`_FixedDevNet`); min-max scaled input.
``xgbod``
    ``pyod.models.xgbod.XGBOD(random_state=seed)`` (needs ``xgboost``):
    scores of 41 unsupervised PyOD detectors appended to the features of a
    supervised booster. The detectors never see the labels; they are fitted
    once per set and seed and shared by every ``k`` of one process (same
    scores as a fresh fit; the recorded seconds include their share).
``hgb``
    scikit-learn's ``HistGradientBoostingClassifier(random_state=seed)`` on
    the training labels; anomaly score ``predict_proba(X)[:, 1]``.

The unsupervised methods of ``--methods`` (ours without labels, ``vae``,
and the peers) do not depend on ``k`` and are run and cached once. Records
of the labelled methods carry ``labels_k`` (the ``k`` asked for, part of
the cache key), ``n_labels`` (labels given) and ``labelled_rows`` (their
positions in the training part). ``--reuse-cache FILE`` copies the
unsupervised peers' records of another cache (same method, parameters,
set, seed and rows) into this one instead of recomputing them, and takes
"today's" ``vae`` from it for the 0-label line. The few-label report
(``<out>/adbench_labels.md``, also printed) has, per ``k`` and per slice
(all real sets, half A, half B): mean AUC-ROC and AUC-PR per method, sets
won / lost / tied by ``vae_labels`` against every other method (a tie is a
difference of at most :data:`LABEL_TIE`), and issue 29's targets checked
line by line. Threads of BLAS, OpenMP (``hgb``) and torch are limited to
``--threads``.

Clean reference data (``--clean``)
----------------------------------
Issue 29's protocol for a user who knows a period was normal: the
one-class setting (training on normal rows only) that DTE (Livernoche et
al., ICLR 2024) reports as semi-supervised; ADBench's own semi-supervised
setting gives labelled anomalies instead. For every (set, seed), after the
same subsample as above,
the normal rows are split in two halves with ``train_test_split(normal
rows, test_size=0.5, random_state=seed)`` (:func:`make_clean_split`); every
method of ``--methods`` is fitted on the first half (no anomaly in it) and
scores the second half plus every anomaly. The same methods also run on the
70/30 split above, so the report sets each beside itself fitted on
contaminated rows. Records carry ``protocol`` (``"clean"``; None on the
70/30 split, part of the cache key). The clean report
(``<out>/adbench_clean.md`` and ``.csv``, also printed) has, for all real
sets and halves A and B: mean AUC-ROC and AUC-PR per method on the clean
split and for ``vae`` on the 70/30 split, the paired AUC-ROC difference and
W/L/T of ``vae`` (clean) against each (ties within :data:`LABEL_TIE`); then
per set what clean training adds (AUC-ROC clean minus 70/30) for every
method, with means over the sets whose anomaly share is at least
:data:`CLEAN_HIGH_SHARE` and over the others; then the per-set tables.
AUC-PR is compared within a split only: the clean test part holds every
anomaly against half of the normal rows, so its base rate is higher.

Result cache and reports
------------------------
Every finished (method, dataset, seed) fit appends one JSON line to
``<out>/runs.jsonl``. A later start skips runs already there with the same
method name, parameters, dataset, seed and number of rows used (so a long
run can be resumed, and the PyOD baselines only need computing once);
``--no-cache`` recomputes them (the newest record of a key wins in the
reports). After running, ``<out>/adbench_results.csv`` and
``<out>/adbench_results.md`` are rebuilt from the cache for the selected
datasets and seeds, and the summary rows of the Markdown report are printed
to stdout. Published figures (ADBench paper Tables D4/D5 for IForest, PyOD's
deep-model table for VAE and AutoEncoder) are shown beside the results when
``published_results/`` is found next to the dataset folder.

Usage
-----
Baselines and our model on all 22 sets, 3 seeds::

    python benchmarks/adbench.py ../shared/datasets/adbench --out benchmarks/results

Only some methods / datasets / seeds (dataset filters are case-insensitive
substrings of the file stem, so ``thyroid`` matches ``2_annthyroid`` and
``38_thyroid``)::

    python benchmarks/adbench.py ../shared/datasets/adbench --out benchmarks/results \\
        --methods iforest --datasets WBC,Hepatitis,thyroid --seeds 0

A variant of our model, recorded as its own method next to the cached
baselines (the report then shows ``vae_lat8`` beside ``iforest``,
``pyod_vae`` and ``pyod_ae``)::

    python benchmarks/adbench.py ../shared/datasets/adbench --out benchmarks/results \\
        --methods vae --vae-name vae_lat8 --vae-params '{"latent_dim": 8}'

The neural methods run with one torch thread by default (``--threads``):
on a small shared machine, two threads for batch-32 MLP steps are much
slower once another process competes for the cores, which makes timings
unusable; the thread count is stored with every record.

The few-label protocol with 10 labels, reusing the cached peers::

    python benchmarks/adbench.py ../shared/datasets/adbench \\
        --out benchmarks/results_labels --max-rows 20000 --labels 10 \\
        --reuse-cache benchmarks/results/runs.jsonl

The clean-reference protocol against kNN, IsolationForest and ECOD,
reusing their cached 70/30 runs::

    python benchmarks/adbench.py ../shared/datasets/adbench \\
        --out benchmarks/results_clean --methods vae,knn,iforest,ecod --clean \\
        --reuse-cache benchmarks/results/runs.jsonl

Rebuild the reports from the cache without fitting anything::

    python benchmarks/adbench.py ../shared/datasets/adbench --out benchmarks/results --report-only
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

#: Method kinds this script knows how to run, in their default order.
ALL_METHODS = ("vae", "iforest", "knn", "mcd", "copod", "ecod", "hbos",
               "pyod_vae", "pyod_ae")
#: Baseline of the largest-shortfall row.
BASELINE = "iforest"
#: Method the fit-time ratio row divides by.
TIME_REFERENCE = "pyod_vae"
#: Baselines (peers) always shown in the report when they are in the cache;
#: every other method name is one of ours.
REPORT_BASELINES = ("iforest", "knn", "mcd", "copod", "ecod", "hbos",
                    "pyod_vae", "pyod_ae")
#: PyOD's classical detectors run with their defaults: method kind -> (module,
#: class).
PYOD_CLASSICAL = {"knn": ("pyod.models.knn", "KNN"),
                  "mcd": ("pyod.models.mcd", "MCD"),
                  "copod": ("pyod.models.copod", "COPOD"),
                  "ecod": ("pyod.models.ecod", "ECOD"),
                  "hbos": ("pyod.models.hbos", "HBOS")}
#: PyOD's MCD is not run on sets with more features than this (only
#: ``17_InternetAds``, 1,555 features, among the dev sets): with more features
#: than training rows the covariance is singular, and scikit-learn's FastMCD,
#: which inverts a d x d matrix hundreds of times, had not finished one seed
#: after 300 s there. Summaries compare methods on the sets both have.
MCD_MAX_FEATURES = 500
#: The two fixed halves of the 22 dev sets: the sets in ADBench's numeric
#: order, alternately to A and B (chosen by that rule before any result).
#: A change is chosen on half A and must hold on half B and on the synthetic
#: kinds before it is kept.
HALF_A = ("2_annthyroid", "6_cardio", "10_cover", "15_Hepatitis",
          "19_landsat", "22_magic.gamma", "26_optdigits", "31_satimage-2",
          "35_SpamBase", "40_vowels", "44_Wilt")
HALF_B = ("4_breastw", "8_celeba", "12_fault", "17_InternetAds", "20_letter",
          "24_mnist", "28_pendigits", "33_skin", "38_thyroid", "42_WBC",
          "46_WPBC")
#: Separator between a real set's name and a synthetic kind
#: (``6_cardio@local``).
KIND_SEP = "@"
#: Fraction of rows in the test part.
TEST_SIZE = 0.3
#: Decimals used to decide ties (won/lost/tied and ranks).
TIE_DECIMALS = 3
RESULTS_FILE = "runs.jsonl"
#: Repository root, so ``vae_anomaly`` imports from the working tree when
#: the script is run as ``python benchmarks/adbench.py``.
REPO_ROOT = Path(__file__).resolve().parents[1]
METRICS = (("auc_roc", "AUC-ROC"), ("auc_pr", "AUC-PR"))
#: Methods given the few training labels (``--labels``), in report order;
#: the first is ours, the others are the peers given the same labels.
LABEL_METHODS = ("vae_term", "vae_labels", "devnet", "devnet_minmax",
                 "devnet_fixed", "xgbod", "hgb")
#: Ours given the labels (with the training term, ``label_weight=1``; ``vae_labels`` is
#: ``fit(X, y)`` with the defaults, Label-Trim alone), and ours without them.
LABEL_OURS = "vae_term"
LABEL_UNLABELLED = "vae"
#: Issue 29's margins: mean AUC-ROC with labels at least the best labelled
#: peer's + LABEL_PEER_MARGIN and ours without labels' + LABEL_SELF_MARGIN.
LABEL_PEER_MARGIN = 0.02
LABEL_SELF_MARGIN = 0.03
#: Two means within this of each other are a tie in the few-label W/L/T.
LABEL_TIE = 0.005
#: ``protocol`` of the runs on the clean-reference split (``--clean``); runs on
#: the 70/30 split record None, as every record made before it does.
CLEAN = "clean"
#: Anomaly share of a whole set from which the clean report counts it among the
#: heavily contaminated sets (fixed before any clean result).
CLEAN_HIGH_SHARE = 0.10


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def log(message: str) -> None:
    """Write one progress line to stderr and flush it.

    Parameters
    ----------
    message : str
        Text of the line (no trailing newline).
    """
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def params_key(params: dict) -> str:
    """Return the canonical JSON text of a parameter dict.

    Parameters
    ----------
    params : dict
        Keyword arguments of a method (without the seed).

    Returns
    -------
    str
        ``json.dumps`` with sorted keys and no spaces, used to compare
        parameter sets between runs.
    """
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def library_versions() -> dict:
    """Collect the versions of the libraries that can affect results.

    Returns
    -------
    dict
        Mapping of distribution name to version string (``None`` when the
        distribution is not installed), plus ``python``, the git commit of
        the working tree (``None`` outside a repository or before the first
        commit) and the number of CPUs.
    """
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "pandas", "pyarrow", "scikit-learn", "torch",
                 "pyod", "xgboost", "vae-anomaly"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        versions["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=10,
            check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        versions["git_commit"] = None
    versions["cpu_count"] = os.cpu_count()
    return versions


def source_fingerprint() -> str | None:
    """Hash the source of the ``vae_anomaly`` package in the working tree.

    Returns
    -------
    str or None
        First 16 hex digits of a SHA-256 over the relative paths and
        contents of ``vae_anomaly/**/*.py``; None when the folder is
        missing. Stored with ``vae`` records so that cached results made
        with older code can be recognised (the cache key itself is only
        method name, parameters, dataset, seed and rows).
    """
    package = REPO_ROOT / "vae_anomaly"
    if not package.is_dir():
        return None
    return package_fingerprint(package)


def package_fingerprint(package: Path) -> str:
    """SHA-256 (16 hex digits) of ``package/**/*.py`` paths and contents."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def dataset_sort_key(name: str) -> tuple:
    """Order ADBench datasets by their numeric prefix (``2_annthyroid`` first).

    Parameters
    ----------
    name : str
        Dataset name (file stem) like ``<number>_<name>``.

    Returns
    -------
    tuple
        ``(number, name)``; names without a numeric prefix sort last.
    """
    head = name.split("_", 1)[0]
    return (int(head), name) if head.isdigit() else (10**9, name)


def list_datasets(folder: Path, filters: list[str] | None) -> list[Path]:
    """List the Parquet datasets of a folder, optionally filtered.

    Parameters
    ----------
    folder : Path
        Folder holding ``*.parquet`` files.
    filters : list of str or None
        Case-insensitive substrings; a file is kept when its stem contains
        any of them. ``None`` keeps every file.

    Returns
    -------
    list of Path
        Matching files in ADBench order.
    """
    files = sorted(folder.glob("*.parquet"),
                   key=lambda p: dataset_sort_key(p.stem))
    if filters:
        wanted = [f.lower() for f in filters]
        files = [p for p in files if any(w in p.stem.lower() for w in wanted)]
    return files


def count_rows(path: Path) -> int:
    """Return the number of rows of a Parquet file from its metadata.

    Parameters
    ----------
    path : Path
        Parquet file.

    Returns
    -------
    int
        Row count, read without loading the data.
    """
    return pq.read_metadata(path).num_rows


def load_dataset(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read features and labels of one ADBench Parquet file.

    Parameters
    ----------
    path : Path
        File with float columns ``f0 .. f{d-1}`` and an int ``label``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        Features in column order ``f0, f1, ...``, C-contiguous.
    y : ndarray of shape (n_samples,), int64
        1 for anomalies, 0 otherwise.
    """
    frame = pd.read_parquet(path)
    feature_cols = sorted((c for c in frame.columns
                           if c.startswith("f") and c[1:].isdigit()),
                          key=lambda c: int(c[1:]))
    X = np.ascontiguousarray(frame[feature_cols].to_numpy(dtype=np.float64))
    y = frame["label"].to_numpy().astype(np.int64)
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError(f"{path.name}: label must hold only 0 and 1")
    return X, y


def rows_used(n_rows: int, max_rows: int) -> int:
    """Number of rows a dataset is reduced to before splitting.

    Parameters
    ----------
    n_rows : int
        Rows in the file.
    max_rows : int
        Subsampling limit.

    Returns
    -------
    int
        ``min(n_rows, max_rows)``.
    """
    return min(n_rows, max_rows)


def make_split(X: np.ndarray, y: np.ndarray, seed: int, max_rows: int):
    """Subsample (when needed) and split one dataset for one seed.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Labels (1 = anomaly).
    seed : int
        Seed of both the subsample and the split.
    max_rows : int
        Datasets with more rows are reduced to this many rows by a
        stratified draw before splitting.

    Returns
    -------
    X_train, X_test : ndarray, float64
        70 % / 30 % stratified split of the (subsampled) rows.
    y_train, y_test : ndarray, int64
        Matching labels; ``y_train`` is never shown to the methods.
    """
    X, y = subsample(X, y, seed, max_rows)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=seed)
    return (np.ascontiguousarray(X_train), np.ascontiguousarray(X_test),
            y_train, y_test)


def subsample(X: np.ndarray, y: np.ndarray, seed: int, max_rows: int):
    """Stratified draw of ``max_rows`` rows (in file order) when a set has more; else the set as it is."""
    if len(y) > max_rows:
        keep, _ = train_test_split(np.arange(len(y)), train_size=max_rows,
                                   stratify=y, random_state=seed)
        keep.sort()
        X, y = X[keep], y[keep]
    return X, y


def make_clean_split(X: np.ndarray, y: np.ndarray, seed: int, max_rows: int):
    """Split of the clean-reference protocol (``--clean``): train on half the normal rows only.

    Parameters
    ----------
    X, y, seed, max_rows
        As in :func:`make_split`; the subsample is the same.

    Returns
    -------
    X_train, X_test : ndarray, float64
        Training rows: half of the normal rows (``train_test_split(normal
        rows, test_size=0.5, random_state=seed)``), no anomaly among them.
        Test rows: the other normal rows and every anomaly, in file order.
    y_train, y_test : ndarray, int64
        Matching labels (``y_train`` is all 0).
    """
    X, y = subsample(X, y, seed, max_rows)
    train, test_normal = train_test_split(np.flatnonzero(y == 0), test_size=0.5,
                                          random_state=seed)
    test = np.sort(np.concatenate([test_normal, np.flatnonzero(y == 1)]))
    return (np.ascontiguousarray(X[train]), np.ascontiguousarray(X[test]),
            y[train], y[test])


#: Split of each protocol recorded as ``protocol``: None for the 70/30 split.
SPLITS = {None: make_split, CLEAN: make_clean_split}


def choose_labels(y_train: np.ndarray, k: int, seed: int,
                  dataset: str) -> np.ndarray:
    """Training labels of the few-label protocol: ``k`` known anomalies.

    Parameters
    ----------
    y_train : ndarray of shape (n_train,)
        True labels of the training part (1 = anomaly).
    k : int
        Anomalies to label (at least 0).
    seed : int
        Seed of the split.
    dataset : str
        Set name; with ``seed`` and ``k`` it seeds the draw, so every
        method of a (set, seed, k) gets the same labels and no method's own
        random state takes part.

    Returns
    -------
    ndarray of shape (n_train,), int64
        1 for the ``min(k, anomalies in y_train)`` rows drawn without
        replacement from the training anomalies by
        ``numpy.random.default_rng((seed, k, crc32(dataset)))``, 0 for every
        other row (normal or not known).

    Raises
    ------
    ValueError
        If ``k`` is negative.
    """
    if k < 0:
        raise ValueError(f"k must be at least 0, got {k}")
    anomalies = np.flatnonzero(np.asarray(y_train) == 1)
    rng = np.random.default_rng((int(seed), int(k),
                                 zlib.crc32(dataset.encode("utf-8"))))
    chosen = rng.choice(anomalies, min(k, len(anomalies)), replace=False)
    labels = np.zeros(len(y_train), dtype=np.int64)
    labels[chosen] = 1
    return labels


def _synthetic():
    """Import ``benchmarks/synthetic.py`` (next to this script)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import synthetic

    return synthetic


@dataclass(frozen=True)
class Task:
    """One benchmark set: a real dataset, or a synthetic kind made from it.

    Parameters
    ----------
    path : Path
        The real dataset's Parquet file.
    kind : str or None
        None for the real rows, else one of ``synthetic.KINDS``.
    n_used : int
        Rows after subsampling (real) or generation (synthetic), part of
        the cache key.
    """

    path: Path
    kind: str | None
    n_used: int

    @property
    def name(self) -> str:
        """Name recorded as ``dataset`` (``6_cardio`` or ``6_cardio@local``)."""
        if self.kind is None:
            return self.path.stem
        return f"{self.path.stem}{KIND_SEP}{self.kind}"

    @property
    def group(self) -> str:
        """``real`` or the synthetic kind."""
        return "real" if self.kind is None else self.kind


def build_tasks(datasets: list[Path], kinds: list[str], with_real: bool,
                max_rows: int) -> list[Task]:
    """List the sets of one run.

    Parameters
    ----------
    datasets : list of Path
        Real Parquet files.
    kinds : list of str
        Synthetic kinds to make from each file (may be empty).
    with_real : bool
        Include the real sets.
    max_rows : int
        Subsampling limit.

    Returns
    -------
    list of Task
        Real sets first, then each kind, each in ADBench order.

    Raises
    ------
    SystemExit
        If a kind is unknown.
    """
    synthetic = _synthetic()
    unknown = [k for k in kinds if k not in synthetic.KINDS]
    if unknown:
        raise SystemExit(f"unknown synthetic kind(s) {unknown}; choose from "
                         f"{', '.join(synthetic.KINDS)}")
    tasks = []
    if with_real:
        tasks += [Task(p, None, rows_used(count_rows(p), max_rows))
                  for p in datasets]
    for kind in kinds:
        for p in datasets:
            labels = pq.read_table(p, columns=["label"])["label"].to_numpy()
            n_norm, n_anom = synthetic.sizes(int(np.sum(labels == 0)))
            tasks.append(Task(p, kind, rows_used(n_norm + n_anom, max_rows)))
    return tasks


# --------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------


@dataclass
class Method:
    """One method to benchmark.

    Parameters
    ----------
    name : str
        Name recorded in the cache and shown in the reports.
    kind : str
        One of :data:`ALL_METHODS`; selects the runner function.
    params : dict
        Keyword arguments passed besides the seed (recorded in the cache).
    """

    name: str
    kind: str
    params: dict = field(default_factory=dict)


def _timed_fit_score(estimator, fit: Callable, score: Callable,
                     X_train: np.ndarray, X_test: np.ndarray):
    """Fit an estimator and score the test rows, timing both steps.

    Parameters
    ----------
    estimator : object
        Unfitted estimator.
    fit : callable
        ``fit(estimator, X_train)``.
    score : callable
        ``score(estimator, X_test)`` returning anomaly scores (higher =
        more anomalous).
    X_train, X_test : ndarray
        Training and test features.

    Returns
    -------
    scores : ndarray of shape (n_test,), float64
        Anomaly scores of the test rows.
    fit_s, score_s : float
        Wall-clock seconds of the fit and of the scoring.
    """
    start = time.perf_counter()
    fit(estimator, X_train)
    fitted = time.perf_counter()
    scores = score(estimator, X_test)
    done = time.perf_counter()
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    return scores, fitted - start, done - fitted


def run_vae(params: dict, seed: int, X_train, X_test):
    """Fit ``vae_anomaly.VAEDetector`` and score the test rows.

    Parameters
    ----------
    params : dict
        Keyword arguments of ``VAEDetector`` (``--vae-params``).
    seed : int
        Passed as ``random_state``.
    X_train, X_test : ndarray, float64
        Raw features.

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)`` as in :func:`_timed_fit_score`; the
        anomaly score is ``-score_samples``.
    """
    return _run_vae_scored(params, seed, X_train, X_test, lambda e, X: -np.asarray(e.score_samples(X)))


def _run_vae_scored(params: dict, seed: int, X_train, X_test, score):
    """Fit ``VAEDetector(random_state=seed, **params)`` and score the test rows with ``score(est, X)``."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from vae_anomaly import VAEDetector  # lazy: the package may be absent

    try:  # import torch outside the timed fit, as for the PyOD methods
        import torch  # noqa: F401
    except ImportError:
        pass
    est = VAEDetector(random_state=seed, **params)
    return _timed_fit_score(est, lambda e, X: e.fit(X), score, X_train, X_test)


def asinh_log_jacobian(preprocessor, X: np.ndarray) -> np.ndarray:
    """Per-row term that turns a score on asinh-scaled values into raw units.

    With ``scaler="robust"``, a heavy-tailed column is modelled as
    ``z = asinh(u)``, ``u = (x - centre) / spread``. By the change of
    variables for densities, ``p(x) = p(z) |dz/dx|``, so minus the log
    density of the raw value adds ``0.5 * log(1 + u**2) + log(spread)`` per
    such column; the ``log(spread)`` part is the same for every row and is
    left out (it changes no ranking).

    Parameters
    ----------
    preprocessor : vae_anomaly.features.encoder.TabularPreprocessor
        Fitted preprocessor of a ``VAEDetector`` fitted on an array
        (numeric columns only, in the array's order).
    X : ndarray of shape (n_samples, n_features)
        Raw rows.

    Returns
    -------
    ndarray of shape (n_samples,)
        ``sum over heavy-tailed columns of 0.5 * log(1 + u**2)``, in nats
        (``log(hypot(1, u))``, which cannot overflow); 0 when no column is
        heavy-tailed or the scaler is not ``robust``.

    Raises
    ------
    ValueError
        If the preprocessor does not describe one numeric column per
        column of ``X``.
    """
    if len(preprocessor.num_names_) != X.shape[1]:
        raise ValueError(f"preprocessor has {len(preprocessor.num_names_)} "
                         f"numeric columns, X has {X.shape[1]}")
    heavy = np.asarray(preprocessor.heavy_, dtype=bool)
    if preprocessor.scaler != "robust" or not heavy.any():
        return np.zeros(len(X))
    u = ((X[:, heavy] - preprocessor.center_[heavy])
         / preprocessor.scale_[heavy])
    return np.log(np.hypot(1.0, u)).sum(axis=1)


def run_vae_jacobian(params: dict, seed: int, X_train, X_test):
    """``VAEDetector`` scored in raw units: its score plus the asinh term.

    A lead of issue 15 measured on the benchmark's side: the model is
    fitted exactly as :func:`run_vae` fits it, and the anomaly score is
    ``-score_samples(X) + asinh_log_jacobian(X)``.

    Parameters
    ----------
    params : dict
        Keyword arguments of ``VAEDetector``.
    seed : int
        Passed as ``random_state``.
    X_train, X_test : ndarray, float64
        Raw features.

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)`` as in :func:`_timed_fit_score`.
    """
    def score(est, X):
        return (-np.asarray(est.score_samples(X))
                + asinh_log_jacobian(est.preprocessor_, X))

    return _run_vae_scored(params, seed, X_train, X_test, score)


def run_iforest(params: dict, seed: int, X_train, X_test):
    """Fit scikit-learn's ``IsolationForest`` and score the test rows.

    Parameters
    ----------
    params : dict
        Extra keyword arguments (empty for the default baseline).
    seed : int
        Passed as ``random_state``.
    X_train, X_test : ndarray, float64
        Raw features (not scaled).

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)``; the anomaly score is
        ``-score_samples``.
    """
    from sklearn.ensemble import IsolationForest

    est = IsolationForest(random_state=seed, **params)
    return _timed_fit_score(est, lambda e, X: e.fit(X),
                            lambda e, X: -e.score_samples(X),
                            X_train, X_test)


def run_pyod(model_class, params: dict, seed: int, X_train, X_test):
    """Fit a PyOD deep detector and score the test rows.

    Parameters
    ----------
    model_class : type
        PyOD detector class (``VAE`` or ``AutoEncoder``).
    params : dict
        Extra keyword arguments (``{"verbose": 0}`` for the baselines).
    seed : int
        Passed as ``random_state``; PyOD seeds Python, NumPy and torch from
        it in the constructor.
    X_train, X_test : ndarray, float64
        Raw features (PyOD standardises them itself by default).

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)``; the anomaly score is
        ``decision_function`` (higher = more anomalous in PyOD).
    """
    _warm_up_pyod()
    est = model_class(random_state=seed, **params)
    return _timed_fit_score(est, lambda e, X: e.fit(X),
                            lambda e, X: e.decision_function(X),
                            X_train, X_test)


_PYOD_WARM = False


def _warm_up_pyod() -> None:
    """Trigger the one-off numba compilation PyOD's scoring needs.

    PyOD computes reconstruction distances with a numba-jitted function
    that is compiled on its first call (about 2 s). Compiling it once
    before any timed fit keeps that cost out of the first dataset's fit
    time.
    """
    global _PYOD_WARM
    if not _PYOD_WARM:
        from pyod.utils.stat_models import pairwise_distances_no_broadcast

        pairwise_distances_no_broadcast(np.zeros((2, 2)), np.ones((2, 2)))
        _PYOD_WARM = True


def run_pyod_vae(params: dict, seed: int, X_train, X_test):
    """Run PyOD's ``VAE``; see :func:`run_pyod`."""
    from pyod.models.vae import VAE

    return run_pyod(VAE, params, seed, X_train, X_test)


def run_pyod_ae(params: dict, seed: int, X_train, X_test):
    """Run PyOD's ``AutoEncoder``; see :func:`run_pyod`."""
    from pyod.models.auto_encoder import AutoEncoder

    return run_pyod(AutoEncoder, params, seed, X_train, X_test)


def run_pyod_classical(kind: str, params: dict, seed: int, X_train, X_test):
    """Fit one of PyOD's classical detectors and score the test rows.

    Parameters
    ----------
    kind : str
        Key of :data:`PYOD_CLASSICAL` (``knn``: k nearest neighbours, the
        distance to the 5th as score, Ramaswamy et al., SIGMOD 2000;
        ``mcd``: Mahalanobis distance under the minimum covariance
        determinant, Rousseeuw and Van Driessen, 1999; ``copod``: copula
        tails, Li et al., ICDM 2020; ``ecod``: empirical marginal tails, Li
        et al., TKDE 2022; ``hbos``: per-feature histograms, Goldstein and
        Dengel, 2012).
    params : dict
        Extra keyword arguments (empty: PyOD's defaults).
    seed : int
        Passed as ``random_state`` to the detectors that take one (MCD);
        the others are deterministic.
    X_train, X_test : ndarray, float64
        Raw features (not scaled).

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)``; the anomaly score is
        ``decision_function`` (higher = more anomalous in PyOD).
    """
    import importlib
    import inspect

    module, name = PYOD_CLASSICAL[kind]
    model_class = getattr(importlib.import_module(module), name)
    extra = dict(params)
    if "random_state" in inspect.signature(model_class).parameters:
        extra["random_state"] = seed
    est = model_class(**extra)
    return _timed_fit_score(est, lambda e, X: e.fit(X),
                            lambda e, X: e.decision_function(X),
                            X_train, X_test)


def _classical_runner(kind: str) -> Callable:
    """Return the runner of one PyOD classical detector."""
    def runner(params: dict, seed: int, X_train, X_test):
        return run_pyod_classical(kind, params, seed, X_train, X_test)
    return runner


RUNNERS = {"vae": run_vae, "vae_jacobian": run_vae_jacobian,
           "iforest": run_iforest,
           "pyod_vae": run_pyod_vae, "pyod_ae": run_pyod_ae,
           **{kind: _classical_runner(kind) for kind in PYOD_CLASSICAL}}
DEFAULT_PARAMS = {"iforest": {}, "pyod_vae": {"verbose": 0},
                  "pyod_ae": {"verbose": 0},
                  **{kind: {} for kind in PYOD_CLASSICAL}}


def run_vae_labels(params: dict, seed: int, X_train, y_train, X_test):
    """Fit ``VAEDetector`` with the training labels and score the test rows.

    Parameters
    ----------
    params : dict
        Keyword arguments of ``VAEDetector``.
    seed : int
        Passed as ``random_state``.
    X_train : ndarray, float64
        Raw training features.
    y_train : ndarray of int
        1 for a labelled anomaly, 0 for every other training row.
    X_test : ndarray, float64
        Raw test features.

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)`` as in :func:`_timed_fit_score`; the
        anomaly score is ``-score_samples``.
    """
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import torch  # noqa: F401  (imported outside the timed fit)

    from vae_anomaly import VAEDetector

    est = VAEDetector(random_state=seed, **params)
    return _timed_fit_score(est, lambda e, X: e.fit(X, y_train),
                            lambda e, X: -np.asarray(e.score_samples(X)),
                            X_train, X_test)


def run_vae_term(params: dict, seed: int, X_train, y_train, X_test):
    """As :func:`run_vae_labels` with ``label_weight=1``: the labels also train the network.

    Besides Label-Trim, each training step pushes the labelled anomalies'
    negative ELBO above the minibatch's (:mod:`vae_anomaly.model.labelled`).
    Records of ``vae_labels`` made while ``label_weight=1`` was briefly the
    default (2026-12-07) are this method's.
    """
    return run_vae_labels({**params, "label_weight": 1.0}, seed, X_train, y_train, X_test)


def _minmax(X_train: np.ndarray, X_test: np.ndarray):
    """Scale both parts to the training part's [0, 1] range (constant columns to 0)."""
    low = X_train.min(axis=0)
    span = X_train.max(axis=0) - low
    span[span == 0] = 1.0
    return (X_train - low) / span, (X_test - low) / span


@contextlib.contextmanager
def _quiet_pyod():
    """Silence three warnings PyOD 3.6.7 gives on every labelled fit.

    XGBOD fits its unsupervised detectors with ``y`` ("y should not be
    presented in unsupervised learning") and passes ``silent`` to xgboost,
    which no longer reads it; DevNet copies a tensor with
    ``torch.tensor``. None of them changes a result.
    """
    with warnings.catch_warnings():
        for message in ("y should not be presented", "To copy construct",
                        r"(?s).*Parameters: \{ \"silent\" \} are not used"):
            warnings.filterwarnings("ignore", message=message)
        yield


def run_devnet(params: dict, seed: int, X_train, y_train, X_test,
               minmax: bool = False):
    """Fit PyOD's ``DevNet`` on the training labels and score the test rows.

    Parameters
    ----------
    params : dict
        Extra keyword arguments (empty: PyOD's defaults).
    seed : int
        Seeds NumPy's and torch's global generators just before the fit
        (PyOD 3.6.7's DevNet ignores ``random_seed``; the weights, the batch
        order and the deviation loss's Gaussian reference all come from
        torch's global generator) and is passed as ``random_seed``.
    X_train : ndarray, float64
        Training features.
    y_train : ndarray of int
        1 for a labelled anomaly, 0 for every other training row.
    X_test : ndarray, float64
        Test features.
    minmax : bool, default=False
        Scale both parts with the training part's min-max range first.

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)``; the anomaly score is
        ``decision_function`` (higher = more anomalous). DevNet's stdout
        (a line per epoch) is discarded.
    """
    import io

    import torch
    from pyod.models.devnet import DevNet

    if minmax:
        X_train, X_test = _minmax(X_train, X_test)
    np.random.seed(seed)
    torch.manual_seed(seed)
    est = DevNet(random_seed=seed, device="cpu", **params)
    with contextlib.redirect_stdout(io.StringIO()), _quiet_pyod():
        return _timed_fit_score(est, lambda e, X: e.fit(X, y_train),
                                lambda e, X: e.decision_function(X),
                                X_train, X_test)


def run_devnet_minmax(params: dict, seed: int, X_train, y_train, X_test):
    """Run PyOD's ``DevNet`` on min-max scaled features; see :func:`run_devnet`."""
    return run_devnet(params, seed, X_train, y_train, X_test, minmax=True)


class _FixedDevNet:
    """PyOD 3.6.7's DevNet with the paper's training step (``devnet_fixed``).

    PyOD's network (``network_depth=2``: 1000 ReLU units, one linear score),
    optimiser (RMSprop, lr 1e-3, weight decay 1e-6), deviation loss
    (``pyod.models.devnet.deviation_loss``: margin 5, Gaussian reference
    of 5,000 draws) and budget (50 epochs of 20 batches of 512), with two
    changes that make it the method of Pang, Shen and van den Hengel (KDD
    2019): the loss gets the labels as targets and one score per row
    (PyOD passes ``(scores, labels)`` into ``(y_true, y_pred)``, and its
    ``(batch, 1)`` scores broadcast against the ``(batch,)`` labels, so the
    gradient is the same for every row whatever its label), and every
    batch is half labelled anomalies, half unlabelled rows, drawn with
    replacement (the paper's sampler; PyOD shuffles the rows, so a batch
    rarely holds a labelled one). Input is min-max scaled with the training
    part's range.
    """

    def __init__(self, seed: int, epochs: int = 50, nb_batch: int = 20,
                 batch_size: int = 512):
        self.seed, self.epochs = seed, epochs
        self.nb_batch, self.batch_size = nb_batch, batch_size

    def fit(self, X, y):
        import torch
        from pyod.models.devnet import deviation_loss, deviation_network

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.low_ = X.min(axis=0)
        span = X.max(axis=0) - self.low_
        self.span_ = np.where(span == 0, 1.0, span)
        data = torch.as_tensor((X - self.low_) / self.span_, dtype=torch.float32)
        outliers, inliers = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        if len(outliers) == 0:
            raise ValueError("devnet_fixed needs at least one labelled anomaly")
        self.model_, optimizer = deviation_network(X.shape[1], 2)
        half = self.batch_size // 2
        target = torch.tensor([0.0] * (self.batch_size - half) + [1.0] * half)
        self.model_.train()
        for _ in range(self.epochs * self.nb_batch):
            rows = np.concatenate([rng.choice(inliers, self.batch_size - half),
                                   rng.choice(outliers, half)])
            optimizer.zero_grad()
            loss = deviation_loss(target, self.model_(data[rows]).reshape(-1))
            loss.backward()
            optimizer.step()
        return self

    def decision_function(self, X):
        import torch

        self.model_.eval()
        with torch.no_grad():
            data = torch.as_tensor((X - self.low_) / self.span_, dtype=torch.float32)
            return self.model_(data).reshape(-1).numpy().astype(np.float64)


def run_devnet_fixed(params: dict, seed: int, X_train, y_train, X_test):
    """Fit :class:`_FixedDevNet` (PyOD's DevNet, its training step fixed) and score the test rows.

    Parameters
    ----------
    params : dict
        Keyword arguments of :class:`_FixedDevNet` besides the seed (empty:
        PyOD's budget).
    seed : int
        Seeds torch (weights, the loss's reference draws) and the batch
        sampler.
    X_train, X_test : ndarray, float64
        Raw features (scaled inside).
    y_train : ndarray of int
        1 for a labelled anomaly, 0 for every other training row.

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)``; the anomaly score is the network's
        deviation score.
    """
    est = _FixedDevNet(seed, **params)
    return _timed_fit_score(est, lambda e, X: e.fit(X, y_train),
                            lambda e, X: e.decision_function(X),
                            X_train, X_test)


class _Frozen:
    """A detector whose scores were computed before (:func:`_xgbod_detectors`)."""

    def __init__(self, train: np.ndarray, test: np.ndarray):
        self.train, self.test = train, test

    def fit(self, X, y=None):
        self.decision_scores_ = self.train
        return self

    def decision_function(self, X):
        if len(X) != len(self.test):
            raise ValueError("a frozen detector scores only the test part it was made for")
        return self.test


#: (training and test data, seed, parameters) -> XGBOD's detector scores and
#: their seconds; one entry (the last set and seed), so that every k reuses it.
_XGBOD_MEMO: dict[tuple, tuple] = {}


def _xgbod_detectors(params: dict, seed: int, X_train, X_test):
    """Fit XGBOD's 41 unsupervised detectors once per set and seed.

    XGBOD's detectors (kNN and LOF with 8 neighbourhood sizes, HBOS with 7
    bin counts, OCSVM with 11 values of nu, isolation forests of 7 sizes
    seeded with ``seed``) never see the labels, so their scores are the
    same for every k; they are computed here exactly as
    ``XGBOD.fit`` / ``decision_function`` compute them (standardised input
    where PyOD's flags say so) and kept for the next k of the same set and
    seed.

    Returns
    -------
    train, test : list of ndarray
        Each detector's training ``decision_scores_`` and test
        ``decision_function``.
    fit_s, score_s : float
        Seconds spent fitting them and scoring the test part.
    """
    from pyod.models.xgbod import XGBOD
    from pyod.utils.utility import standardizer

    key = (hashlib.sha256(X_train.tobytes()).hexdigest(), X_train.shape,
           hashlib.sha256(X_test.tobytes()).hexdigest(), X_test.shape, seed,
           params_key(params))
    if key not in _XGBOD_MEMO:
        start = time.perf_counter()
        est = XGBOD(random_state=seed, **params)
        estimators, flags = est._init_detectors(X_train)
        X_norm, scaler = standardizer(X_train, keep_scalar=True)
        train = []
        for estimator, flag in zip(estimators, flags, strict=True):
            estimator.fit(X_norm if flag else X_train)
            train.append(np.asarray(estimator.decision_scores_, dtype=np.float64))
        fitted = time.perf_counter()
        X_test_norm = scaler.transform(X_test)
        test = [np.asarray(e.decision_function(X_test_norm if f else X_test), dtype=np.float64)
                for e, f in zip(estimators, flags, strict=True)]
        _XGBOD_MEMO.clear()
        _XGBOD_MEMO[key] = (train, test, fitted - start, time.perf_counter() - fitted)
    return _XGBOD_MEMO[key]


def run_xgbod(params: dict, seed: int, X_train, y_train, X_test):
    """Fit PyOD's ``XGBOD`` on the training labels and score the test rows.

    The unsupervised detectors are fitted once per set and seed
    (:func:`_xgbod_detectors`) and handed to ``XGBOD`` as already-scored
    detectors, which then builds its features and fits its booster as
    usual; the recorded seconds add the detectors' share to the booster's,
    so they are what one plain ``XGBOD(random_state=seed).fit`` /
    ``decision_function`` costs.

    Parameters
    ----------
    params : dict
        Extra keyword arguments (empty: PyOD's defaults).
    seed : int
        Passed as ``random_state`` (its isolation forests and the booster).
    X_train, X_test : ndarray, float64
        Raw features (XGBOD standardises them for the detectors that need
        it).
    y_train : ndarray of int
        1 for a labelled anomaly, 0 for every other training row.

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)``; the anomaly score is
        ``decision_function`` (the booster's probability of an anomaly).
    """
    from pyod.models.xgbod import XGBOD

    _warm_up_pyod()
    with _quiet_pyod():
        train, test, det_fit_s, det_score_s = _xgbod_detectors(params, seed, X_train, X_test)
        frozen = [_Frozen(a, b) for a, b in zip(train, test, strict=True)]
        est = XGBOD(random_state=seed, estimator_list=frozen,
                    standardization_flag_list=[False] * len(frozen), **params)
        scores, fit_s, score_s = _timed_fit_score(est, lambda e, X: e.fit(X, y_train),
                                                  lambda e, X: e.decision_function(X),
                                                  X_train, X_test)
    return scores, fit_s + det_fit_s, score_s + det_score_s


def run_hgb(params: dict, seed: int, X_train, y_train, X_test):
    """Fit ``HistGradientBoostingClassifier`` on the training labels.

    Parameters
    ----------
    params : dict
        Extra keyword arguments (empty: scikit-learn's defaults).
    seed : int
        Passed as ``random_state``.
    X_train, X_test : ndarray, float64
        Raw features.
    y_train : ndarray of int
        1 for a labelled anomaly, 0 for every other training row.

    Returns
    -------
    tuple
        ``(scores, fit_s, score_s)``; the anomaly score is
        ``predict_proba(X)[:, 1]``.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    est = HistGradientBoostingClassifier(random_state=seed, **params)
    return _timed_fit_score(est, lambda e, X: e.fit(X, y_train),
                            lambda e, X: e.predict_proba(X)[:, 1],
                            X_train, X_test)


#: Runners of the methods given the few labels:
#: ``runner(params, seed, X_train, y_train, X_test)``.
LABEL_RUNNERS = {"vae_labels": run_vae_labels, "vae_term": run_vae_term,
                 "devnet": run_devnet,
                 "devnet_minmax": run_devnet_minmax,
                 "devnet_fixed": run_devnet_fixed, "xgbod": run_xgbod,
                 "hgb": run_hgb}


def build_label_methods(names: list[str]) -> list[Method]:
    """Turn the ``--label-methods`` list into :class:`Method` objects.

    Parameters
    ----------
    names : list of str
        Entries of :data:`LABEL_METHODS`.

    Returns
    -------
    list of Method
        With empty parameters (the defaults; ``vae_labels`` uses
        ``VAEDetector``'s defaults).

    Raises
    ------
    SystemExit
        If a name is unknown or repeated.
    """
    unknown = [n for n in names if n not in LABEL_RUNNERS]
    if unknown:
        raise SystemExit(f"unknown label method(s) {unknown}; choose from "
                         f"{', '.join(LABEL_METHODS)}")
    if len(set(names)) != len(names):
        raise SystemExit(f"duplicate label methods: {names}")
    return [Method(n, n, {}) for n in names]


def build_methods(kinds: list[str], vae_name: str,
                  vae_params: dict) -> list[Method]:
    """Turn the ``--methods`` list into :class:`Method` objects.

    Parameters
    ----------
    kinds : list of str
        Entries of :data:`ALL_METHODS`.
    vae_name : str
        Name recorded for the ``vae`` entry.
    vae_params : dict
        Keyword arguments of ``VAEDetector``.

    Returns
    -------
    list of Method
    """
    methods = []
    for kind in kinds:
        if kind not in RUNNERS:
            raise SystemExit(f"unknown method {kind!r}; choose from "
                             f"{', '.join(ALL_METHODS)}, vae_jacobian")
        if kind == "vae":
            methods.append(Method(vae_name, kind, dict(vae_params)))
        elif kind == "vae_jacobian":
            methods.append(Method(kind, kind, dict(vae_params)))
        else:
            methods.append(Method(kind, kind, dict(DEFAULT_PARAMS[kind])))
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise SystemExit(f"duplicate method names: {names}")
    return methods


# --------------------------------------------------------------------------
# Result cache
# --------------------------------------------------------------------------


def cache_key(method: str, params: str, dataset: str, seed: int,
              n_rows: int, labels_k: int | None = None,
              protocol: str | None = None) -> tuple:
    """Key identifying one cached run.

    Parameters
    ----------
    method : str
        Method name.
    params : str
        Canonical parameter JSON (:func:`params_key`).
    dataset : str
        Dataset file stem.
    seed : int
        Seed of subsample, split and method.
    n_rows : int
        Rows used after subsampling (so runs with another ``--max-rows``
        are not mixed up, while small sets are shared between them).
    labels_k : int or None, default=None
        Training labels asked for (``--labels``); None for a method fitted
        without labels (and for every record written before labels).
    protocol : str or None, default=None
        :data:`CLEAN` for the clean-reference split, None for the 70/30
        split (and for every record written before ``--clean``).

    Returns
    -------
    tuple
    """
    return (method, params, dataset, int(seed), int(n_rows),
            None if labels_k is None else int(labels_k), protocol)


def record_key(record: dict) -> tuple:
    """Return the :func:`cache_key` of a cached record."""
    return cache_key(record["method"], params_key(record["params"]),
                     record["dataset"], record["seed"], record["n_rows_used"],
                     record.get("labels_k"), record.get("protocol"))


def read_cache(path: Path) -> list[dict]:
    """Read all records of the JSON-lines cache.

    Parameters
    ----------
    path : Path
        ``runs.jsonl``; a missing file gives an empty list.

    Returns
    -------
    list of dict
        Records in file order; unreadable lines are skipped with a warning.
    """
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                record_key(record)
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                log(f"warning: {path.name}:{number} skipped ({err})")
                continue
            records.append(record)
    return records


def append_record(path: Path, record: dict) -> None:
    """Append one record to the cache as a single locked write.

    Parameters
    ----------
    path : Path
        ``runs.jsonl``.
    record : dict
        JSON-serialisable run record.
    """
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


def evaluate(scores: np.ndarray, y_test: np.ndarray) -> tuple[float, float]:
    """Compute AUC-ROC and AUC-PR of anomaly scores.

    Parameters
    ----------
    scores : ndarray of shape (n_test,)
        Anomaly scores, higher = more anomalous.
    y_test : ndarray of shape (n_test,)
        True labels, 1 = anomaly.

    Returns
    -------
    auc_roc, auc_pr : float

    Raises
    ------
    ValueError
        If a score is NaN or infinite.
    """
    if not np.all(np.isfinite(scores)):
        bad = int(np.sum(~np.isfinite(scores)))
        raise ValueError(f"{bad} of {len(scores)} anomaly scores are not "
                         "finite")
    return (float(roc_auc_score(y_test, scores)),
            float(average_precision_score(y_test, scores)))


def reuse_records(path: Path, tasks: list[Task], seeds: list[int],
                  methods: list[Method], done: set) -> list[dict]:
    """Records of another cache that stand in for runs of this one.

    Parameters
    ----------
    path : Path
        Another ``runs.jsonl`` (``--reuse-cache``).
    tasks, seeds : list
        Selected sets and seeds.
    methods : list of Method
        Unlabelled methods of this run; only the peers
        (:data:`REPORT_BASELINES`) are taken, never our own methods, whose
        code may have changed since.
    done : set
        Keys already in this run's cache.

    Returns
    -------
    list of dict
        The newest record per key that matches a method's name and
        parameters, a selected set and seed and the set's row count, not in
        ``done``; each gets ``copied_from`` (the path).
    """
    wanted = {cache_key(m.name, params_key(m.params), t.name, s, t.n_used)
              for m in methods if m.name in REPORT_BASELINES
              for t in tasks for s in seeds}
    newest: dict[tuple, dict] = {}
    for r in read_cache(path):
        key = record_key(r)
        if key in wanted and key not in done and (
                key not in newest or r["timestamp"] >= newest[key]["timestamp"]):
            newest[key] = r
    return [{**r, "copied_from": str(path)} for r in newest.values()]


def run_benchmark(tasks: list[Task], seeds: list[int],
                  methods: list[Method], max_rows: int, out_dir: Path,
                  use_cache: bool, versions: dict,
                  label_methods: list[Method] | None = None,
                  labels: list[int] | None = None,
                  reuse: Path | None = None, clean: bool = False) -> list[str]:
    """Run every (set, seed, method) not yet cached.

    Parameters
    ----------
    tasks : list of Task
        Real and synthetic sets.
    seeds : list of int
        Seeds of subsample, split and methods.
    methods : list of Method
        Methods to run; all see the same split of a (dataset, seed).
    max_rows : int
        Subsampling limit.
    out_dir : Path
        Folder of ``runs.jsonl``.
    use_cache : bool
        Skip runs already in the cache when True.
    versions : dict
        Library versions stored with every record.
    label_methods : list of Method, optional
        Methods given the training labels (:data:`LABEL_RUNNERS`), run once
        per entry of ``labels``.
    labels : list of int, optional
        Numbers of labelled training anomalies (``--labels``).
    reuse : Path, optional
        Another cache whose peer records are copied in instead of
        recomputed (:func:`reuse_records`).
    clean : bool, default=False
        Also run ``methods`` on the clean-reference split
        (:func:`make_clean_split`, recorded as ``protocol``).

    Returns
    -------
    list of str
        One line per failed run (empty when all succeeded).
    """
    label_methods = list(label_methods or []) if labels else []
    labels = list(labels or [])
    cache_path = out_dir / RESULTS_FILE
    cached = read_cache(cache_path) if use_cache else []
    done = {record_key(r) for r in cached}
    if reuse is not None:
        copied = reuse_records(reuse, tasks, seeds, methods, done)
        for record in copied:
            append_record(cache_path, record)
            done.add(record_key(record))
        log(f"{len(copied)} peer run(s) copied from {reuse}")
    ours = ("vae", "vae_jacobian", "vae_labels")
    code_hash = source_fingerprint() if any(
        m.kind in ours for m in methods + label_methods) else None
    names = {m.name for m in methods + label_methods if m.kind in ours}
    stale = sum(1 for r in cached if r["method"] in names
                and r.get("vae_anomaly_source") != code_hash)
    if stale:
        log(f"warning: {stale} cached run(s) of {', '.join(sorted(names))} "
            "were made with other vae_anomaly source code; they are reused "
            "as they are (use --no-cache or a new --vae-name to redo them)")

    plan = []
    # one real file at a time, so the mixture of its normal rows is fitted
    # once per seed for the three mixture kinds
    order = sorted(range(len(tasks)),
                   key=lambda i: (dataset_sort_key(tasks[i].path.stem), i))
    for task in (tasks[i] for i in order):
        for seed in seeds:
            runs = ([(m, None, None) for m in methods]
                    + [(m, None, CLEAN) for m in methods if clean]
                    + [(m, k, None) for k in labels for m in label_methods])
            todo = [(m, k, p) for m, k, p in runs
                    if cache_key(m.name, params_key(m.params), task.name,
                                 seed, task.n_used, k, p) not in done]
            if todo:
                plan.append((task, seed, todo))
    total = sum(len(todo) for _, _, todo in plan)
    skipped = (len(tasks) * len(seeds) * ((1 + clean) * len(methods)
                                          + len(labels) * len(label_methods))
               - total)
    log(f"{total} runs to do, {skipped} found in the cache "
        f"({cache_path})")

    failures: list[str] = []
    unavailable: dict[str, str] = {}  # method name -> import error
    loaded: tuple[Path, np.ndarray, np.ndarray] | None = None
    normal_models: dict[int, object] = {}  # seed -> synthetic.NormalModel
    count = 0
    started = time.perf_counter()
    for task, seed, todo in plan:
        path = task.path
        if loaded is None or loaded[0] != path:
            loaded = (path, *load_dataset(path))
            normal_models = {}
        _, X, y = loaded
        if task.kind is not None:
            synthetic = _synthetic()
            if seed not in normal_models:
                normal_models[seed] = synthetic.NormalModel(path.stem, X, y,
                                                            seed)
            gen_start = time.perf_counter()
            try:
                X, y = normal_models[seed].make(task.kind)
            except Exception as err:  # keep going with the other sets
                failures.append(f"{task.name} seed={seed}: generation "
                                f"failed: {type(err).__name__}: {err}")
                log(f"{task.name} seed={seed} generation FAILED: {err}")
                continue
            log(f"{task.name} seed={seed}: made {len(y)} rows "
                f"({int(y.sum())} anomalies) in "
                f"{time.perf_counter() - gen_start:.1f}s")
        splits = {p: SPLITS[p](X, y, seed, max_rows)
                  for p in dict.fromkeys(p for _, _, p in todo)}
        for method, k, protocol in todo:
            X_train, X_test, y_train, y_test = splits[protocol]
            n_const = int(np.sum(np.ptp(X_train, axis=0) == 0))
            count += 1
            prefix = (f"[{count}/{total}] {task.name} seed={seed} "
                      f"{method.name}" + ("" if k is None else f" k={k}")
                      + ("" if protocol is None else f" {protocol}"))
            y_known = (None if k is None
                       else choose_labels(y_train, k, seed, task.name))
            if method.name in unavailable:
                failures.append(f"{prefix}: skipped "
                                f"({unavailable[method.name]})")
                continue
            if method.kind == "mcd" and X_train.shape[1] > MCD_MAX_FEATURES:
                log(f"{prefix}: not run ({X_train.shape[1]} features > "
                    f"MCD_MAX_FEATURES = {MCD_MAX_FEATURES})")
                continue
            load_before = os.getloadavg()[0]
            try:
                if k is None:
                    scores, fit_s, score_s = RUNNERS[method.kind](
                        method.params, seed, X_train.copy(), X_test.copy())
                else:
                    scores, fit_s, score_s = LABEL_RUNNERS[method.kind](
                        method.params, seed, X_train.copy(), y_known.copy(),
                        X_test.copy())
                if scores.shape != (len(y_test),):
                    raise ValueError(f"expected {len(y_test)} scores, got "
                                     f"shape {scores.shape}")
                auc_roc, auc_pr = evaluate(scores, y_test)
            except ImportError as err:  # the method cannot run at all
                unavailable[method.name] = f"{type(err).__name__}: {err}"
                failures.append(f"{prefix}: {unavailable[method.name]}")
                log(f"{prefix} FAILED: {unavailable[method.name]}; skipping "
                    f"the remaining {method.name} runs")
                continue
            except Exception as err:  # keep going with the other runs
                failures.append(f"{prefix}: {type(err).__name__}: {err}")
                log(f"{prefix} FAILED: {type(err).__name__}: {err}")
                log(traceback.format_exc().rstrip())
                continue
            record = {
                "method": method.name,
                "kind": method.kind,
                "params": method.params,
                "dataset": task.name,
                "seed": seed,
                "auc_roc": auc_roc,
                "auc_pr": auc_pr,
                "fit_s": fit_s,
                "score_s": score_s,
                "n_train": int(len(y_train)),
                "n_test": int(len(y_test)),
                "n_features": int(X_train.shape[1]),
                "n_rows_total": int(len(y)),
                "n_rows_used": int(len(y_train) + len(y_test)),
                "max_rows": int(max_rows),
                "n_anomalies_train": int(y_train.sum()),
                "n_anomalies_test": int(y_test.sum()),
                "n_constant_train_features": n_const,
                "synthetic_kind": task.kind,
                "protocol": protocol,
                "labels_k": k,
                "n_labels": None if k is None else int(y_known.sum()),
                "labelled_rows": (None if k is None
                                  else np.flatnonzero(y_known).tolist()),
                "load_1min_before": round(load_before, 2),
                "load_1min_after": round(os.getloadavg()[0], 2),
                "torch_threads": _torch_threads(),
                "vae_anomaly_source": (code_hash if method.kind in ours
                                       else None),
                "timestamp": _dt.datetime.now(_dt.timezone.utc)
                .isoformat(timespec="seconds"),
                "versions": versions,
            }
            append_record(cache_path, record)
            elapsed = time.perf_counter() - started
            log(f"{prefix} auc_roc={auc_roc:.4f} auc_pr={auc_pr:.4f} "
                f"fit={fit_s:.2f}s score={score_s:.2f}s "
                f"n_train={len(y_train)} elapsed={elapsed:.0f}s")
    return failures


def _torch_threads() -> int | None:
    """Return torch's intra-op thread count if torch is already imported."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


# --------------------------------------------------------------------------
# Published reference figures
# --------------------------------------------------------------------------


def load_references(folder: Path | None) -> dict[str, dict[str, pd.Series]]:
    """Load published figures to show beside the results.

    Parameters
    ----------
    folder : Path or None
        ``published_results`` folder; None or a missing folder gives no
        references.

    Returns
    -------
    dict
        ``{metric: {column label: Series indexed by dataset stem}}`` with
        values on the 0-1 scale. ``auc_roc`` gets ``paper IForest``
        (ADBench Table D4) and ``PyOD-table VAE`` / ``PyOD-table
        AutoEncoder`` (PyOD's deep-model ROC table, 7 ODDS sets);
        ``auc_pr`` gets ``paper IForest`` (Table D5).
    """
    refs: dict[str, dict[str, pd.Series]] = {"auc_roc": {}, "auc_pr": {}}
    if folder is None or not folder.is_dir():
        return refs
    for metric, name in (("auc_roc", "adbench_paper_D4_aucroc_unsup.csv"),
                         ("auc_pr", "adbench_paper_D5_aucpr_unsup.csv")):
        path = folder / name
        if path.exists():
            table = pd.read_csv(path).set_index("file_stem")
            refs[metric]["paper IForest"] = table["IForest"] / 100.0
    path = folder / "pyod_odds17_roc_deep.csv"
    if path.exists():
        table = pd.read_csv(path).set_index("adbench_stem")
        for column in ("VAE", "AutoEncoder"):
            refs["auc_roc"][f"PyOD-table {column}"] = table[column]
    return refs


# --------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------


def select_records(records: list[dict], method_params: dict[str, str | None],
                   tasks: list[Task], seeds: list[int],
                   labels_k: int | None = None,
                   protocol: str | None = None) -> pd.DataFrame:
    """Pick the cached runs that go into the reports.

    Parameters
    ----------
    records : list of dict
        All cache records.
    method_params : dict
        Method name -> canonical parameter JSON to report, or None for "the
        parameters of the newest record of that name".
    tasks : list of Task
        Selected sets; only runs with the row count of the set's
        :attr:`Task.n_used` are used.
    seeds : list of int
        Selected seeds.
    labels_k : int or None, default=None
        Only runs given this many training labels (``--labels``); None
        keeps the runs fitted without labels.
    protocol : str or None, default=None
        Only runs of this split: None for the 70/30 split, :data:`CLEAN`
        for the clean-reference split.

    Returns
    -------
    DataFrame
        One row per (method, dataset, seed), newest record per key, with
        the set's ``group`` (``real`` or the synthetic kind) and
        ``n_labels`` (labels given; 0 without labels) and the anomalies in
        the training and test parts.
    """
    stems = {t.name for t in tasks}
    wanted_rows = {t.name: t.n_used for t in tasks}
    groups = {t.name: t.group for t in tasks}
    chosen = dict(method_params)
    records = [r for r in records if r.get("labels_k") == labels_k
               and r.get("protocol") == protocol]
    for name, key in chosen.items():
        if key is None:
            own = [r for r in records if r["method"] == name]
            if own:
                newest = max(own, key=lambda r: r["timestamp"])
                chosen[name] = params_key(newest["params"])
                if len({params_key(r["params"]) for r in own}) > 1:
                    log(f"note: {name} has several parameter sets in the "
                        f"cache; reporting the newest {chosen[name]}")
    latest: dict[tuple, dict] = {}
    for r in records:
        if (r["method"] in chosen and r["dataset"] in stems
                and r["seed"] in seeds
                and params_key(r["params"]) == chosen[r["method"]]
                and r["n_rows_used"] == wanted_rows[r["dataset"]]):
            key = record_key(r)
            if key not in latest or r["timestamp"] >= latest[key]["timestamp"]:
                latest[key] = r
    columns = ["method", "params", "dataset", "seed", "auc_roc", "auc_pr",
               "fit_s", "score_s", "n_train", "n_features", "n_test",
               "n_anomalies_train", "n_anomalies_test"]
    rows = [{**{c: r[c] for c in columns},
             "params": params_key(r["params"]),
             "group": groups[r["dataset"]],
             "n_labels": r.get("n_labels") or 0} for r in latest.values()]
    return pd.DataFrame(rows, columns=columns + ["group", "n_labels"])


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Aggregate runs over seeds.

    Parameters
    ----------
    runs : DataFrame
        Output of :func:`select_records`.

    Returns
    -------
    DataFrame
        One row per (dataset, method) with mean and sample standard
        deviation (ddof=1; empty for a single seed) of AUC-ROC and AUC-PR,
        mean fit and score seconds, the number of seeds, n_train and
        n_features.
    """
    grouped = runs.groupby(["dataset", "method"], sort=False)
    table = grouped.agg(
        group=("group", "first"),
        params=("params", "first"),
        n_seeds=("seed", "nunique"),
        auc_roc_mean=("auc_roc", "mean"),
        auc_roc_std=("auc_roc", "std"),
        auc_pr_mean=("auc_pr", "mean"),
        auc_pr_std=("auc_pr", "std"),
        fit_s_mean=("fit_s", "mean"),
        score_s_mean=("score_s", "mean"),
        n_train=("n_train", "mean"),
        n_features=("n_features", "first"),
    ).reset_index()
    return table


def order_methods(names: list[str]) -> list[str]:
    """Order report columns: our variants first, then the baselines.

    Parameters
    ----------
    names : list of str
        Method names present in the results.

    Returns
    -------
    list of str
    """
    ours = sorted(n for n in names if n not in REPORT_BASELINES)
    return ours + [n for n in REPORT_BASELINES if n in names]


def _fmt(value: float, decimals: int = 3) -> str:
    """Format a number for a Markdown cell ('' for NaN)."""
    return "" if pd.isna(value) else f"{value:.{decimals}f}"


def _md_row(cells: list[str]) -> str:
    """Join cells into one Markdown table row."""
    return "| " + " | ".join(cells) + " |"


def summary_rows(means: pd.DataFrame, times: pd.DataFrame,
                 refs: dict[str, pd.Series]) -> list[list[str]]:
    """Build the summary rows at the bottom of one metric table.

    Parameters
    ----------
    means : DataFrame
        Datasets x methods, per-dataset mean of the metric over seeds.
    times : DataFrame
        Datasets x methods x ('fit', 'score') mean seconds, as a DataFrame
        with a two-level column index.
    refs : dict
        Reference column label -> Series by dataset.

    Returns
    -------
    list of list of str
        Cells (label first) for: mean, mean rank, won/lost/tied against
        :data:`BASELINE`, total fit s, total score s and fit-time ratio to
        :data:`TIME_REFERENCE`. Mean, rank and times use the datasets every
        method has; reference means use the datasets they cover.
    """
    methods = list(means.columns)
    complete = means.dropna()
    n_complete = len(complete)
    ref_labels = list(refs)
    blank_refs = [""] * len(ref_labels)

    mean_cells = [_fmt(complete[m].mean()) for m in methods]
    for label in ref_labels:
        covered = refs[label].reindex(complete.index).dropna()
        text = _fmt(covered.mean()) if len(covered) else ""
        if len(covered) and len(covered) != n_complete:
            text += (f" ({len(covered)} set"
                     f"{'' if len(covered) == 1 else 's'})")
        mean_cells.append(text)
    plural = "" if n_complete == 1 else "s"
    rows = [[f"**mean** ({n_complete} set{plural})"] + mean_cells]

    ranks = complete.round(TIE_DECIMALS).rank(axis=1, ascending=False,
                                              method="average")
    rows.append(["**mean rank** (1 = best)"]
                + [_fmt(ranks[m].mean(), 2) for m in methods] + blank_refs)

    wlt = []
    for m in methods:
        if m == BASELINE or BASELINE not in methods:
            wlt.append("—")
            continue
        pair = means[[m, BASELINE]].dropna().round(TIE_DECIMALS)
        won = int((pair[m] > pair[BASELINE]).sum())
        lost = int((pair[m] < pair[BASELINE]).sum())
        tied = int((pair[m] == pair[BASELINE]).sum())
        wlt.append(f"{won} / {lost} / {tied}")
    rows.append([f"**won / lost / tied vs {BASELINE}**"] + wlt + blank_refs)

    fit_total = times["fit"].loc[complete.index].sum()
    score_total = times["score"].loc[complete.index].sum()
    rows.append(["**total fit s** (mean over seeds)"]
                + [_fmt(fit_total[m], 1) for m in methods] + blank_refs)
    rows.append(["**total score s** (mean over seeds)"]
                + [_fmt(score_total[m], 1) for m in methods] + blank_refs)
    if TIME_REFERENCE in methods and fit_total[TIME_REFERENCE] > 0:
        ratio = [_fmt(fit_total[m] / fit_total[TIME_REFERENCE], 3)
                 for m in methods]
    else:
        ratio = [""] * len(methods)
    rows.append([f"**fit time / {TIME_REFERENCE}**"] + ratio + blank_refs)
    return rows


#: Groups of sets in report order: the real sets, then each synthetic kind.
GROUP_ORDER = ("real", "local", "global", "dependency", "cluster")
#: Margins of issue 15's targets: mean AUC-ROC at least the best peer's plus
#: ROC_MARGIN; no set more than MAX_SHORTFALL below BASELINE; fit time at most
#: MAX_FIT_RATIO of TIME_REFERENCE's.
ROC_MARGIN = 0.02
MAX_SHORTFALL = 0.10
MAX_FIT_RATIO = 0.10


def group_views(table: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Name the slices of the results that the summaries cover.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`summarise` (with a ``group`` column).

    Returns
    -------
    list of (str, list of str)
        ``(label, datasets)`` for all real sets, real half A, real half B
        and each synthetic kind present, in that order; a half is left out
        when none of its sets is present.
    """
    views = []
    for group in GROUP_ORDER:
        names = sorted(table.loc[table["group"] == group, "dataset"].unique(),
                       key=dataset_sort_key)
        if not names:
            continue
        if group != "real":
            views.append((f"synthetic {group}", names))
            continue
        views.append((f"real ({len(names)} sets)", names))
        for label, half in (("A", HALF_A), ("B", HALF_B)):
            part = [n for n in names if n in half]
            if part:
                views.append((f"real half {label} ({len(part)} sets)", part))
    return views


def _wlt(ours: pd.Series, peer: pd.Series) -> tuple[int, int, int]:
    """Count sets won, lost and tied (at TIE_DECIMALS) by ``ours``."""
    pair = pd.concat([ours, peer], axis=1).dropna().round(TIE_DECIMALS)
    a, b = pair.iloc[:, 0], pair.iloc[:, 1]
    return int((a > b).sum()), int((a < b).sum()), int((a == b).sum())


def _shortfall(ours: pd.Series, peer: pd.Series) -> tuple[float, str]:
    """Largest amount by which ``ours`` trails ``peer`` on one set, and where."""
    diff = (ours - peer).dropna()
    if diff.empty:
        return np.nan, ""
    worst = diff.idxmin()
    return float(diff[worst]), str(worst).split(KIND_SEP)[0]


def view_summary(table: pd.DataFrame, names: list[str],
                 methods: list[str]) -> dict:
    """Aggregate one slice of the results.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`summarise`.
    names : list of str
        Datasets of the slice.
    methods : list of str
        Methods in report order.

    Returns
    -------
    dict
        ``methods`` (those with a result in the slice, in order), ``n``
        (sets in the slice), ``roc``, ``pr`` and ``fit`` (DataFrames, sets x
        methods, mean over seeds; NaN where a method was not run),
        ``rank`` (mean rank by AUC-ROC over the sets every method has) and
        ``complete`` (the number of those sets).
    """
    part = table[table["dataset"].isin(names)]

    def pivot(column):
        frame = part.pivot(index="dataset", columns="method", values=column)
        return frame.reindex(index=names,
                             columns=[m for m in methods
                                      if m in frame.columns])

    roc, pr, fit = (pivot("auc_roc_mean"), pivot("auc_pr_mean"),
                    pivot("fit_s_mean"))
    complete = roc.dropna()
    rank = complete.round(TIE_DECIMALS).rank(axis=1, ascending=False,
                                             method="average").mean()
    return {"methods": list(roc.columns), "n": len(names), "roc": roc,
            "pr": pr, "fit": fit, "rank": rank, "complete": len(complete)}


def _paired(summary: dict, metric: str, a: str, b: str) -> tuple:
    """Means of ``a`` and ``b`` over the sets both have, and their count."""
    if a == b:
        own = summary[metric][a].dropna()
        return own.mean(), own.mean(), len(own)
    pair = summary[metric][[a, b]].dropna()
    return pair[a].mean(), pair[b].mean(), len(pair)


def _fit_ratio(summary: dict, m: str) -> float:
    """Total fit time of ``m`` over that of TIME_REFERENCE on shared sets."""
    if TIME_REFERENCE not in summary["methods"]:
        return np.nan
    ours, ref, n = _paired(summary, "fit", m, TIME_REFERENCE)
    return ours / ref if n and ref > 0 else np.nan


def view_table(label: str, summary: dict) -> list[str]:
    """Markdown lines of one slice's summary table.

    Parameters
    ----------
    label : str
        Slice name (heading).
    summary : dict
        Output of :func:`view_summary`.

    Returns
    -------
    list of str
        A heading and a table: one row per method with the sets it has,
        mean AUC-ROC and AUC-PR over them, mean rank, total fit seconds and
        the fit-time ratio to :data:`TIME_REFERENCE` (on shared sets); for
        every one of our methods, its won/lost/tied against that row's
        method on AUC-ROC and AUC-PR and its largest AUC-ROC shortfall
        against it (with the set).
    """
    methods = summary["methods"]
    ours = [m for m in methods if m not in REPORT_BASELINES]
    header = ["method", "sets", "mean AUC-ROC", "mean AUC-PR",
              f"mean rank (ROC, {summary['complete']} sets)", "total fit s",
              f"fit / {TIME_REFERENCE}"]
    for o in ours:
        header += [f"{o} W/L/T ROC", f"{o} W/L/T PR",
                   f"{o} largest ROC shortfall"]
    lines = [f"### {label}", "", _md_row(header),
             _md_row(["---"] + ["---:"] * (len(header) - 1))]
    for m in methods:
        have = summary["roc"][m].notna()
        cells = [m, str(int(have.sum())), _fmt(summary["roc"][m].mean()),
                 _fmt(summary["pr"][m].mean()),
                 _fmt(summary["rank"].get(m, np.nan), 2),
                 _fmt(summary["fit"][m].sum(), 1),
                 _fmt(_fit_ratio(summary, m), 3)]
        for o in ours:
            if m == o:
                cells += ["—", "—", "—"]
                continue
            roc = _wlt(summary["roc"][o], summary["roc"][m])
            pr = _wlt(summary["pr"][o], summary["pr"][m])
            gap, where = _shortfall(summary["roc"][o], summary["roc"][m])
            cells += [" / ".join(map(str, roc)), " / ".join(map(str, pr)),
                      f"{_fmt(gap)} ({where})" if where else ""]
        lines.append(_md_row(cells))
    lines.append("")
    return lines


def target_rows(label: str, summary: dict) -> list[list[str]]:
    """Check issue 15's targets for each of our methods on one slice.

    Every comparison with a peer uses the sets both have (PyOD's MCD is
    not run on ``17_InternetAds``, see :data:`MCD_MAX_FEATURES`).

    Parameters
    ----------
    label : str
        Slice name.
    summary : dict
        Output of :func:`view_summary`.

    Returns
    -------
    list of list of str
        One row per our method: the slice, the method, then for each
        target the figures and ``yes`` / ``no``: mean AUC-ROC at least
        every peer's + :data:`ROC_MARGIN` (the peer closest to ours shown);
        mean AUC-PR at least every peer's (likewise); more sets won than
        lost (AUC-ROC) against every peer (the peers where not); no set
        more than :data:`MAX_SHORTFALL` below :data:`BASELINE`; fit time at
        most :data:`MAX_FIT_RATIO` of :data:`TIME_REFERENCE`'s (empty when
        it was not run).
    """
    methods = summary["methods"]
    peers = [m for m in methods if m in REPORT_BASELINES]
    rows = []
    if not peers:
        return rows
    for o in (m for m in methods if m not in REPORT_BASELINES):
        cells = [label, o]
        for metric, margin in (("roc", ROC_MARGIN), ("pr", 0.0)):
            pairs = {p: _paired(summary, metric, o, p) for p in peers}
            closest = min(peers, key=lambda p: pairs[p][0] - pairs[p][1])
            mine, theirs, n = pairs[closest]
            ok = mine - theirs >= margin - 1e-12
            cells.append(f"{_fmt(mine)} vs {_fmt(theirs)} ({closest}, {n} "
                         f"sets){f' + {margin}' if margin else ''}: "
                         f"{'yes' if ok else 'no'}")
        behind = [p for p in peers
                  if (lambda w: w[0] <= w[1])(_wlt(summary["roc"][o],
                                                   summary["roc"][p]))]
        cells.append("yes" if not behind
                     else "no (" + ", ".join(behind) + ")")
        if BASELINE in methods:
            gap, where = _shortfall(summary["roc"][o],
                                    summary["roc"][BASELINE])
            ok = gap >= -MAX_SHORTFALL - 1e-12
            cells.append(f"{_fmt(gap)} ({where}): {'yes' if ok else 'no'}")
        else:
            cells.append("")
        ratio = _fit_ratio(summary, o)
        cells.append("" if pd.isna(ratio) else
                     f"{_fmt(ratio)}: "
                     f"{'yes' if ratio <= MAX_FIT_RATIO else 'no'}")
        rows.append(cells)
    return rows


def dataset_table(title: str, table: pd.DataFrame, names: list[str],
                  methods: list[str], metric: str, seeds: list[int],
                  refs: dict[str, pd.Series]) -> list[str]:
    """Markdown lines of one per-set table (one metric, one group).

    Parameters
    ----------
    title : str
        Heading.
    table : DataFrame
        Output of :func:`summarise`.
    names : list of str
        Datasets, in order.
    methods : list of str
        Methods, in order (those without any result in the group are left
        out).
    metric : str
        ``auc_roc`` or ``auc_pr``.
    seeds : list of int
        Seeds requested (cells with fewer are marked ``*``).
    refs : dict
        Reference column label -> Series by dataset (real sets only).

    Returns
    -------
    list of str
        Heading, one row per set (mean ± sample std over seeds, bold =
        best), then the rows of :func:`summary_rows`.
    """
    part = table[table["dataset"].isin(names)]

    def pivot(column):
        return part.pivot(index="dataset", columns="method",
                          values=column).reindex(index=names)

    means = pivot(f"{metric}_mean")
    methods = [m for m in methods if m in means.columns]
    means, stds = means[methods], pivot(f"{metric}_std").reindex(
        columns=methods)
    seeds_seen = pivot("n_seeds").reindex(columns=methods)
    times = pd.concat({"fit": pivot("fit_s_mean").reindex(columns=methods),
                       "score": pivot("score_s_mean").reindex(
                           columns=methods)}, axis=1)
    refs = {label: series for label, series in refs.items()
            if series.reindex(names).notna().any()}
    header = ["dataset"] + methods + list(refs)
    lines = [f"### {title}", "", _md_row(header),
             _md_row(["---"] + ["---:"] * (len(header) - 1))]
    for d in names:
        row_best = means.loc[d].round(TIE_DECIMALS).max()
        half = " (A)" if d in HALF_A else " (B)" if d in HALF_B else ""
        cells = [d.split(KIND_SEP)[0] + half]
        for m in methods:
            value = means.loc[d, m]
            if pd.isna(value):
                cells.append("")
                continue
            text = _fmt(value)
            if not pd.isna(stds.loc[d, m]):
                text += f" ± {_fmt(stds.loc[d, m])}"
            if seeds_seen.loc[d, m] < len(seeds):
                text += "*"
            if len(methods) > 1 and round(value, TIE_DECIMALS) == row_best:
                text = f"**{text}**"
            cells.append(text)
        cells += [_fmt(refs[label].get(d, np.nan)) for label in refs]
        lines.append(_md_row(cells))
    lines += [_md_row(row) for row in summary_rows(means, times, refs)]
    lines.append("")
    return lines


def write_reports(runs: pd.DataFrame, refs: dict, out_dir: Path,
                  seeds: list[int], max_rows: int) -> str:
    """Write ``adbench_results.csv`` and ``adbench_results.md``.

    Parameters
    ----------
    runs : DataFrame
        Output of :func:`select_records`.
    refs : dict
        Output of :func:`load_references`.
    out_dir : Path
        Output folder.
    seeds : list of int
        Seeds requested (shown in the header; cells with fewer seeds are
        marked with ``*``).
    max_rows : int
        Subsampling limit (shown in the header).

    Returns
    -------
    str
        The targets and summary tables as Markdown, for stdout.
    """
    table = summarise(runs)
    methods = order_methods(list(table["method"].unique()))
    datasets = sorted(runs["dataset"].unique(), key=dataset_sort_key)

    csv_table = table.copy()
    csv_table["_g"] = csv_table["group"].map(GROUP_ORDER.index)
    csv_table["_d"] = csv_table["dataset"].map(datasets.index)
    csv_table["_m"] = csv_table["method"].map(methods.index)
    csv_table = csv_table.sort_values(["_g", "_d", "_m"]).drop(
        columns=["_g", "_d", "_m"])
    _atomic_write(out_dir / "adbench_results.csv",
                  csv_table.to_csv(index=False, float_format="%.6f"))

    views = group_views(table)
    summaries = [(label, view_summary(table, names, methods))
                 for label, names in views]
    targets = [row for label, summary in summaries
               for row in target_rows(label, summary)]
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    lines = [
        "# ADBench unsupervised benchmark",
        "",
        f"Generated {now} by `benchmarks/adbench.py` from `{RESULTS_FILE}`. "
        f"Seeds {seeds}; stratified 70/30 split per seed; sets above "
        f"{max_rows} rows subsampled (stratified) to {max_rows}; methods "
        "fitted on the training part without labels. Synthetic sets "
        f"(`<set>{KIND_SEP}<kind>`) are made from each real set's normal "
        "rows by `benchmarks/synthetic.py` and split the same way. Halves "
        "A and B are the fixed lists `HALF_A` / `HALF_B` of "
        "`benchmarks/adbench.py`. Cells: mean ± sample std over seeds "
        "(`*` = fewer seeds than requested); bold = best on that set. "
        "Means, ranks and times use the sets every shown method has; "
        f"won/lost/tied (W/L/T) and ties use {TIE_DECIMALS} decimals. "
        "Reference columns are published figures under their own "
        "protocols (ADBench paper: min-max scaling, sets capped at 10,000 "
        "rows; PyOD table: ODDS copies, random 60/40 split), not our runs.",
        "",
    ]
    summary_out = []
    if targets:
        header = ["slice", "ours",
                  f"mean AUC-ROC ≥ every peer's + {ROC_MARGIN}",
                  "mean AUC-PR ≥ every peer's", "won > lost vs every peer (ROC)",
                  f"largest shortfall vs {BASELINE} ≤ {MAX_SHORTFALL}",
                  f"fit / {TIME_REFERENCE} ≤ {MAX_FIT_RATIO}"]
        summary_out += ["## Targets (issue 15)", "", _md_row(header),
                        _md_row(["---"] * len(header))]
        summary_out += [_md_row(row) for row in targets] + [""]
    summary_out += ["## Summaries", ""]
    for label, summary in summaries:
        summary_out += view_table(label, summary)
    lines += summary_out
    lines += ["## Per-set results", ""]
    for group in GROUP_ORDER:
        names = [d for d in datasets
                 if table.loc[table["dataset"] == d, "group"].iloc[0] == group]
        if not names:
            continue
        for metric, title in METRICS:
            group_refs = refs.get(metric, {}) if group == "real" else {}
            lines += dataset_table(f"{group}: {title}", table, names, methods,
                                   metric, seeds, group_refs)
    params = table.drop_duplicates("method").set_index("method")["params"]
    lines += ["## Method parameters", ""]
    lines += [f"- `{m}`: `{params[m]}` (plus `random_state=seed` where the "
              "method takes one)" for m in methods]
    lines.append("")
    _atomic_write(out_dir / "adbench_results.md", "\n".join(lines))
    return "\n".join(summary_out)


def wlt_within(ours: pd.Series, peer: pd.Series,
               tie: float = LABEL_TIE) -> tuple[int, int, int]:
    """Count sets won, lost and tied by ``ours``; a tie is ``|ours - peer| <= tie``.

    Parameters
    ----------
    ours, peer : Series
        Per-set means, indexed by set; sets missing from either are left
        out.
    tie : float, default=LABEL_TIE
        Largest difference still counted as a tie.

    Returns
    -------
    won, lost, tied : int
    """
    diff = (ours - peer).dropna()
    won = int((diff > tie + 1e-12).sum())
    lost = int((diff < -tie - 1e-12).sum())
    return won, lost, len(diff) - won - lost


def label_method_order(names: list[str]) -> list[str]:
    """Few-label report order: the labelled methods, ours without labels, our other variants, the peers."""
    labelled = [m for m in LABEL_METHODS if m in names]
    rest = [m for m in order_methods([n for n in names if n not in labelled])
            if m != LABEL_UNLABELLED]
    return labelled + ([LABEL_UNLABELLED] if LABEL_UNLABELLED in names else []) + rest


def _holds(ok: bool) -> str:
    return "holds" if ok else "does not hold"


def label_targets(summary: dict) -> list[str]:
    """Issue 29's targets on one slice, one Markdown list item each.

    Parameters
    ----------
    summary : dict
        Output of :func:`view_summary` for one ``k`` and slice.

    Returns
    -------
    list of str
        Mean AUC-ROC of :data:`LABEL_OURS` at least the best labelled
        peer's + :data:`LABEL_PEER_MARGIN`; at least
        :data:`LABEL_UNLABELLED`'s + :data:`LABEL_SELF_MARGIN`; mean AUC-PR
        above every other method's (labelled peers, unsupervised peers and
        ours without labels); more sets won than lost on AUC-ROC against
        each (ties within :data:`LABEL_TIE`). Means of a pair use the sets
        both have; ``margin`` is how far the figure is above (+) or below
        (-) what the target asks. Empty when ours has no result.
    """
    methods = summary["methods"]
    o = LABEL_OURS
    if o not in methods:
        return []
    labelled = [m for m in methods if m in LABEL_METHODS and m != o]
    others = [m for m in methods if m != o]
    lines = []
    if labelled:
        pairs = {p: _paired(summary, "roc", o, p) for p in labelled}
        best = min(labelled, key=lambda p: pairs[p][0] - pairs[p][1])
        mine, theirs, n = pairs[best]
        margin = mine - theirs - LABEL_PEER_MARGIN
        lines.append(f"- mean AUC-ROC ≥ best labelled peer + {LABEL_PEER_MARGIN}: "
                     f"{_fmt(mine)} vs {best} {_fmt(theirs)} ({n} sets): "
                     f"**{_holds(margin >= -1e-12)}** (margin {margin:+.3f})")
    if LABEL_UNLABELLED in methods:
        mine, theirs, n = _paired(summary, "roc", o, LABEL_UNLABELLED)
        margin = mine - theirs - LABEL_SELF_MARGIN
        lines.append(f"- mean AUC-ROC ≥ {LABEL_UNLABELLED} (no labels) + {LABEL_SELF_MARGIN}: "
                     f"{_fmt(mine)} vs {_fmt(theirs)} ({n} sets): "
                     f"**{_holds(margin >= -1e-12)}** (margin {margin:+.3f})")
    if others:
        pairs = {p: _paired(summary, "pr", o, p) for p in others}
        closest = min(others, key=lambda p: pairs[p][0] - pairs[p][1])
        mine, theirs, n = pairs[closest]
        margin = mine - theirs
        lines.append(f"- mean AUC-PR ahead of every other method: closest {closest} "
                     f"{_fmt(theirs)} vs {_fmt(mine)} ({n} sets): "
                     f"**{_holds(margin > 0)}** (margin {margin:+.3f})")
        counts = {p: wlt_within(summary["roc"][o], summary["roc"][p]) for p in others}
        behind = [f"{p} {w}/{lo}/{t}" for p, (w, lo, t) in counts.items() if w <= lo]
        lines.append(f"- more sets won than lost (AUC-ROC, ties within {LABEL_TIE}) against each: "
                     f"**{_holds(not behind)}**"
                     + ("" if not behind else " (not against: " + ", ".join(behind) + ")"))
    return lines


def _versus_cells(summary: dict, o: str, m: str) -> list[str]:
    """Cells of ``o`` against ``m``: paired AUC-ROC difference and W/L/T (LABEL_TIE) on AUC-ROC and AUC-PR."""
    if m == o or o not in summary["methods"]:
        return ["—", "—", "—"]
    mine, theirs, _ = _paired(summary, "roc", o, m)
    return [f"{mine - theirs:+.3f}"] + [
        " / ".join(map(str, wlt_within(summary[metric][o], summary[metric][m])))
        for metric in ("roc", "pr")]


def label_table(label: str, summary: dict, n_labels: pd.Series) -> list[str]:
    """Markdown lines of one few-label slice: a row per method.

    Parameters
    ----------
    label : str
        Heading.
    summary : dict
        Output of :func:`view_summary`.
    n_labels : Series
        Labels given per set (mean over seeds), indexed by set.

    Returns
    -------
    list of str
        Heading, the labels given, a table with the labels each method got
        (mean per set and seed), the sets it has,
        mean AUC-ROC and AUC-PR over them, the paired AUC-ROC difference
        of :data:`LABEL_OURS` and its W/L/T on AUC-ROC and AUC-PR (ties
        within :data:`LABEL_TIE`), then :func:`label_targets`.
    """
    o = LABEL_OURS
    given = n_labels.reindex(summary["roc"].index).dropna()
    header = ["method", "labels", "sets", "mean AUC-ROC", "mean AUC-PR",
              f"{o} − method ROC (paired)", f"{o} W/L/T ROC", f"{o} W/L/T PR",
              "total fit s"]
    lines = [f"#### {label}", "",
             f"Labels given per run: {given.sum():.0f} over {len(given)} sets "
             f"(mean {given.mean():.2f} per set).", "",
             _md_row(header), _md_row(["---"] + ["---:"] * (len(header) - 1))]
    for m in summary["methods"]:
        roc, pr = summary["roc"][m], summary["pr"][m]
        cells = [m, f"{given.mean():.2f}" if m in LABEL_METHODS else "0", str(int(roc.notna().sum())),
                 _fmt(roc.mean()), _fmt(pr.mean())]
        cells += _versus_cells(summary, o, m)
        cells.append(_fmt(summary["fit"][m].sum(), 1))
        lines.append(_md_row(cells))
    lines += [""] + label_targets(summary) + [""]
    return lines


def zero_label_lines(ours: pd.DataFrame, today: pd.DataFrame, where: str) -> list[str]:
    """The 0-label check: ours without labels now against "today's" cached runs.

    Parameters
    ----------
    ours, today : DataFrame
        :func:`select_records` rows of :data:`LABEL_UNLABELLED` from this
        run's cache and from the ``--reuse-cache`` file.
    where : str
        Where today's runs come from (shown).

    Returns
    -------
    list of str
        Mean AUC-ROC and AUC-PR of both over the (set, seed) runs both have
        (same rows), W/L/T by set, and whether neither mean is lower by more
        than :data:`LABEL_TIE`.
    """
    key = ["dataset", "seed"]
    both = ours.merge(today, on=key, suffixes=("", "_today"))
    if both.empty:
        return ["No run of today's `vae` with the same sets, seeds and rows; "
                "the 0-label check was not made.", ""]
    by_set = both.groupby("dataset")[["auc_roc", "auc_roc_today", "auc_pr",
                                     "auc_pr_today"]].mean()
    d_roc = by_set["auc_roc"].mean() - by_set["auc_roc_today"].mean()
    d_pr = by_set["auc_pr"].mean() - by_set["auc_pr_today"].mean()
    ok = d_roc >= -LABEL_TIE - 1e-12 and d_pr >= -LABEL_TIE - 1e-12
    w = wlt_within(by_set["auc_roc"], by_set["auc_roc_today"])
    same = int(np.sum(np.isclose(both["auc_roc"], both["auc_roc_today"], rtol=0, atol=1e-12)))
    return [f"- 0 labels, `{LABEL_UNLABELLED}` now against today's ({where}), "
            f"{len(by_set)} sets with the same rows, {len(both)} runs: mean AUC-ROC "
            f"{_fmt(by_set['auc_roc'].mean())} vs {_fmt(by_set['auc_roc_today'].mean())} "
            f"({d_roc:+.4f}), mean AUC-PR {_fmt(by_set['auc_pr'].mean())} vs "
            f"{_fmt(by_set['auc_pr_today'].mean())} ({d_pr:+.4f}), W/L/T ROC "
            f"{' / '.join(map(str, w))}, {same} of {len(both)} runs with the same AUC-ROC: "
            f"no worse than today (within {LABEL_TIE}) **{_holds(ok)}**", ""]


def write_label_report(unlabelled: pd.DataFrame, by_k: dict[int, pd.DataFrame],
                       today: pd.DataFrame | None, today_from: str, out_dir: Path,
                       seeds: list[int], max_rows: int) -> str:
    """Write ``adbench_labels.csv`` and ``adbench_labels.md`` (the few-label report).

    Parameters
    ----------
    unlabelled : DataFrame
        :func:`select_records` rows of the methods fitted without labels.
    by_k : dict
        ``k`` -> :func:`select_records` rows of the labelled methods.
    today : DataFrame or None
        Rows of today's :data:`LABEL_UNLABELLED` (``--reuse-cache``), for
        the 0-label line.
    today_from : str
        Where ``today`` comes from.
    out_dir : Path
        Output folder.
    seeds : list of int
        Seeds requested.
    max_rows : int
        Subsampling limit.

    Returns
    -------
    str
        The Markdown report (also printed by :func:`main`).
    """
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    lines = ["# ADBench few-label benchmark (issue 29)", "",
             f"Generated {now} by `benchmarks/adbench.py --labels` from `{RESULTS_FILE}`. "
             f"Seeds {seeds}; sets above {max_rows} rows subsampled (stratified); stratified "
             "70/30 split per seed; k anomalies of the training part labelled "
             "(`default_rng((seed, k, crc32(set)))`, the same rows for every labelled method), "
             "every other training row unlabelled and kept (contaminated); metrics on the test "
             "part. Column `labels`: labels given per run (mean over sets); 0 = fitted without "
             "labels. Pairwise "
             f"figures use the sets both methods have; W/L/T ties are differences of at most "
             f"{LABEL_TIE}. Targets: issue 29 deliverable 7.", ""]
    unl = (unlabelled[unlabelled["method"] == LABEL_UNLABELLED]
           if not unlabelled.empty else unlabelled)
    if today is not None and not unl.empty:
        lines += ["## 0 labels", ""] + zero_label_lines(unl, today, today_from)
    csv_parts = []
    for k, runs_k in sorted(by_k.items()):
        if runs_k.empty:
            lines += [f"## k = {k} labels", "", "No runs in the cache.", ""]
            continue
        runs = pd.concat([runs_k, unlabelled], ignore_index=True)
        table = summarise(runs)
        n_labels = (runs_k[runs_k["method"] == LABEL_OURS] if LABEL_OURS in set(runs_k["method"])
                    else runs_k).groupby("dataset")["n_labels"].mean()
        short = n_labels[n_labels < k]
        methods = label_method_order(list(table["method"].unique()))
        lines += [f"## k = {k} labels", ""]
        if len(short):
            lines += ["Sets with fewer than k training anomalies (all labelled): "
                      + ", ".join(f"{d} ({v:g})" for d, v in short.items()) + ".", ""]
        for label, names in group_views(table):
            lines += label_table(f"k = {k}: {label}", view_summary(table, names, methods), n_labels)
        datasets = sorted(table["dataset"].unique(), key=dataset_sort_key)
        for metric, title in METRICS:
            lines += dataset_table(f"k = {k}, per set: {title}", table, datasets, methods,
                                   metric, seeds, {})
        table = table.assign(labels_k=k, n_labels=table["dataset"].map(n_labels).where(
            table["method"].isin(LABEL_METHODS), 0))
        csv_parts.append(table)
    if csv_parts:
        _atomic_write(out_dir / "adbench_labels.csv",
                      pd.concat(csv_parts).to_csv(index=False, float_format="%.6f"))
    text = "\n".join(lines)
    _atomic_write(out_dir / "adbench_labels.md", text)
    return text


def clean_gain_lines(gain: pd.DataFrame, share: pd.Series, test_share: pd.Series) -> list[str]:
    """Markdown lines of what clean training adds: AUC-ROC clean minus contaminated, per set.

    Parameters
    ----------
    gain : DataFrame
        Sets x methods: mean AUC-ROC on the clean split minus mean AUC-ROC on
        the 70/30 split (NaN where a side is missing).
    share, test_share : Series
        Anomaly share of the (subsampled) set and of the clean test part,
        indexed by set.

    Returns
    -------
    list of str
        A table with a row per set, then the mean gain over all sets, over
        the sets with an anomaly share of at least :data:`CLEAN_HIGH_SHARE`
        and over the others, and the sets where clean training is better /
        worse / level (within :data:`LABEL_TIE`).
    """
    header = ["set", "anomaly share", "in clean test"] + [f"{m} gain" for m in gain.columns]
    lines = [_md_row(header), _md_row(["---"] + ["---:"] * (len(header) - 1))]
    for d in gain.index:
        half = " (A)" if d in HALF_A else " (B)" if d in HALF_B else ""
        lines.append(_md_row([d + half, f"{share[d]:.1%}", f"{test_share[d]:.1%}"]
                             + [f"{v:+.3f}" if pd.notna(v) else "" for v in gain.loc[d]]))
    high = share.reindex(gain.index) >= CLEAN_HIGH_SHARE
    for label, part in ((f"**mean** ({len(gain)} sets)", gain),
                        (f"**mean, anomaly share ≥ {CLEAN_HIGH_SHARE:.0%}** ({int(high.sum())} sets)",
                         gain[high]),
                        (f"**mean, anomaly share < {CLEAN_HIGH_SHARE:.0%}** ({int((~high).sum())} sets)",
                         gain[~high])):
        lines.append(_md_row([label, "", ""] + [f"{v:+.3f}" for v in part.mean()]))
    zero = pd.Series(0.0, index=gain.index)
    lines.append(_md_row([f"**better / worse / level** (within {LABEL_TIE})", "", ""]
                         + [" / ".join(map(str, wlt_within(gain[m], zero))) for m in gain.columns]))
    return lines + [""]


def write_clean_report(contaminated: pd.DataFrame, clean: pd.DataFrame, out_dir: Path,
                       seeds: list[int], max_rows: int) -> str:
    """Write ``adbench_clean.csv`` and ``adbench_clean.md`` (the clean-reference report).

    Parameters
    ----------
    contaminated, clean : DataFrame
        :func:`select_records` rows of the same methods on the 70/30 split
        and on the clean split (:func:`make_clean_split`).
    out_dir : Path
        Output folder.
    seeds : list of int
        Seeds requested.
    max_rows : int
        Subsampling limit.

    Returns
    -------
    str
        The summary part of the report (also printed by :func:`main`); the
        first of our methods (``vae`` unless ``--vae-name`` says otherwise)
        is the one compared with the others.
    """
    suffix = " (contaminated)"
    peers = order_methods(list(clean["method"].unique()))
    ours = next((m for m in peers if m not in REPORT_BASELINES), "vae")
    table = summarise(pd.concat([clean, contaminated.assign(
        method=contaminated["method"] + suffix)], ignore_index=True))
    methods = peers + [m + suffix for m in peers if m + suffix in set(table["method"])]
    header = ["method", "trained on", "sets", "mean AUC-ROC", "mean AUC-PR",
              f"{ours} − method ROC (paired)", f"{ours} W/L/T ROC", f"{ours} W/L/T PR"]
    summary_out = ["## Summaries", ""]
    for label, names in group_views(table):
        summary = view_summary(table, names, [m for m in methods if m in peers or m == ours + suffix])
        summary_out += [f"### {label}", "", _md_row(header),
                        _md_row(["---"] + ["---:"] * (len(header) - 1))]
        for m in summary["methods"]:
            trained = "70% of all rows (contaminated)" if m.endswith(suffix) else "half the normal rows"
            summary_out.append(_md_row([m, trained, str(int(summary["roc"][m].notna().sum())),
                                        _fmt(summary["roc"][m].mean()), _fmt(summary["pr"][m].mean())]
                                       + _versus_cells(summary, ours, m)))
        summary_out.append("")

    real = [d for d in sorted(clean["dataset"].unique(), key=dataset_sort_key) if KIND_SEP not in d]
    roc = table.pivot(index="dataset", columns="method", values="auc_roc_mean")
    gain = pd.DataFrame({m: roc[m] - roc[m + suffix] for m in peers if m + suffix in roc},
                        index=real).dropna(how="all")
    by_set = clean.groupby("dataset")[["n_train", "n_test", "n_anomalies_test"]].mean()
    share = by_set["n_anomalies_test"] / (by_set["n_train"] + by_set["n_test"])
    if not gain.empty:
        summary_out += ["## What clean training adds (AUC-ROC, clean minus contaminated)", "",
                        "Per set, the mean AUC-ROC over seeds on the clean split minus that on the "
                        "70/30 split; both are test rows the method never saw, but not the same "
                        "rows, so a single set's figure carries the noise of both splits.", ""]
        summary_out += clean_gain_lines(gain, share, by_set["n_anomalies_test"] / by_set["n_test"])

    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    lines = ["# ADBench clean-reference benchmark (issue 29, deliverable 5)", "",
             f"Generated {now} by `benchmarks/adbench.py --clean` from `{RESULTS_FILE}`. Seeds "
             f"{seeds}; sets above {max_rows} rows subsampled (stratified) first. Clean split "
             "(the one-class setting DTE reports as semi-supervised): each method is fitted "
             "on half of the normal rows (`train_test_split(normal rows, test_size=0.5, "
             "random_state=seed)`) and scores the other half plus every anomaly. Rows marked "
             f"`{suffix.strip()}` are the same methods on the 70/30 split of the unsupervised "
             "protocol (fitted on 70% of all rows, anomalies included; tested on the other 30%). "
             "AUC-ROC does not depend on the share of anomalies among the test rows, so it can be "
             "set beside the other split's; AUC-PR does, and the clean test part holds every "
             "anomaly against half the normal rows, so its AUC-PR runs higher (a random ranking "
             "scores the share of anomalies) and is compared only within a split. Pairwise "
             "figures use the sets both methods have; "
             f"W/L/T ties are differences of at most {LABEL_TIE}. No published column: the "
             "published tables at hand are for the unsupervised protocol (docs/benchmarks.md, "
             "\"Clean reference data\").", ""]
    lines += summary_out + ["## Per-set results", ""]
    for metric, title in METRICS:
        lines += dataset_table(f"real: {title}", table, real, methods, metric, seeds, {})
    csv = pd.concat([summarise(clean).assign(protocol=CLEAN),
                     summarise(contaminated).assign(protocol="70/30")], ignore_index=True)
    _atomic_write(out_dir / "adbench_clean.csv", csv.to_csv(index=False, float_format="%.6f"))
    _atomic_write(out_dir / "adbench_clean.md", "\n".join(lines))
    return "\n".join(summary_out)


def _atomic_write(path: Path, text: str) -> None:
    """Write a text file through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _comma_list(text: str) -> list[str]:
    """Split a comma-separated argument, dropping empty items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
    """
    parser = argparse.ArgumentParser(
        description="ADBench-style unsupervised benchmark (see the module "
                    "docstring for the protocol).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("data_dir", type=Path,
                        help="folder of ADBench Parquet files")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                        help="output folder (cache and reports)")
    parser.add_argument("--methods", type=_comma_list,
                        default=list(ALL_METHODS),
                        help="comma list of methods: " + ",".join(ALL_METHODS))
    parser.add_argument("--datasets", type=_comma_list, default=None,
                        help="comma list of case-insensitive substrings of "
                             "file stems (default: all files)",
                        metavar="SUBSTRINGS")
    parser.add_argument("--seeds", nargs="+", default=["0", "1", "2"],
                        help="seeds (space or comma separated)")
    parser.add_argument("--max-rows", type=int, default=50_000,
                        help="subsample larger datasets to this many rows")
    parser.add_argument("--synthetic", type=_comma_list, default=[],
                        metavar="KINDS",
                        help="also run synthetic sets of these kinds made "
                             "from each selected dataset's normal rows "
                             "(comma list of local,global,dependency,cluster;"
                             " see benchmarks/synthetic.py)")
    parser.add_argument("--skip-real", action="store_true",
                        help="leave out the real sets (with --synthetic)")
    parser.add_argument("--vae-params", type=json.loads, default={},
                        help="JSON dict of VAEDetector keyword arguments")
    parser.add_argument("--vae-name", default="vae",
                        help="method name recorded for the vae entry")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute runs that are already cached")
    parser.add_argument("--report-only", action="store_true",
                        help="only rebuild the reports from the cache")
    parser.add_argument("--report-methods", type=_comma_list, default=None,
                        help="method names to report ('all' = every name in "
                             "the cache; default: the run's methods plus "
                             "the cached baselines)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for the neural methods "
                             "(0 = torch's default)")
    parser.add_argument("--labels", type=int, nargs="+", default=[], metavar="K",
                        help="few-label protocol: also run the methods of "
                             "--label-methods with K labelled training "
                             "anomalies (one run per K), and write "
                             "adbench_labels.md")
    parser.add_argument("--label-methods", type=_comma_list,
                        default=list(LABEL_METHODS),
                        help="comma list of methods given the labels: "
                             + ",".join(LABEL_METHODS))
    parser.add_argument("--clean", action="store_true",
                        help="clean-reference protocol: also run --methods "
                             "fitted on half of the normal rows and tested on "
                             "the other half plus every anomaly, and write "
                             "adbench_clean.md")
    parser.add_argument("--reuse-cache", type=Path, default=None,
                        metavar="FILE",
                        help="another runs.jsonl: copy its peers' runs (same "
                             "method, parameters, set, seed and rows) instead "
                             "of recomputing them; its vae runs are 'today' "
                             "in the 0-label line of adbench_labels.md")
    parser.add_argument("--published", type=Path, default=None,
                        help="folder of published tables (default: "
                             "DATA_DIR/../published_results)")
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(item) for text in args.seeds
                      for item in _comma_list(text)]
    except ValueError:
        parser.error("--seeds must be integers")
    if not isinstance(args.vae_params, dict):
        parser.error("--vae-params must be a JSON object")
    if args.max_rows < 10:
        parser.error("--max-rows must be at least 10")
    if args.skip_real and not args.synthetic:
        parser.error("--skip-real needs --synthetic")
    if any(k < 1 for k in args.labels):
        parser.error("--labels must be at least 1")
    args.labels = list(dict.fromkeys(args.labels))
    if args.reuse_cache is not None and not args.reuse_cache.is_file():
        parser.error(f"--reuse-cache: no file {args.reuse_cache}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the reports.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments.

    Returns
    -------
    int
        Exit status: 0 when every run succeeded, 1 otherwise.
    """
    args = parse_args(argv)
    data_dir = args.data_dir.resolve()
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    datasets = list_datasets(data_dir, args.datasets)
    if not datasets:
        raise SystemExit(f"no Parquet datasets match in {data_dir}")
    seeds = list(dict.fromkeys(args.seeds))
    methods = build_methods(args.methods, args.vae_name, args.vae_params)
    label_methods = build_label_methods(args.label_methods) if args.labels else []
    if {m.name for m in methods} & {m.name for m in label_methods}:
        raise SystemExit("a label method has the name of an unlabelled one")
    tasks = build_tasks(datasets, list(dict.fromkeys(args.synthetic)),
                        not args.skip_real, args.max_rows)
    log(f"datasets ({len(datasets)}): "
        + ", ".join(p.stem for p in datasets))
    if args.synthetic:
        log(f"synthetic kinds: {', '.join(args.synthetic)}"
            + ("" if not args.skip_real else " (real sets left out)"))
    log(f"seeds: {seeds}; methods: "
        + ", ".join(f"{m.name}{'' if not m.params else ' ' + params_key(m.params)}"
                    for m in methods))
    if args.labels:
        log(f"labels: k = {args.labels}; methods given them: "
            + ", ".join(m.name for m in label_methods))

    failures: list[str] = []
    if not args.report_only:
        if args.threads > 0 and any(m.kind != "iforest"
                                    for m in methods + label_methods):
            import torch

            torch.set_num_threads(args.threads)
        limit = contextlib.nullcontext()
        if args.threads > 0 and (label_methods or args.clean):
            from threadpoolctl import threadpool_limits  # BLAS and OpenMP (hgb)

            limit = threadpool_limits(limits=args.threads)
        with limit:
            failures = run_benchmark(tasks, seeds, methods, args.max_rows,
                                     out_dir, not args.no_cache,
                                     library_versions(), label_methods,
                                     args.labels, args.reuse_cache,
                                     args.clean)

    records = read_cache(out_dir / RESULTS_FILE)
    if args.report_methods == ["all"]:
        report = {r["method"]: None for r in records}
    elif args.report_methods:
        report = {name: None for name in args.report_methods}
    else:
        report = {name: None for name in REPORT_BASELINES}
    for m in methods:  # methods of this run report their own parameters
        if args.report_methods in (None, ["all"]) or m.name in report:
            report[m.name] = params_key(m.params)
    runs = select_records(records, report, tasks, seeds)
    if runs.empty:
        log("no cached results for the selection; no report written")
    else:
        published = args.published or data_dir.parent / "published_results"
        summary = write_reports(runs, load_references(published), out_dir,
                                seeds, args.max_rows)
        log(f"wrote {out_dir / 'adbench_results.csv'} and "
            f"{out_dir / 'adbench_results.md'}")
        print(summary, flush=True)
    if args.labels:
        by_k = {k: select_records(records, {m.name: params_key(m.params)
                                            for m in label_methods},
                                  tasks, seeds, labels_k=k)
                for k in args.labels}
        today, where = None, ""
        if args.reuse_cache is not None:
            reused = read_cache(args.reuse_cache)
            today = select_records(reused, {LABEL_UNLABELLED: params_key({})},
                                   tasks, seeds)
            newest: dict[tuple, dict] = {}
            for r in reused:
                if (r["method"] == LABEL_UNLABELLED and not r["params"] and r["seed"] in seeds
                        and r["dataset"] in set(today["dataset"])):
                    key = record_key(r)
                    if key not in newest or r["timestamp"] >= newest[key]["timestamp"]:
                        newest[key] = r
            sources = sorted({str(r.get("vae_anomaly_source")) for r in newest.values()})
            where = (f"`{args.reuse_cache}`, newest run per set and seed; "
                     f"vae_anomaly source now {source_fingerprint()}, in the file "
                     + ", ".join(sources))
        text = write_label_report(runs, by_k, today, where, out_dir, seeds,
                                  args.max_rows)
        log(f"wrote {out_dir / 'adbench_labels.csv'} and "
            f"{out_dir / 'adbench_labels.md'}")
        print(text, flush=True)
    if args.clean:
        chosen = {m.name: params_key(m.params) for m in methods}
        clean = select_records(records, chosen, tasks, seeds, protocol=CLEAN)
        if clean.empty:
            log("no cached clean-split results for the selection; no clean report written")
        else:
            text = write_clean_report(select_records(records, chosen, tasks, seeds), clean,
                                      out_dir, seeds, args.max_rows)
            log(f"wrote {out_dir / 'adbench_clean.csv'} and {out_dir / 'adbench_clean.md'}")
            print(text, flush=True)
    if failures:
        log(f"{len(failures)} run(s) failed:")
        for line in failures:
            log("  " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
