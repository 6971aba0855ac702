"""A row's results do not depend on its batch: checked to the bit on millions of rows.

The NumPy engine promises that a row's anomaly score and per-column
contributions are the same to the last bit whatever the batch size, the
row's position in its batch, the row order and the number of scoring
threads (docs/concepts.md, "Same rows, same scores"). The suite checks this
on thousands of rows; this script checks it on as many rows as you like
(10 million by default), which is what issue 28 asks of any technique whose
equality is not proved by construction.

Row-wise model (``--rows``, 20 columns): seeded correlated readings, with
1% of rows scaled up tenfold, 0.1% holding a value of 1e6, and 2% of cells
missing. A small model is fitted on the first 20,000 rows. Scored as:

* ``reference``: batches of 65,536 rows, in order;
* ``odd batches``: batches of 4,099 rows, so every row sits elsewhere in its batch;
* ``reversed``: the rows in reverse order, in batches of 1,000,003;
* ``two threads``: the CLI's streaming path (``scored_batches``) with ``n_jobs=2``, batches of 32,768;
* ``one by one``: a seeded sample of ``--single`` rows, each scored alone.

Windowed model (``--window-rows``; a fleet of 100 machines x 6 channels,
window 16): streamed through ``scored_batches`` in batches of 65,536,
9,973 and 250,007 rows (each batch carries the last rows of every series to
the next), and with two threads.

Every variant is compared with the reference: the number of rows whose
score, p-value or contributions differ in any bit (all must be 0), and the
seconds taken. ``--json-out`` writes the figures.

Usage::

    python benchmarks/batch_independence.py                       # 10M row-wise, 2M windowed
    python benchmarks/batch_independence.py --rows 1000000 --window-rows 200000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

COLUMNS = 20


def readings(rows: int, columns: int, seed: int) -> pd.DataFrame:
    """Seeded correlated readings with scaled-up rows, extreme values and missing cells."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(4, columns))
    values = rng.normal(size=(rows, 4)) @ mixing + 0.3 * rng.normal(size=(rows, columns))
    values[rng.random(rows) < 0.01] *= 10.0
    extreme = rng.random(rows) < 0.001
    values[extreme, rng.integers(0, columns, extreme.sum())] = 1e6
    values[rng.random((rows, columns)) < 0.02] = np.nan
    return pd.DataFrame(values, columns=[f"x{i:02d}" for i in range(columns)])


def fleet(rows: int, machines: int, channels: int, seed: int) -> pd.DataFrame:
    """Interleaved series of ``machines`` (sorted by time), one minute apart, with slow drifts and spikes."""
    rng = np.random.default_rng(seed)
    i = np.arange(rows)
    t = i // machines
    base = np.sin(t[:, None] / 50.0 + np.arange(channels)) + 0.2 * rng.normal(size=(rows, channels))
    base[rng.random(rows) < 0.005] += 8.0
    frame = pd.DataFrame(base, columns=[f"c{k}" for k in range(channels)])
    frame.insert(0, "machine", np.array([f"M{m:03d}" for m in range(machines)])[i % machines])
    frame.insert(0, "timestamp", pd.to_datetime(t * 60, unit="s"))
    return frame


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


class Results:
    """A variant's scores, p-values and contributions for every row, in the frame's order."""

    def __init__(self, rows: int, d: int):
        self.score = np.empty(rows)
        self.p_value = np.empty(rows)
        self.contributions = np.empty((rows, d))

    def put(self, where, found) -> None:
        self.score[where] = found.anomaly_score
        self.p_value[where] = found.p_value
        self.contributions[where] = found.contributions

    def differing(self, ref: Results) -> int:
        """Rows whose score, p-value or any contribution differs from ``ref`` in any bit."""
        bad = (_bits(self.score) != _bits(ref.score)) | (_bits(self.p_value) != _bits(ref.p_value))
        bad |= (_bits(self.contributions) != _bits(ref.contributions)).any(axis=1)
        return int(bad.sum())


def by_batches(scorer, frame: pd.DataFrame, size: int, order: np.ndarray | None = None) -> Results:
    """Score ``frame`` (in ``order``) in batches of ``size`` with ``Scorer.score_details``."""
    n = len(frame)
    order = np.arange(n) if order is None else order
    out = Results(n, len(scorer.feature_names()))
    for start in range(0, n, size):
        idx = order[start:start + size]
        out.put(idx, scorer.score_details(frame.iloc[idx]))
    return out


