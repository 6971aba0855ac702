"""Throughput and peak memory of ``vae-detect score`` on large Parquet files.

For each file size the script times, in separate processes:

* ``vae-detect score DATA -m MODEL -o OUT`` (the command users run), and
* the *floor*: pyarrow alone streaming the same file in the same record
  batches and writing the same columns back out with the same writer
  settings (snappy; dictionary pages only for non-float columns), fsync and
  rename included, as the CLI does.

Peak RSS comes from ``/usr/bin/time -v`` when present, else from polling
the child's RSS with psutil; CPU seconds (user + system, all threads) from
the children's resource usage. Every figure is the median of ``--repeats``
runs; the runs of the floor and of the CLI alternate so that a change in
machine load hits both. Data are seeded, so runs are repeatable.

With ``--window W`` the file is a sensor fleet instead: ``--machines``
series interleaved in time order (a ``timestamp`` column one minute apart
within each machine and a ``machine`` column) and the same float channels,
and the model scored is a windowed one (``window=W`` with the default
per-channel statistics), so the CLI also carries each machine's last rows
from one record batch to the next. ``--rowwise-too`` also times, in the same
repeats and on the same files, a row-wise model of the same channels.

Usage::

    python benchmarks/score_speed.py                      # 5M and 2.5M rows x 20 floats, 3 repeats
    python benchmarks/score_speed.py --rows 200000 --repeats 1   # quick check
    python benchmarks/score_speed.py --window 16 --columns 6 --rows 2000000 1000000   # sensor fleet
    python benchmarks/score_speed.py --window 16 --columns 6 --rows 4000000 1000000 --rowwise-too
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCRIPT = Path(sys.executable).with_name("vae-detect")
TIME_BIN = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)

FLOOR = r"""
import os, sys, time
import pyarrow as pa, pyarrow.parquet as pq
src, dst, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
f = pq.ParquetFile(src, pre_buffer=False)  # as vae_anomaly.io reads it: memory flat in file size
schema = f.schema_arrow
opts = dict(compression="snappy", use_dictionary=[x.name for x in schema if not pa.types.is_floating(x.type)])
tmp = dst + ".tmp"
rows = 0
with pq.ParquetWriter(tmp, schema, **opts) as w:
    for b in f.iter_batches(batch_size=batch):
        w.write_batch(b)
        rows += b.num_rows
fd = os.open(tmp, os.O_RDONLY); os.fsync(fd); os.close(fd)
os.replace(tmp, dst)
print(f"floor {rows} rows in {time.perf_counter() - start:.3f} s", file=sys.stderr)
"""


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def make_file(path: Path, rows: int, columns: int, row_group: int, seed: int = 0,
              machines: int | None = None) -> None:
    """Write ``rows`` x ``columns`` correlated float64 readings in row groups (seeded).

    With ``machines``, row ``i`` belongs to machine ``i % machines`` and is
    read ``i // machines`` minutes after the start: a fleet extract sorted by
    time, with ``timestamp`` and ``machine`` columns first.
    """
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(4, columns))
    names = [f"x{i:02d}" for i in range(columns)]
    keys = [("timestamp", pa.timestamp("us")), ("machine", pa.string())] if machines else []
    schema = pa.schema([*keys, *((n, pa.float64()) for n in names)])
    ids = np.array([f"M{m:03d}" for m in range(machines or 1)], dtype=object)
    with pq.ParquetWriter(path, schema, compression="snappy",
                          use_dictionary=["machine"] if machines else False) as writer:
        for start in range(0, rows, row_group):
            n = min(row_group, rows - start)
            values = rng.normal(size=(n, 4)) @ mixing + 0.3 * rng.normal(size=(n, columns))
            cols = dict(zip(names, values.T, strict=True))
            if machines:
                i = np.arange(start, start + n)
                cols = {"timestamp": (i // machines) * 60_000_000, "machine": ids[i % machines], **cols}
            writer.write_table(pa.table(cols, schema=schema))


def fit_model(data: Path, model: Path, sample_rows: int, epochs: int, scaler: str,
              window: int | None = None) -> float:
    """Fit a small model on the first ``sample_rows`` rows with the library; seconds taken."""
    from vae_anomaly import VAEDetector

    start = time.perf_counter()
    sample = next(pq.ParquetFile(data).iter_batches(batch_size=sample_rows)).to_pandas()
    windowed = {"window": window, "time_column": "timestamp", "group_column": "machine"} if window else {}
    if not window:  # a row-wise model of a fleet file models its channels only
        sample = sample.drop(columns=["timestamp", "machine"], errors="ignore")
    VAEDetector(max_iter=epochs, scaler=scaler, random_state=0, **windowed).fit(sample).save(model)
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------------
# timing one process
# ------------------------------------------------------------------------------------------
def _run_with_time(cmd: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.run([TIME_BIN, "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return wall, int(found.group(1)) / 1024 if found else float("nan"), proc.stderr


def _run_with_psutil(cmd: list[str]) -> tuple[float, float, str]:
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(True)))
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return wall, peak / 2**20, err


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS in MB and stderr of one command."""
    cpu = _children_cpu()
    wall, rss, err = _run_with_time(cmd) if TIME_BIN else _run_with_psutil(cmd)
    return wall, _children_cpu() - cpu, rss, err


