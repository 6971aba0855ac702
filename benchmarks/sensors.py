"""Sliding-window benchmark on sensor streams (NAB realKnownCause, SKAB valve1).

Usage::

    python benchmarks/sensors.py ../shared/datasets --out benchmarks/results_sensors

Data
----
* ``nab/*.parquet`` (3 files): one channel ``value``, ``timestamp``, and
  ``label`` = 1 inside NAB's scoring windows (about 10 % of each file by
  construction, so many positive rows look normal).
* ``skab/valve1_0.parquet`` and ``skab/valve1_1.parquet``: 8 channels,
  ``datetime``, ``anomaly`` = 1 on every second of the induced fault (about
  35 % of each file). ``changepoint`` is dropped.

Each file is one series. Rows are put in time order with a *stable* sort
(the library does the same internally), so NAB ``machine_temperature``'s
hour recorded twice ends up interleaved; every method sees that same order.

Protocols (each row of the report names its protocol)
-----------------------------------------------------
``whole``
    Unsupervised: fit on the whole file without labels, score the whole
    file. NAB has no clean training part, so this is the usual setting
    there; it is also run on SKAB.
``split400``
    SKAB's own split: fit on the first 400 rows (all normal), score the
    rest. Windows of the scored rows reach back into the training rows (for
    our model they are passed as ``context``), as they would in a stream.
``free``
    SKAB only: fit on ``skab/anomaly-free.parquet``, score each whole valve
    file. That recording is another operating regime (flow about 125 vs 32,
    accelerometers about 8x higher), so every valve row is far from the
    training data; reported for completeness, not as a fair test.
``own``
    Not a run of its own: the report's view of every file under the
    protocol its benchmark defines, NAB files ``whole`` (NAB has no clean
    training part) and SKAB files ``split400``. Its rows are those runs'
    rows; the report adds, for the default window, in how many seeds (the
    same seed for both methods) our mean over the files is above
    IsolationForest's.

Methods (all on the same rows and windows)
------------------------------------------
``vae_w{W}``
    ``VAEDetector(window=W, time_column=<time>, random_state=seed)``, other
    parameters at their defaults (so ``window_features="summary"``: six
    statistics per channel); score ``score_details(X).anomaly_score``,
    flags ``is_anomaly`` (threshold calibrated on held-out stretches of the
    training series for a 1 % false-positive rate).
``vae_row``
    The same detector without windows (row-wise, same feature columns).
``if_w{W}_feat``
    IsolationForest (as below) on exactly the statistics ``vae_w{W}`` sees:
    each channel's value, first difference, and rolling mean, std, min and
    max over the ``W`` rows ending at each row (computed here with pandas;
    ``tests/test_window_summary.py`` checks the library's against pandas).
``if_w{W}``
    ``sklearn.ensemble.IsolationForest(random_state=seed)`` (100 trees,
    ``contamination="auto"``) on the flattened window matrix built with
    numpy: row ``t`` holds rows ``t-W+1 .. t`` of every channel, oldest
    first; the first ``W-1`` rows of a series are padded by repeating the
    series' first row. Score ``-score_samples``, flags ``predict() == -1``.
``if_row``
    IsolationForest on the rows themselves.

Window-size rule: the default is a fixed ``W = 16`` rows for every file
(16 hours, 80 minutes, 8 hours and 16 seconds on the four samplings): the
middle of the 8/16/32 grid, chosen before the benchmark ran and never tuned
per file; 8 and 32 are reported beside it to show the sensitivity.

Named variants (reported separately, never as the default):

* ``_diff``: the first difference of each channel within the series is
  added as an extra column before windowing (``d_<channel>``; its first row
  is NaN for our model, which masks it, and 0 for IsolationForest).
* ``_quantile``: our model with the rank-Gaussian ``scaler="quantile"``
  instead of the default ``"robust"`` scaling.
* ``_notrim``: our model with ``trim_fraction=0.0`` (no trimmed loss)
  instead of the default.
* ``_standard``: ``scaler="standard"`` (mean and standard deviation, no
  asinh on heavy tails); ``_iw8``: ``n_samples=8`` (importance-weighted
  score); ``_recon``: ``score_type="reconstruction"``.
* ``_stack``: our model with ``window_features="stack"`` (the flattened
  window, the default before the summary statistics); its IsolationForest
  baseline is ``if_w{W}``. ``_summary`` names the default explicitly.
* ``_feat`` / ``_feat4`` / ``_featdev``: the channels are replaced, before
  any model sees them, by per-window statistics computed here with pandas
  (``summary_features``): ``_feat`` = current value, first difference,
  rolling mean, std, min, max over the W rows ending at each row (the same
  set as ``_summary``); ``_feat4`` = value, difference, mean, std;
  ``_featdev`` = value, difference, value minus rolling mean, std;
  ``_feat5`` = ``_feat`` without the difference; ``_featms`` = value,
  difference, and mean/std/min/max over W // 4, W and 4 W rows. Both our
  model (row-wise, random hold-out) and IsolationForest (row-wise) get them.
* Prototypes that patch library internals for one run (names only, no
  parameter of the library): ``_pmax`` scores a stacked window by its largest
  per-position excess over the calibration baseline (summed over channels)
  instead of the sum; ``_floor`` floors the robust spread at std / 4;
  ``_steps3`` triples the optimiser-step budget of ``max_iter="auto"``;
  ``_trim30`` sets ``trim_fraction=0.3``; ``_rsplit`` holds out random rows
  instead of the end of each series; ``_bsplit`` holds out the end of each
  fifth of each series (what ``_summary`` does by itself); ``_lv2`` sets
  ``min_log_var=-2``; ``_lv0`` sets ``min_log_var=0``; ``_lat6`` sets
  ``latent_dim=6``; ``_trim5`` sets ``trim_fraction=0.05``; ``_logstd``
  replaces each channel's window standard deviation by
  ``log(std + 0.01 * s)``, ``s`` the channel's standard deviation in the
  training rows (a scale statistic modelled on a log scale); ``_studt`` sets
  ``likelihood="student-t"`` (heavy-tailed numeric likelihood); ``_fullcov``
  sets ``covariance_type="full"`` (the residuals' covariance in the score).

Metrics (per file, protocol, method; mean over seeds 0, 1, 2)
-------------------------------------------------------------
AUC-ROC and AUC-PR (average precision) of the anomaly score on the scored
rows; at each method's own threshold: event-wise recall (an event is a
maximal run of label-1 rows in time order; it is detected when any of its
rows is flagged), false alarms per 1,000 normal rows (flagged label-0 rows
per 1,000 label-0 rows), false-alarm episodes (maximal runs of flagged
label-0 rows) and the share of rows flagged. Point-adjusted F1 is not
reported: it rewards random scores on long events (Kim et al., AAAI 2022).

Outputs
-------
``<out>/runs.jsonl`` caches one line per (file, protocol, method, seed).
Each line of our model records ``lib``, a hash of the ``vae_anomaly``
sources; runs already there with the same hash are skipped and the reports
use only runs of the current sources (``--no-cache`` recomputes).
``<out>/results.csv`` (means per file, protocol and method) and
``<out>/results.md`` (tables per protocol, mean rows, won/lost vs
IsolationForest on the same windows) are rebuilt after each run, and the
summary is printed to stdout. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_W = 16
SEEDS = (0, 1, 2)
SKAB_TRAIN_ROWS = 400
METHODS = ("vae_w16", "if_w16_feat", "if_w16", "vae_w8", "if_w8_feat", "if_w8", "vae_w32", "if_w32_feat",
           "if_w32", "vae_row", "if_row", "vae_w16_studt", "vae_w16_fullcov", "vae_w16_stack",
           "vae_w16_quantile", "vae_w16_notrim")
METRICS = ("auc_roc", "auc_pr", "event_recall", "fa_per_1k", "fa_episodes", "flag_rate")
SKIP_LABELS = ("label", "anomaly", "changepoint")


@dataclass(frozen=True)
class Series:
    """One benchmark file: where it is and which columns play which role."""

    name: str
    path: str  # relative to the data folder
    time_column: str
    label_column: str


SERIES = (
    Series("nab/ambient_temperature", "nab/ambient_temperature_system_failure.parquet", "timestamp", "label"),
    Series("nab/machine_temperature", "nab/machine_temperature_system_failure.parquet", "timestamp", "label"),
    Series("nab/nyc_taxi", "nab/nyc_taxi.parquet", "timestamp", "label"),
    Series("skab/valve1_0", "skab/valve1_0.parquet", "datetime", "anomaly"),
    Series("skab/valve1_1", "skab/valve1_1.parquet", "datetime", "anomaly"),
)
SKAB_FREE = Series("skab/anomaly-free", "skab/anomaly-free.parquet", "datetime", "")


def library_fingerprint() -> str:
    """Hash of the ``vae_anomaly`` sources, so results of another library state are not reused."""
    h = hashlib.sha256()
    for path in sorted((REPO_ROOT / "vae_anomaly").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def load(root: Path, s: Series, diff: bool = False) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Rows in stable time order (time column + channels), labels, channel names.

    With ``diff`` the first difference of every channel is added as
    ``d_<channel>`` (NaN on the first row).
    """
    frame = pd.read_parquet(root / s.path)
    frame = frame.sort_values(s.time_column, kind="stable").reset_index(drop=True)
    y = frame[s.label_column].to_numpy(dtype=np.int8) if s.label_column else np.zeros(len(frame), np.int8)
    channels = [c for c in frame.columns if c != s.time_column and c not in SKIP_LABELS]
    frame = frame[[s.time_column, *channels]]
    if diff:
        diffs = frame[channels].diff().add_prefix("d_")
        frame = pd.concat([frame, diffs], axis=1)
        channels = channels + list(diffs.columns)
    return frame, y, channels


