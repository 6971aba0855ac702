"""Rows per second and worker memory of ``vae-detect score --dask`` against the single-process CLI.

For each dataset size (a directory of Parquet files of ``--file-rows`` rows
each, 20 correlated float columns, seeded; more files as the data grow) the
script times, in separate processes and on the same files:

* ``cli``: ``vae-detect score DIR -m MODEL -o OUT.parquet`` on one machine
  (its default ``--jobs``: record batches scored by as many threads as
  there are cores, at most 4);
* ``dask1`` and ``dask2``: ``vae-detect score DIR -m MODEL -o OUTDIR --dask
  ADDRESS`` against a ``distributed.LocalCluster`` of 1 or 2 worker
  processes of one thread each, started by this script before the command
  and closed after it (its start-up is not timed: a real cluster is already
  running when a job is submitted, and its workers have imported the
  library for an earlier job, which the script does for them first).

Reported per method and size: rows/s over the command's wall time (start-up
and connecting to the scheduler included), rows/s inside the command (the
time the command prints in its summary), and the peak resident memory of
each worker process (for ``cli``, of the process itself), polled every
20 ms with psutil. Every figure is the median of ``--repeats`` runs; within
a repeat the methods run one after the other, so a change in machine load
hits all of them. The model is a small row-wise one fitted on the first
file (``benchmarks/score_speed.py``'s data and model helpers).

Usage::

    python benchmarks/dask_scale.py                                # 1M and 2M rows, 3 repeats
    python benchmarks/dask_scale.py --rows 250000 --repeats 1      # quick check
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_speed import SCRIPT, _inner_seconds, fit_model, make_file  # noqa: E402

METHODS = ("cli", "dask1", "dask2")


class PeakRSS:
    """Poll the resident memory of some processes from a thread; the peak of each, in MB."""

    def __init__(self, pids: list[int]):
        self.procs = [psutil.Process(p) for p in pids]
        self.peaks = [0] * len(pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            for i, proc in enumerate(self.procs):
                try:
                    self.peaks[i] = max(self.peaks[i], proc.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def mb(self) -> list[float]:
        return [p / 2**20 for p in self.peaks]


def make_data(work: Path, rows: int, file_rows: int, columns: int, row_group: int) -> Path:
    """A directory of ``rows`` rows in files of ``file_rows`` (file ``i`` seeded with ``i``)."""
    folder = work / f"data_{rows}x{columns}"
    if not folder.exists():
        tmp = work / f".{folder.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for i, start in enumerate(range(0, rows, file_rows)):
            make_file(tmp / f"part-{i:04d}.parquet", min(file_rows, rows - start), columns, row_group, seed=i)
        tmp.rename(folder)
    return folder


def _command(cmd: list[str], pids: list[int]) -> tuple[float, float, list[float]]:
    """Wall seconds, seconds inside the command, peak MB of ``pids`` (the command itself when empty)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with PeakRSS(pids or [proc.pid]) as peaks:
        err = proc.communicate()[1]
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return wall, _inner_seconds(err, r"scored [\d,]+ rows in ([\d.]+) s"), peaks.mb()


def one_run(method: str, data: Path, model: Path, work: Path) -> dict:
    base = [str(SCRIPT), "score", str(data), "-m", str(model)]
    if method == "cli":
        out = work / "scores.parquet"
        wall, inner, peaks = _command([*base, "-o", str(out)], [])
        out.unlink()
    else:
        from distributed import Client, LocalCluster

        out = work / "scores_dir"
        n = int(method[-1])
        with LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            # warm, as on a cluster already in use
            client.run(importlib.import_module, "vae_anomaly.jobs.cluster")
            pids = list(client.run(os.getpid).values())
            wall, inner, peaks = _command([*base, "-o", str(out), "--dask", cluster.scheduler_address], pids)
        shutil.rmtree(out)
    return {"wall_s": wall, "inner_s": inner, "peak_mb": max(peaks), "load_1min": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 2_000_000])
    parser.add_argument("--file-rows", type=int, default=250_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--row-group", type=int, default=131_072)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample-rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None, help="where data go (default: a temp dir)")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="dask_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    data = {rows: make_data(work, rows, args.file_rows, args.columns, args.row_group) for rows in args.rows}
    model = work / "model.vae"
    if not model.exists():
        first = sorted(data[max(args.rows)].iterdir())[0]
        fit_model(first, model, args.sample_rows, args.epochs, "robust")
    runs: dict = {(rows, m): [] for rows in args.rows for m in METHODS}
    for rep in range(args.repeats):
        for rows in args.rows:
            for method in METHODS:
                r = one_run(method, data[rows], model, work)
                runs[rows, method].append(r)
                print(f"repeat {rep + 1}: {rows:,} rows {method:<5} wall {r['wall_s']:.2f} s, in command "
                      f"{r['inner_s']:.2f} s, peak {r['peak_mb']:.0f} MB, load {r['load_1min']:.1f}",
                      file=sys.stderr, flush=True)
    results = []
    for (rows, method), rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        results.append({"rows": rows, "method": method, "rows_per_s": rows / med["wall_s"],
                        "rows_per_s_in_command": rows / med["inner_s"], "peak_mb_per_process": med["peak_mb"],
                        "median_load_1min": med["load_1min"], "runs": rs})
    print("| rows | method | rows/s (wall) | rows/s (in command) | peak RSS per worker, MB | load |")
    print("|---|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['rows']:,} | {r['method']} | {r['rows_per_s']:,.0f} | {r['rows_per_s_in_command']:,.0f} "
              f"| {r['peak_mb_per_process']:,.0f} | {r['median_load_1min']:.1f} |")
    meta = {"cpus": os.cpu_count(), "file_rows": args.file_rows, "columns": args.columns,
            "row_group": args.row_group, "repeats": args.repeats}
    if args.json_out:
        args.json_out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return {"meta": meta, "results": results}


if __name__ == "__main__":
    main()