def streamed(scorer, frame: pd.DataFrame, size: int, n_jobs: int, names: list[str]) -> Results:
    """Score ``frame`` as the CLI does: record batches of ``size`` through ``scored_batches``."""
    from vae_anomaly.jobs.stream import scored_batches

    table = pa.Table.from_pandas(frame, preserve_index=False)
    out = Results(len(frame), len(scorer.feature_names()))
    start = 0
    for batch, found in scored_batches(scorer, table.to_batches(max_chunksize=size), names, n_jobs=n_jobs):
        out.put(slice(start, start + batch.num_rows), found)
        start += batch.num_rows
    return out


def run_variants(name: str, variants: dict, log: list) -> None:
    """Time each variant and compare it with the first."""
    ref = None
    for label, make in variants.items():
        start = time.perf_counter()
        got = make()
        seconds = time.perf_counter() - start
        if isinstance(got, tuple):  # (Results, rows compared)
            got, idx = got
            diff = int(((_bits(got.score[idx]) != _bits(ref.score[idx]))
                        | (_bits(got.p_value[idx]) != _bits(ref.p_value[idx]))
                        | (_bits(got.contributions[idx]) != _bits(ref.contributions[idx])).any(axis=1)).sum())
            rows = idx.size
        else:
            diff = 0 if ref is None else got.differing(ref)
            rows = got.score.size
        ref = got if ref is None else ref
        log.append({"model": name, "variant": label, "rows": rows, "differing_rows": diff,
                    "seconds": round(seconds, 2)})
        print(f"{name:9s} {label:22s} {rows:>11,} rows  {diff} differing  {seconds:7.1f} s", flush=True)


def one_by_one(scorer, frame: pd.DataFrame, count: int, seed: int):
    idx = np.sort(np.random.default_rng(seed).choice(len(frame), size=min(count, len(frame)), replace=False))
    out = Results(len(frame), len(scorer.feature_names()))
    for i in idx:
        out.put(slice(i, i + 1), scorer.score_details(frame.iloc[i:i + 1]))
    return out, idx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows scored by the row-wise model")
    parser.add_argument("--window-rows", type=int, default=2_000_000, help="rows of the fleet (0: skip)")
    parser.add_argument("--single", type=int, default=2_000, help="rows also scored one at a time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    from vae_anomaly import VAEDetector
    from vae_anomaly.persistence.modelfile import load_scorer

    log: list = []
    with tempfile.TemporaryDirectory() as tmp:
        frame = readings(args.rows, COLUMNS, args.seed)
        path = os.path.join(tmp, "rows.vae")
        VAEDetector(max_iter=5, random_state=args.seed).fit(frame.iloc[:20_000]).save(path)
        scorer = load_scorer(path)
        names = list(frame.columns)
        rng = np.random.default_rng(args.seed + 1)
        run_variants("row-wise", {
            "reference (65,536)": lambda: by_batches(scorer, frame, 65_536),
            "odd batches (4,099)": lambda: by_batches(scorer, frame, 4_099),
            "reversed (1,000,003)": lambda: by_batches(scorer, frame, 1_000_003, np.arange(len(frame))[::-1]),
            "shuffled (65,536)": lambda: by_batches(scorer, frame, 65_536, rng.permutation(len(frame))),
            "two threads (32,768)": lambda: streamed(scorer, frame, 32_768, 2, names),
            "one by one": lambda: one_by_one(scorer, frame, args.single, args.seed),
        }, log)
        frame = None  # the rows are no longer needed: free them before the fleet
        if args.window_rows:
            data = fleet(args.window_rows, 100, 6, args.seed)
            path = os.path.join(tmp, "fleet.vae")
            VAEDetector(max_iter=5, window=16, time_column="timestamp", group_column="machine",
                        random_state=args.seed).fit(data.iloc[:20_000]).save(path)
            scorer = load_scorer(path)
            names = scorer.column_names()
            run_variants("windowed", {
                f"streamed ({size:,}{', 2 threads' if jobs > 1 else ''})":
                    (lambda size=size, jobs=jobs: streamed(scorer, data, size, jobs, names))
                for size, jobs in [(65_536, 1), (9_973, 1), (250_007, 1), (65_536, 2)]
            }, log)
    total = sum(r["differing_rows"] for r in log)
    print(f"rows differing from the reference, all variants: {total}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"rows": args.rows, "window_rows": args.window_rows,
                                             "results": log}, indent=1))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