SUMMARY_STATS = ("cur", "d1", "mean", "std", "min", "max")
FEATURE_SETS = {"featms": ("ms",), "feat5": ("cur", "mean", "std", "min", "max"), "feat": SUMMARY_STATS,
                "feat4": ("cur", "d1", "mean", "std"), "featdev": ("cur", "d1", "dev", "std")}


def multi_scale(frame: pd.DataFrame, channels: list[str], size: int, stats) -> tuple[pd.DataFrame, list[str]]:
    """``summary_features``; with the ``("ms",)`` set, value and difference plus the window
    statistics over ``size // 4``, ``size`` and ``4 * size`` rows (``_featms``)."""
    if stats != ("ms",):
        return summary_features(frame, channels, size, stats)
    out, names = summary_features(frame, channels, size, SUMMARY_STATS)
    keys = frame.drop(columns=channels).reset_index(drop=True)
    parts, cols = [out], list(names)
    for scale in (max(size // 4, 2), 4 * size):
        extra, extra_names = summary_features(frame, channels, scale, ("mean", "std", "min", "max"))
        extra = extra.drop(columns=list(keys.columns)).add_suffix(f"@{scale}")
        parts.append(extra)
        cols += [f"{n}@{scale}" for n in extra_names]
    return pd.concat(parts, axis=1), cols


def summary_features(frame: pd.DataFrame, channels: list[str], size: int,
                     stats: tuple[str, ...] = SUMMARY_STATS) -> tuple[pd.DataFrame, list[str]]:
    """Cheap per-window features of each channel, from the ``size`` rows ending at each row.

    Per channel: the current value, the difference from the previous row (NaN
    on the first row), and the rolling mean, standard deviation (ddof=0),
    minimum and maximum over the window (shorter windows at the start of the
    series). The width is ``6 * channels`` whatever ``size``. The rows must
    be in time order (one series).
    """
    x = frame[channels]
    roll = x.rolling(size, min_periods=1)
    mean = roll.mean()
    parts = {"cur": x, "d1": x.diff(), "mean": mean, "std": roll.std(ddof=0).fillna(0.0),
             "min": roll.min(), "max": roll.max(), "dev": x - mean}
    cols = {}
    for stat in stats:
        for c in channels:
            cols[f"{stat}_{c}"] = parts[stat][c].to_numpy(np.float64)
    feats = pd.DataFrame(cols)
    return pd.concat([frame.drop(columns=channels).reset_index(drop=True), feats], axis=1), list(cols)


def lagged(values: np.ndarray, size: int) -> np.ndarray:
    """Flattened windows (n, size * d), oldest position first; the first row is repeated as padding."""
    n = len(values)
    idx = np.maximum(np.arange(n)[:, None] - np.arange(size - 1, -1, -1)[None, :], 0)
    return values[idx].reshape(n, -1)


# ------------------------------------------------------------------------------------------
# methods
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """A parsed method name such as ``vae_w16_quantile_diff``."""

    kind: str  # "vae" or "if"
    window: int | None  # None = row-wise
    diff: bool
    vae_params: tuple  # sorted (name, value) pairs
    tags: frozenset = frozenset()

    @property
    def feat(self) -> tuple[str, ...] | None:
        """Summary statistics replacing the raw window, or None."""
        for tag, stats in FEATURE_SETS.items():
            if tag in self.tags:
                return stats
        return None


_TAGS = ("diff", "quantile", "notrim", "featms", "feat5", "featdev", "feat4", "feat", "pmax", "floor",
         "steps3", "trim30", "summary", "stack", "rsplit", "bsplit", "lv2", "standard", "iw8", "recon", "lv0",
         "lat6", "trim5", "logstd", "studt", "fullcov")
_METHOD_RE = re.compile(r"^(vae|if)_(row|w(\d+))((?:_(?:" + "|".join(_TAGS) + r"))*)$")
_VARIANT_PARAMS = {"quantile": ("scaler", "quantile"), "notrim": ("trim_fraction", 0.0),
                   "trim30": ("trim_fraction", 0.3), "summary": ("window_features", "summary"),
                   "stack": ("window_features", "stack"), "standard": ("scaler", "standard"),
                   "iw8": ("n_samples", 8), "recon": ("score_type", "reconstruction"),
                   "lv2": ("min_log_var", -2.0), "lv0": ("min_log_var", 0.0), "lat6": ("latent_dim", 6),
                   "trim5": ("trim_fraction", 0.05), "studt": ("likelihood", "student-t"),
                   "fullcov": ("covariance_type", "full")}
_VAE_ONLY = ("quantile", "notrim", "pmax", "floor", "steps3", "trim30", "summary", "stack", "rsplit",
             "bsplit", "lv2", "standard", "iw8", "recon", "lv0", "lat6", "trim5", "logstd", "studt",
             "fullcov")
# tags that change the inputs (IsolationForest gets them too)
_INPUT_TAGS = ("diff", "feat", "feat4", "feat5", "featdev", "featms")


def parse_method(name: str) -> Method:
    m = _METHOD_RE.match(name)
    if not m:
        raise ValueError(f"unknown method {name!r}: expected vae|if, then _row or _w<N>, then any of "
                         + "/".join(f"_{t}" for t in _TAGS))
    tags = [t for t in m.group(4).split("_") if t]
    params = tuple(sorted(_VARIANT_PARAMS[t] for t in tags if t in _VARIANT_PARAMS))
    if m.group(1) == "if" and any(t in _VAE_ONLY for t in tags):
        raise ValueError(f"{name!r}: {', '.join('_' + t for t in _VAE_ONLY)} apply to our model only")
    if any(t.startswith("feat") or t in ("summary", "stack") for t in tags) and not m.group(3):
        raise ValueError(f"{name!r}: _feat needs a window _w<N>")
    return Method(m.group(1), int(m.group(3)) if m.group(3) else None, "diff" in tags, params,
                  frozenset(tags))


@contextmanager
def _patched(method: Method, fit: pd.DataFrame | None = None):
    """Library constants swapped for the duration of one run (``_floor``, ``_steps3``, ``_logstd``, ...)."""
    from vae_anomaly import detector
    from vae_anomaly.features import encoder, windows
    from vae_anomaly.model import training

    saved = (encoder.robust_center_scale, training._AUTO_STEPS)
    saved_summary = windows.summary_frame
    if "logstd" in method.tags:  # fit: the training rows, whose spread sets each channel's offset
        offsets = {}
        for c in fit.columns:
            values = pd.to_numeric(fit[c], errors="coerce").to_numpy(np.float64)
            offsets[c] = 0.01 * (float(np.nanstd(values)) or 1.0)

        def log_std(features, idx, summarised):
            out = saved_summary(features, idx, summarised)
            for c in summarised:
                col = windows.summary_name("std", c)
                out[col] = np.log(out[col] + offsets[c])
            return out

        windows.summary_frame = log_std
    saved_split = detector.held_out_rows
    if "rsplit" in method.tags:  # random held-out rows instead of the end of each series

        def random_split(n, fraction, rng, starts=None, stretches=False):
            return saved_split(n, fraction, rng, None)

        detector.held_out_rows = random_split
    if "bsplit" in method.tags:  # the end of each of 5 equal stretches of each series is held out

        def block_split(n, fraction, rng, starts=None, stretches=False, parts=5):
            if starts is None:
                return saved_split(n, fraction, rng)
            group = np.cumsum(starts) - 1
            sizes = np.bincount(group)
            rank = np.arange(n) - np.flatnonzero(starts)[group]
            pos = rank * parts / sizes[group]  # position within the series, in stretches
            held = (pos - np.floor(pos)) >= 1 - fraction
            if 0 < held.sum() < n:
                return np.flatnonzero(held), np.flatnonzero(~held)
            return saved_split(n, fraction, rng)

        detector.held_out_rows = block_split
    if "floor" in method.tags:
        base = saved[0]

        def floored(values):
            center, scale = base(values)
            with np.errstate(all="ignore"):
                std = np.nan_to_num(np.nanstd(values, axis=0))
            return center, np.maximum(scale, std / 4)

        encoder.robust_center_scale = floored
    if "steps3" in method.tags:
        training._AUTO_STEPS = 3 * saved[1]
    try:
        yield
    finally:
        encoder.robust_center_scale, training._AUTO_STEPS = saved
        detector.held_out_rows = saved_split
        windows.summary_frame = saved_summary


def _position_max(det, score: pd.DataFrame, context: pd.DataFrame | None) -> np.ndarray:
    """Largest per-position excess (sum over channels of term - baseline) within each window."""
    from vae_anomaly.features.rows import missing_mask

    scorer = det.scorer()
    prep = scorer.prepare(scorer.model_columns(score),
                          None if context is None else scorer.model_columns(context))
    _, terms = scorer.engine.raw_scores(prep.enc, with_terms=True)
    missing = missing_mask(prep.enc)
    excess = np.where(missing, 0.0, terms - det.feature_baseline_)
    size = det.window_spec_.size
    d_num = prep.enc.num.shape[1] // size
    per_pos = excess[:, :size * d_num].reshape(len(excess), size, d_num).sum(axis=2)
    return per_pos.max(axis=1)[prep.back]


def run_vae(method: Method, fit: pd.DataFrame, score: pd.DataFrame, context: pd.DataFrame | None,
            channels: list[str], time_column: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly scores and calibrated flags of our detector on ``score``."""
    from vae_anomaly import VAEDetector

    params = dict(method.vae_params)
    with _patched(method, fit[channels]):
        if method.window is None or method.feat:
            det = VAEDetector(random_state=seed, **params).fit(fit[channels])
            details = det.score_details(score[channels])
        else:
            cols = [time_column, *channels]
            det = VAEDetector(window=method.window, time_column=time_column, random_state=seed, **params)
            det.fit(fit[cols])
            ctx = None if context is None else context[cols]
            details = det.score_details(score[cols], context=ctx)
            if "pmax" in method.tags:
                return _position_max(det, score[cols], ctx), details.is_anomaly
    return details.anomaly_score, details.is_anomaly


def run_iforest(method: Method, fit: pd.DataFrame, score: pd.DataFrame, context: pd.DataFrame | None,
                channels: list[str], time_column: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """IsolationForest scores (-score_samples) and predict() flags on the same windows."""
    size = 1 if method.feat else (method.window or 1)
    fit_x = lagged(np.nan_to_num(fit[channels].to_numpy(np.float64)), size)
    full = score if context is None else pd.concat([context, score], ignore_index=True)
    score_x = lagged(np.nan_to_num(full[channels].to_numpy(np.float64)), size)[len(full) - len(score):]
    model = IsolationForest(random_state=seed).fit(fit_x)
    return -model.score_samples(score_x), model.predict(score_x) == -1


# ------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------
def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as (start, stop) pairs, stop exclusive."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def evaluate(y: np.ndarray, score: np.ndarray, flag: np.ndarray) -> dict:
    """AUC-ROC, AUC-PR, event recall, false alarms per 1,000 normal rows, episodes, flag rate."""
    y = np.asarray(y).astype(bool)
    flag = np.asarray(flag).astype(bool)
    events = runs(y)
    detected = sum(bool(flag[a:b].any()) for a, b in events)
    false = flag & ~y
    return {
        "auc_roc": float(roc_auc_score(y, score)),
        "auc_pr": float(average_precision_score(y, score)),
        "event_recall": detected / len(events) if events else float("nan"),
        "fa_per_1k": 1000.0 * float(false.sum()) / max(int((~y).sum()), 1),
        "fa_episodes": len(runs(false)),
        "flag_rate": float(flag.mean()),
        "n_events": len(events),
        "n_rows": int(y.size),
    }


# ------------------------------------------------------------------------------------------
# runs
# ------------------------------------------------------------------------------------------
def tasks(root: Path, s: Series, protocol: str, diff: bool, feat_window: int | None = None,
          stats: tuple[str, ...] | None = None):
    """``(fit, score, context, y, channels)`` for one file under one protocol.

    With ``feat_window`` the channels are replaced by their per-window
    summary features (computed on the whole series, each from past rows only).
    """
    frame, y, channels = load(root, s, diff)
    if feat_window:
        frame, channels = multi_scale(frame, channels, feat_window, stats)
    if protocol == "whole":
        return frame, frame, None, y, channels
    if protocol == "split400":
        n = SKAB_TRAIN_ROWS
        if y[:n].any():
            raise ValueError(f"{s.name}: the first {n} rows hold anomalies, the split400 protocol needs "
                             "them normal")
        return frame.iloc[:n], frame.iloc[n:].reset_index(drop=True), frame.iloc[:n], y[n:], channels
    if protocol == "free":
        free, _, free_channels = load(root, SKAB_FREE, diff)
        if feat_window:
            free, free_channels = multi_scale(free, free_channels, feat_window, stats)
        assert free_channels == channels, "anomaly-free and valve files must have the same channels"
        return free, frame, None, y, channels
    raise ValueError(f"unknown protocol {protocol!r}")


def protocols_for(s: Series) -> tuple[str, ...]:
    return ("whole", "split400", "free") if s.name.startswith("skab/") else ("whole",)


def read_cache(path: Path, lib: str | None) -> dict[tuple, dict]:
    """Cached runs valid for library state ``lib`` (IsolationForest runs do not depend on it).

    With ``lib=None`` every run is kept, the latest line winning for each key
    (``--report-only`` reports what was last measured, whatever the sources now).
    """
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if lib is None or r.get("lib") in (None, lib):
                    out[(r["series"], r["protocol"], r["method"], r["seed"])] = r
    return out


def run_all(root: Path, out: Path, methods: list[str], seeds: list[int], series: list[Series],
            protocols: list[str] | None, use_cache: bool) -> list[dict]:
    import torch

    import vae_anomaly  # noqa: F401 - imported now, so the fingerprint matches the code that runs

    torch.set_num_threads(1)
    cache_path = out / "runs.jsonl"
    lib = library_fingerprint()
    cache = read_cache(cache_path, lib) if use_cache else {}
    for s in series:
        for protocol in protocols_for(s):
            if protocols and protocol not in protocols:
                continue
            for name in methods:
                method = parse_method(name)
                fit, score, context, y, channels = tasks(root, s, protocol, method.diff,
                                                        method.window if method.feat else None, method.feat)
                for seed in seeds:
                    key = (s.name, protocol, name, seed)
                    if key in cache:
                        continue
                    runner = run_vae if method.kind == "vae" else run_iforest
                    start = time.perf_counter()
                    scores, flags = runner(method, fit, score, context, channels, s.time_column, seed)
                    seconds = time.perf_counter() - start
                    record = {"series": s.name, "protocol": protocol, "method": name, "seed": seed,
                              **evaluate(y, scores, flags), "seconds": round(seconds, 2),
                              "lib": lib if method.kind == "vae" else None}
                    cache[key] = record
                    with cache_path.open("a") as fh:
                        fh.write(json.dumps(record) + "\n")
                    log(f"{s.name:24s} {protocol:8s} {name:20s} seed {seed}: AUC-PR {record['auc_pr']:.3f} "
                        f"AUC-ROC {record['auc_roc']:.3f} events {record['event_recall']:.2f} "
                        f"FA/1k {record['fa_per_1k']:.1f} ({seconds:.1f}s)")
    if library_fingerprint() != lib:
        log("warning: the vae_anomaly sources changed during this run; the runs used the state at its start")
    return list(cache.values())


# ------------------------------------------------------------------------------------------
# reports
# ------------------------------------------------------------------------------------------
def selected_runs(records: list[dict], methods: list[str], seeds: list[int]) -> pd.DataFrame:
    """Runs of the selected methods and seeds, with each benchmark's own protocol added as ``own``.

    ``own`` takes every file under the protocol its benchmark defines: NAB
    files whole (NAB has no clean training part), SKAB files on SKAB's split
    (``split400``, what SKAB's pipeline and leaderboard score).
    """
    runs_ = pd.DataFrame(records)
    runs_ = runs_[runs_.method.isin(methods) & runs_.seed.isin(seeds)]
    own = runs_[(runs_.series.str.startswith("nab/") & (runs_.protocol == "whole"))
                | (runs_.series.str.startswith("skab/") & (runs_.protocol == "split400"))]
    return pd.concat([runs_, own.assign(protocol="own")], ignore_index=True)


def seed_means(records: list[dict], methods: list[str], seeds: list[int]) -> pd.DataFrame:
    """Mean AUC-PR over the files of each (protocol, method, seed): one column per method."""
    runs_ = selected_runs(records, methods, seeds)
    return runs_.pivot_table(index=["protocol", "seed"], columns="method", values="auc_pr", aggfunc="mean")


def summarise(records: list[dict], methods: list[str], seeds: list[int]) -> pd.DataFrame:
    """Mean over seeds per (series, protocol, method), for the selected methods and seeds."""
    runs_ = selected_runs(records, methods, seeds)
    grouped = runs_.groupby(["series", "protocol", "method"], sort=False)
    means = grouped[[*METRICS, "seconds"]].mean()
    means["auc_pr_std"] = grouped["auc_pr"].std(ddof=0)
    means["n_seeds"] = grouped.size()
    means["n_events"] = grouped["n_events"].first()
    return means.reset_index()


def baseline_of(method: str) -> str | None:
    """IsolationForest on the same windows and features as one of our methods."""
    m = parse_method(method)
    if m.kind != "vae":
        return None
    tags = "".join(f"_{t}" for t in _INPUT_TAGS if t in m.tags)
    summarised = m.window is not None and m.window > 1 and "stack" not in m.tags and not m.feat
    if summarised:  # the library's window_features="summary" (the default) computes the _feat statistics
        tags += "_feat"
    return f"if_{'row' if m.window is None else f'w{m.window}'}{tags}"


def _fmt(v: float, digits: int = 3) -> str:
    return "" if pd.isna(v) else f"{v:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def metric_table(means: pd.DataFrame, protocol: str, metric: str, methods: list[str]) -> list[str]:
    part = means[means.protocol == protocol].pivot(index="series", columns="method", values=metric)
    cols = [m for m in methods if m in part.columns]
    part = part[cols]
    rows = [[name, *(_fmt(part.at[name, c]) for c in cols)] for name in part.index]
    rows.append(["**mean**", *(f"**{_fmt(part[c].mean())}**" for c in cols)])
    return _table(["file", *cols], rows)


def won_lost(means: pd.DataFrame, protocol: str, methods: list[str]) -> list[str]:
    part = means[means.protocol == protocol].pivot(index="series", columns="method", values="auc_pr")
    rows = []
    for m in methods:
        base = baseline_of(m)
        if base is None or m not in part or base not in part:
            continue
        diff = (part[m] - part[base]).dropna()
        won = ", ".join(n.split("/")[-1] for n in diff.index[diff > 0.0005]) or "none"
        lost = ", ".join(n.split("/")[-1] for n in diff.index[diff < -0.0005]) or "none"
        rows.append([m, base, f"{int((diff > 0.0005).sum())}/{int((diff < -0.0005).sum())}",
                     f"{diff.mean():+.3f}", won, lost])
    return _table(["ours", "vs IsolationForest", "won/lost", "mean AUC-PR diff", "won on", "lost on"], rows)


def threshold_table(means: pd.DataFrame, protocol: str, methods: list[str]) -> list[str]:
    part = means[(means.protocol == protocol) & means.method.isin(methods)]
    rows = []
    for name in part.series.unique():
        for m in methods:
            r = part[(part.series == name) & (part.method == m)]
            if len(r):
                r = r.iloc[0]
                rows.append([name, m, _fmt(r.auc_roc), _fmt(r.auc_pr),
                             f"{r.event_recall:.2f} of {int(r.n_events)}", _fmt(r.fa_per_1k, 1),
                             _fmt(r.fa_episodes, 1), _fmt(r.flag_rate)])
    return _table(["file", "method", "AUC-ROC", "AUC-PR", "event recall", "FA / 1k normal", "FA episodes",
                   "flagged"], rows)


PROTOCOL_TITLES = {
    "own": "Each benchmark's own protocol: NAB files whole, SKAB files on SKAB's split",
    "whole": "Unsupervised, fit and score the whole file (NAB + SKAB)",
    "split400": "SKAB's own split: fit on the first 400 (normal) rows, score the rest",
    "free": "SKAB: fit on anomaly-free.parquet (another operating regime), score the whole valve file",
}


def verdict(means: pd.DataFrame, per_seed: pd.DataFrame) -> list[str]:
    """Our default windowed model against IsolationForest on the same features and on the raw window.

    ``per_seed`` (from `seed_means`) adds in how many seeds, the same seed for
    both methods, our mean over the files is the higher.
    """
    ours = f"vae_w{DEFAULT_W}"
    lines = []
    for protocol, label in (("own", "all 5 files, each benchmark's own protocol "
                                    "(NAB whole file, SKAB's split)"),
                            ("whole", "all 5 files, unsupervised whole-file protocol"),
                            ("split400", "SKAB files, SKAB's own split")):
        part = means[means.protocol == protocol].pivot(index="series", columns="method", values="auc_pr")
        for base, what in ((baseline_of(ours), "the same features"), (f"if_w{DEFAULT_W}", "the raw window")):
            if ours in part and base in part:
                a, b = part[ours].mean(), part[base].mean()
                won = int((part[ours] > part[base] + 0.0005).sum())
                lost = int((part[ours] < part[base] - 0.0005).sum())
                seeds = ""
                if protocol in per_seed.index.get_level_values(0) and {ours, base} <= set(per_seed.columns):
                    pair = per_seed.loc[protocol, [ours, base]].dropna()
                    seeds = f"; above in {int((pair[ours] > pair[base]).sum())} of {len(pair)} seeds"
                lines.append(f"- {label}, against IsolationForest on {what}: mean AUC-PR `{ours}` {a:.3f} vs "
                             f"`{base}` {b:.3f} ({'above' if a > b else 'not above'}), files won/lost "
                             f"{won}/{lost}{seeds}.")
    return lines


def git_head() -> str:
    """Short commit of the working tree (read only), or "unknown"."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _seed_text(means: pd.DataFrame) -> str:
    lo, hi = int(means.n_seeds.min()), int(means.n_seeds.max())
    return f"{lo} seeds" if lo == hi else f"{lo} to {hi} seeds (some runs missing)"


def write_reports(means: pd.DataFrame, per_seed: pd.DataFrame, out: Path, methods: list[str],
                  hashes: str) -> str:
    """Write results.csv and results.md; ``hashes``: library sources hash(es) of the runs reported."""
    means.to_csv(out / "results.csv", index=False, float_format="%.4f")
    # Our default methods, IsolationForest on the raw window and on the statistics our default model sees.
    headline = [m for m in methods if not parse_method(m).tags
                or (parse_method(m).kind == "if" and parse_method(m).tags == {"feat"})]
    variants = [m for m in methods if m not in headline]
    md = ["# Sensor-stream benchmark (NAB realKnownCause, SKAB valve1)", "",
          f"Generated by `benchmarks/sensors.py`; protocol in its docstring. Each cell is the mean over "
          f"{_seed_text(means)}. Default window: "
          f"W = {DEFAULT_W} rows for every file (fixed rule, no per-file tuning). `if_*` = IsolationForest "
          "on the same windows (first rows padded by repeating the first row). Higher AUC is better; "
          "event recall and false alarms (FA) are at each method's own threshold: IsolationForest's "
          "`contamination=\"auto\"` flags far more rows than our 1 % target, so those columns compare "
          "different operating points and AUC-PR is the like-for-like comparison. Library: `vae_anomaly` "
          f"sources hash of the runs {hashes} (report written at git HEAD {git_head()}).", "",
          "## Target: mean AUC-PR of our windowed model above IsolationForest on the same windows", "",
          f"`vae_w{DEFAULT_W}` is the library's default window (`window_features=\"summary\"`): six "
          "statistics per channel. `if_w*_feat` gets exactly those statistics; `if_w*` gets the raw "
          "stacked window.", "",
          *verdict(means, per_seed), ""]
    for protocol in ("own", "whole", "split400", "free"):
        if not (means.protocol == protocol).any():
            continue
        md += [f"## {PROTOCOL_TITLES[protocol]}", "", "AUC-PR:", "",
               *metric_table(means, protocol, "auc_pr", headline), "",
               "AUC-ROC:", "", *metric_table(means, protocol, "auc_roc", headline), ""]
        if protocol == "own":  # its rows are those of the two protocols below
            md += ["Won/lost on AUC-PR against IsolationForest on the same windows and features "
                   "(difference > 0.0005):", "", *won_lost(means, protocol, methods), ""]
            continue
        if variants:
            md += ["Named variants, AUC-PR:", "",
                   *metric_table(means, protocol, "auc_pr",
                                 [f"vae_w{DEFAULT_W}", f"if_w{DEFAULT_W}", *variants]), ""]
        md += ["Won/lost on AUC-PR against IsolationForest on the same windows and features "
               "(difference > 0.0005):", "",
               *won_lost(means, protocol, methods), ""]
        md += ["At each method's threshold (default window and row-wise):", "",
               *threshold_table(means, protocol, [m for m in (f"vae_w{DEFAULT_W}", f"if_w{DEFAULT_W}_feat",
                                                                f"if_w{DEFAULT_W}", "vae_row", "if_row")
                                                  if m in methods]), ""]
    md += ["## All numbers", "",
           "See `results.csv` (one row per file, protocol and method, means over seeds)."]
    text = "\n".join(md) + "\n"
    (out / "results.md").write_text(text)
    return text


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data_dir", type=Path, help="folder holding nab/ and skab/")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results_sensors"))
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated method names")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--series", default="", help="comma-separated substrings of file names (default: all)")
    p.add_argument("--protocols", default="", help="comma-separated subset of whole,split400,free")
    p.add_argument("--no-cache", action="store_true", help="recompute runs already in runs.jsonl")
    p.add_argument("--report-only", action="store_true", help="rebuild the reports from runs.jsonl")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        parse_method(m)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    wanted = [w for w in args.series.split(",") if w]
    series = [s for s in SERIES if not wanted or any(w in s.name for w in wanted)]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        records = list(read_cache(args.out / "runs.jsonl", None).values())
    else:
        records = run_all(args.data_dir, args.out, methods, seeds, series,
                          [p for p in args.protocols.split(",") if p], not args.no_cache)
    reported = [r for r in records if r["method"] in methods and r["seed"] in seeds]
    hashes = ", ".join(sorted({r["lib"] for r in reported if r.get("lib")})) or "none"
    if args.report_only:
        log(f"report from the cached runs; library sources hash(es) of our model's runs: {hashes}")
    means = summarise(records, methods, seeds)
    text = write_reports(means, seed_means(records, methods, seeds), args.out, methods, hashes)
    print(text.split("## All numbers")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