def _inner_seconds(stderr: str, pattern: str) -> float:
    found = re.search(pattern, stderr)
    return float(found.group(1).replace(",", "")) if found else float("nan")


def one_round(data: Path, model: Path, out_dir: Path, rows: int, batch: int, jobs: int | None) -> dict:
    """Time the floor, then the CLI, on one file; outputs are deleted afterwards."""
    floor_out, cli_out = out_dir / "floor.parquet", out_dir / "scores.parquet"
    load_before = os.getloadavg()[0]
    f_wall, f_cpu, f_rss, f_err = run([sys.executable, "-c", FLOOR, str(data), str(floor_out), str(batch)])
    floor_out.unlink()
    cmd = [str(SCRIPT), "score", str(data), "-m", str(model), "-o", str(cli_out), "--batch-size", str(batch)]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    c_wall, c_cpu, c_rss, c_err = run(cmd)
    cli_out.unlink()
    return {
        "rows": rows,
        "floor_wall_s": f_wall, "floor_inner_s": _inner_seconds(f_err, r"floor \d+ rows in ([\d.]+) s"),
        "floor_cpu_s": f_cpu, "floor_rss_mb": f_rss,
        "cli_wall_s": c_wall, "cli_inner_s": _inner_seconds(c_err, r"scored [\d,]+ rows in ([\d.]+) s"),
        "cli_cpu_s": c_cpu, "cli_rss_mb": c_rss,
        "load_1min": (load_before + os.getloadavg()[0]) / 2,
    }


def summarise(rounds: list[dict], model: str = "") -> dict:
    """Medians over the repeats of one size."""
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0] if k != "rows"}
    rows = rounds[0]["rows"]
    return {
        "rows": rows,
        "model": model,
        "cli_rows_per_s": rows / med["cli_wall_s"],
        "cli_rows_per_s_in_command": rows / med["cli_inner_s"],
        "cli_peak_rss_mb": med["cli_rss_mb"],
        "floor_rows_per_s": rows / med["floor_wall_s"],
        "floor_rows_per_s_in_loop": rows / med["floor_inner_s"],
        "floor_peak_rss_mb": med["floor_rss_mb"],
        "fraction_of_floor": med["floor_wall_s"] / med["cli_wall_s"],
        "fraction_of_floor_in_loop": med["floor_inner_s"] / med["cli_inner_s"],
        "cli_cpu_s": med["cli_cpu_s"],
        "floor_cpu_s": med["floor_cpu_s"],
        "median_load_1min": med["load_1min"],
        "runs": rounds,
    }


def _table(results: list[dict]) -> str:
    head = ("| rows | model | CLI rows/s | CLI rows/s (in command) | CLI peak RSS MB | floor rows/s "
            "| floor rows/s (in loop) | fraction of floor | fraction (in command / in loop) "
            "| CPU s CLI / floor | load |")
    lines = [head, "|" + "---|" * 11]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['model']} | {r['cli_rows_per_s']:,.0f} "
            f"| {r['cli_rows_per_s_in_command']:,.0f} | {r['cli_peak_rss_mb']:,.0f} "
            f"| {r['floor_rows_per_s']:,.0f} | {r['floor_rows_per_s_in_loop']:,.0f} "
            f"| {r['fraction_of_floor']:.1%} | {r['fraction_of_floor_in_loop']:.1%} "
            f"| {r['cli_cpu_s']:.1f} / {r['floor_cpu_s']:.1f} | {r['median_load_1min']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000_000, 2_500_000])
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--row-group", type=int, default=262_144)
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--jobs", type=int, default=None, help="--jobs for vae-detect (default: its own)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample-rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--scaler", default="robust", help="VAEDetector scaler of the model scored (default: "
                        "the library's default)")
    parser.add_argument("--window", type=int, default=None, help="score a windowed model of this many rows "
                        "on a sensor-fleet file (default: a row-wise model on a plain table)")
    parser.add_argument("--machines", type=int, default=100, help="series in the fleet file, with --window")
    parser.add_argument("--rowwise-too", action="store_true", help="with --window: also time a row-wise "
                        "model of the same channels on the same files, in the same repeats")
    parser.add_argument("--workdir", type=Path, default=None, help="where data go (default: a temp dir)")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="score_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    files = {}
    machines = args.machines if args.window else None
    fleet = f"_fleet{machines}" if machines else ""
    for rows in args.rows:
        files[rows] = work / f"data_{rows}x{args.columns}{fleet}.parquet"
        if not files[rows].exists():
            t = time.perf_counter()
            make_file(files[rows], rows, args.columns, args.row_group, machines=machines)
            print(f"wrote {files[rows]} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    windows = [args.window, None] if args.window and args.rowwise_too else [args.window]
    models = {}
    for window in windows:
        models[window] = work / f"model_{args.scaler}{fleet}{f'_w{window}' if window else ''}.vae"
        fit_s = fit_model(files[max(args.rows)], models[window], args.sample_rows, args.epochs, args.scaler,
                          window)
        print(f"fitted {models[window]} on {args.sample_rows:,} rows in {fit_s:.1f} s", file=sys.stderr)

    def label(window: int | None) -> str:
        return f"window {window}" if window else "row-wise"

    rounds: dict[tuple, list] = {(rows, w): [] for rows in args.rows for w in windows}
    for rep in range(args.repeats):
        for rows in args.rows:
            for window in windows:
                r = one_round(files[rows], models[window], work, rows, args.batch_size, args.jobs)
                rounds[rows, window].append(r)
                print(f"repeat {rep + 1}: {rows:,} rows, {label(window)}  cli {r['cli_wall_s']:.2f} s "
                      f"(in command {r['cli_inner_s']:.2f} s, CPU {r['cli_cpu_s']:.2f} s, "
                      f"{r['cli_rss_mb']:.0f} MB)  floor {r['floor_wall_s']:.2f} s "
                      f"(CPU {r['floor_cpu_s']:.2f} s)  load {r['load_1min']:.1f}",
                      file=sys.stderr)
    results = [summarise(rounds[rows, w], label(w)) for rows in args.rows for w in windows]
    print(_table(results))
    meta = {"cpus": os.cpu_count(), "batch_size": args.batch_size, "jobs": args.jobs, "scaler": args.scaler,
            "columns": args.columns, "window": args.window, "machines": machines, "repeats": args.repeats,
            "rss_from": "time -v" if TIME_BIN else "psutil"}
    print(json.dumps({"meta": meta,
                      "results": [{k: v for k, v in r.items() if k != "runs"} for r in results]}))
    if args.json_out:
        args.json_out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return results


if __name__ == "__main__":
    main()
