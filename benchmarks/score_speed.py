"""Throughput and peak memory of ``vae-detect score`` on large Parquet files.

For each file size the script times, in separate processes:

* ``vae-detect score DATA -m MODEL -o OUT`` (the command users run), and
* the *floor*: pyarrow alone streaming the same file in the same record
  batches and writing the same columns back out with the same writer
  settings (snappy; dictionary pages only for non-float columns), fsync and
  rename included, as the CLI does; and
* the *whole-file floor*: ``pq.write_table(pq.read_table(DATA), OUT)`` with
  pyarrow's defaults, which is what "the time pyarrow takes to read the file
  and write it back" says in so many words. It is slower than the floor
  (the whole table in memory; dictionary pages tried on every float column),
  so the CLI's share of it is larger; both are reported, and the floor is
  the one the tables lead with.

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

With ``--baseline REV`` (a commit or tag) the script is a regression guard:
it checks REV out with ``git worktree add --detach`` into a temporary
directory, installs it there with ``pip install --no-deps --target`` (the
package is pure Python) and, in every repeat, times the floor, the working
tree's CLI and REV's CLI, the two CLIs in alternating order from one repeat
to the next. Both CLIs start the same way, ``python -m vae_anomaly.cli.app``
with ``PYTHONPATH`` set to their own tree (the repository root; the
installation) from an empty current directory. The model is
fitted once, with the working tree; REV scores a small extract of the file
with it first, and where it cannot read it (a different model format) REV
fits its own model on the same rows, and the report says so. The report adds
the medians of each side, the ratios working / baseline of wall time and of
the time the command reports itself, and each side's rows/s and peak RSS;
the worktree and the installation are removed at the end. Without
``--baseline`` the CLI is run as the installed ``vae-detect`` script, as
before.

Usage::

    python benchmarks/score_speed.py                      # 5M and 2.5M rows x 20 floats, 3 repeats
    python benchmarks/score_speed.py --rows 200000 --repeats 1   # quick check
    python benchmarks/score_speed.py --window 16 --columns 6 --rows 2000000 1000000   # sensor fleet
    python benchmarks/score_speed.py --window 16 --columns 6 --rows 4000000 1000000 --rowwise-too
    python benchmarks/score_speed.py --rows 1000000 --repeats 3 --baseline d6ba19d   # regression guard
    python benchmarks/score_speed.py --window 16 --columns 6 --rows 1000000 --baseline d6ba19d
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
REPO = Path(__file__).resolve().parent.parent
CLI_MODULE = "vae_anomaly.cli.app"  # the console script's module, at every release since d6ba19d
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

WHOLE_FLOOR = r"""
import sys, time
import pyarrow.parquet as pq
start = time.perf_counter()
table = pq.read_table(sys.argv[1])
pq.write_table(table, sys.argv[2])
print(f"floor {table.num_rows} rows in {time.perf_counter() - start:.3f} s", file=sys.stderr)
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
# the working tree and a baseline commit, side by side
# ------------------------------------------------------------------------------------------
BASE_FIT = r"""
import runpy, sys
from pathlib import Path
bench = runpy.run_path(sys.argv[1])  # this script's functions, main() not run
data, model, rows, epochs, scaler, window = sys.argv[2:]
seconds = bench["fit_model"](Path(data), Path(model), int(rows), int(epochs), scaler, int(window) or None)
print(f"{seconds:.3f}")
"""

WHERE = "import sys, vae_anomaly; sys.stdout.write(vae_anomaly.__file__)"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


class Side:
    """One tree's CLI, started as ``python -m vae_anomaly.cli.app`` with ``PYTHONPATH=tree``.

    ``cwd`` has no ``vae_anomaly`` folder, so the package comes from ``tree``
    (``PYTHONPATH`` precedes the venv's editable install on ``sys.path``).
    """

    def __init__(self, name: str, tree: Path, cwd: Path) -> None:
        self.name, self.tree, self.cwd = name, tree, cwd
        self.env = {**os.environ, "PYTHONPATH": str(tree)}
        self.cmd = [sys.executable, "-m", CLI_MODULE]
        where = subprocess.run([sys.executable, "-c", WHERE], env=self.env, cwd=cwd, check=True,
                               capture_output=True, text=True).stdout
        if not Path(where).resolve().is_relative_to(tree.resolve()):
            raise RuntimeError(f"{name}: vae_anomaly imported from {where}, not from {tree}")

    def run(self, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([*self.cmd, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True)


def install_baseline(rev: str, tmp: Path) -> dict:
    """Check ``rev`` out in a detached worktree under ``tmp`` and pip-install it into ``tmp/site``."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    worktree, site = tmp / "wt", tmp / "site"
    _git("worktree", "add", "--detach", "--quiet", str(worktree), commit)
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site),
           str(worktree)]
    proc = subprocess.run(pip, capture_output=True, text=True)
    if proc.returncode != 0:  # no index to fetch the build backend from: build with the venv's own
        shutil.rmtree(site, ignore_errors=True)
        subprocess.run([*pip, "--no-build-isolation"], check=True, capture_output=True, text=True)
    cwd = tmp / "cwd"  # where both CLIs start: no vae_anomaly folder in it
    cwd.mkdir()
    return {"rev": rev, "commit": commit, "worktree": worktree, "site": site, "cwd": cwd}


def remove_baseline(tmp: Path) -> None:
    """Remove the worktree :func:`install_baseline` added under ``tmp`` (if it got that far), then ``tmp``."""
    worktree = tmp / "wt"
    if f"worktree {worktree}" in _git("worktree", "list", "--porcelain").splitlines():
        _git("worktree", "remove", "--force", str(worktree))
    shutil.rmtree(tmp, ignore_errors=True)


PROBE_ROWS = 4_000  # enough for each of a fleet file's series to fill a window


def _probe_file(data: Path, path: Path) -> Path:
    """The first PROBE_ROWS rows of ``data``."""
    pq.write_table(pa.Table.from_batches([next(pq.ParquetFile(data).iter_batches(batch_size=PROBE_ROWS))]),
                   path)
    return path


def _probe_difference(a: Path, b: Path) -> float:
    """Largest absolute difference between the float columns two score files share (NaN where none)."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    diffs = [np.nanmax(np.abs(ta[c].to_numpy(zero_copy_only=False).astype(float)
                              - tb[c].to_numpy(zero_copy_only=False).astype(float)), initial=0.0)
             for c in set(ta.column_names) & set(tb.column_names)
             if pa.types.is_floating(ta.schema.field(c).type) and ta.num_rows == tb.num_rows]
    return float(max(diffs)) if diffs else float("nan")


def baseline_model(work_side: Side, base_side: Side, model: Path, data: Path, work: Path,
                   args: argparse.Namespace, window: int | None) -> tuple[Path, str]:
    """The model file the baseline scores, and a note saying which.

    The working tree's ``model`` where the baseline scores an extract of
    ``data`` with it (the note then gives the largest difference between the
    two sides' score files on it); otherwise one the baseline fits itself, with
    this script's :func:`fit_model` on the same rows.
    """
    probe = _probe_file(data, work / "probe.parquet")
    outs = {s.name: work / f"probe_{s.name}.parquet" for s in (work_side, base_side)}
    base = base_side.run(["score", str(probe), "-m", str(model), "-o", str(outs["base"])])
    if base.returncode == 0:
        work_run = work_side.run(["score", str(probe), "-m", str(model), "-o", str(outs["cli"])])
        if work_run.returncode != 0:
            raise RuntimeError(f"the working tree cannot score its own model:\n{work_run.stderr[-2000:]}")
        diff = _probe_difference(outs["cli"], outs["base"])
        note = (f"shared (fitted by the working tree; on a {PROBE_ROWS:,}-row extract the score files' "
                f"float columns differ by at most {diff:.3g})")
        path = model
    else:
        reason = (base.stderr.strip().splitlines() or ["(no message)"])[-1]
        path = model.with_name(f"{model.stem}_baseline{model.suffix}")
        fit_args = [str(Path(__file__).resolve()), str(data), str(path), str(args.sample_rows),
                    str(args.epochs), args.scaler, str(window or 0)]
        fit = subprocess.run([sys.executable, "-c", BASE_FIT, *fit_args], env=base_side.env,
                             cwd=base_side.cwd, capture_output=True, text=True)
        if fit.returncode != 0:
            raise RuntimeError(f"the baseline could not fit its own model:\n{fit.stderr[-2000:]}")
        note = f"own fit (the baseline could not score the working tree's model: {reason[:200]})"
    for out in (probe, *outs.values()):
        out.unlink(missing_ok=True)
    return path, note


# ------------------------------------------------------------------------------------------
# timing one process
# ------------------------------------------------------------------------------------------
def _run_with_time(cmd: list[str], env: dict | None = None, cwd: Path | None = None
                   ) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.run([TIME_BIN, "-v", *cmd], capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return wall, int(found.group(1)) / 1024 if found else float("nan"), proc.stderr


def _run_with_psutil(cmd: list[str], env: dict | None = None, cwd: Path | None = None
                     ) -> tuple[float, float, str]:
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=cwd)
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


def run(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS in MB and stderr of one command."""
    cpu = _children_cpu()
    wall, rss, err = _run_with_time(cmd, env, cwd) if TIME_BIN else _run_with_psutil(cmd, env, cwd)
    return wall, _children_cpu() - cpu, rss, err


def _inner_seconds(stderr: str, pattern: str) -> float:
    found = re.search(pattern, stderr)
    return float(found.group(1).replace(",", "")) if found else float("nan")


def one_round(data: Path, model: Path, out_dir: Path, rows: int, batch: int, jobs: int | None,
              sides: list[tuple[Side | None, Path]] | None = None, rep: int = 0) -> dict:
    """Time the floor, then each CLI, on one file; outputs are deleted afterwards.

    Without ``sides`` the CLI is the installed ``vae-detect`` script scoring
    ``model``; with them, each ``(side, model file)`` in turn, their order
    reversed on odd ``rep`` so that neither always runs right after the floor.
    """
    floor_out = out_dir / "floor.parquet"
    load_before = os.getloadavg()[0]
    f_wall, f_cpu, f_rss, f_err = run([sys.executable, "-c", FLOOR, str(data), str(floor_out), str(batch)])
    floor_out.unlink()
    w_wall, w_cpu, _, _ = run([sys.executable, "-c", WHOLE_FLOOR, str(data), str(floor_out)])
    floor_out.unlink()
    result = {
        "rows": rows,
        "floor_wall_s": f_wall, "floor_inner_s": _inner_seconds(f_err, r"floor \d+ rows in ([\d.]+) s"),
        "floor_cpu_s": f_cpu, "floor_rss_mb": f_rss, "whole_floor_wall_s": w_wall, "whole_floor_cpu_s": w_cpu,
    }
    sides = sides or [(None, model)]
    order = sides[::-1] if rep % 2 else sides
    for side, side_model in order:
        name = side.name if side else "cli"
        out = out_dir / f"scores_{name}.parquet"
        args = ["score", str(data), "-m", str(side_model), "-o", str(out), "--batch-size", str(batch)]
        if jobs:
            args += ["--jobs", str(jobs)]
        if side:
            wall, cpu, rss, err = run([*side.cmd, *args], side.env, side.cwd)
        else:
            wall, cpu, rss, err = run([str(SCRIPT), *args])
        out.unlink()
        inner = _inner_seconds(err, r"scored [\d,]+ rows in ([\d.]+) s")
        result |= {f"{name}_wall_s": wall, f"{name}_inner_s": inner, f"{name}_cpu_s": cpu,
                   f"{name}_rss_mb": rss}
    result["order"] = ["floor", "whole-file floor", *(s.name if s else "cli" for s, _ in order)]
    result["load_1min"] = (load_before + os.getloadavg()[0]) / 2
    return result


def summarise(rounds: list[dict], model: str = "") -> dict:
    """Medians over the repeats of one size; with a baseline, its figures and ratios working / baseline."""
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0] if k not in ("rows", "order")}
    rows = rounds[0]["rows"]
    base = {}
    if "base_wall_s" in med:
        base = {
            "base_rows_per_s": rows / med["base_wall_s"],
            "base_rows_per_s_in_command": rows / med["base_inner_s"],
            "base_peak_rss_mb": med["base_rss_mb"],
            "base_cpu_s": med["base_cpu_s"],
            "base_fraction_of_floor": med["floor_wall_s"] / med["base_wall_s"],
            "base_fraction_of_whole_floor": med["whole_floor_wall_s"] / med["base_wall_s"],
            "ratio_wall": med["cli_wall_s"] / med["base_wall_s"],  # working / baseline: above 1 is slower
            "ratio_in_command": med["cli_inner_s"] / med["base_inner_s"],
            "ratio_wall_per_repeat": [r["cli_wall_s"] / r["base_wall_s"] for r in rounds],
        }
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
        "fraction_of_whole_floor": med["whole_floor_wall_s"] / med["cli_wall_s"],
        "cli_cpu_s": med["cli_cpu_s"],
        "floor_cpu_s": med["floor_cpu_s"],
        "median_load_1min": med["load_1min"],
        "median_s": {k: v for k, v in med.items() if k.endswith(("_wall_s", "_inner_s"))},
        **base,
        "runs": rounds,
    }


def _table(results: list[dict]) -> str:
    head = ("| rows | model | CLI rows/s | CLI rows/s (in command) | CLI peak RSS MB | floor rows/s "
            "| floor rows/s (in loop) | fraction of floor | fraction (in command / in loop) "
            "| fraction of the whole-file floor | CPU s CLI / floor | load |")
    lines = [head, "|" + "---|" * 12]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['model']} | {r['cli_rows_per_s']:,.0f} "
            f"| {r['cli_rows_per_s_in_command']:,.0f} | {r['cli_peak_rss_mb']:,.0f} "
            f"| {r['floor_rows_per_s']:,.0f} | {r['floor_rows_per_s_in_loop']:,.0f} "
            f"| {r['fraction_of_floor']:.1%} | {r['fraction_of_floor_in_loop']:.1%} "
            f"| {r['fraction_of_whole_floor']:.1%} "
            f"| {r['cli_cpu_s']:.1f} / {r['floor_cpu_s']:.1f} | {r['median_load_1min']:.1f} |"
        )
    return "\n".join(lines)


def _baseline_table(results: list[dict], rev: str) -> str:
    head = (f"| rows | model | floor s | working s (in command) | {rev} s (in command) "
            f"| working / {rev} wall | working / {rev} in command | rows/s working / {rev} "
            f"| peak RSS MB working / {rev} "
            f"| fraction of floor working / {rev} | whole-file floor s | fraction of it working / {rev} "
            f"| load |")
    lines = [head, "|" + "---|" * 13]
    for r in results:
        m = r["median_s"]
        lines.append(
            f"| {r['rows']:,} | {r['model']} | {m['floor_wall_s']:.2f} "
            f"| {m['cli_wall_s']:.2f} ({m['cli_inner_s']:.2f}) "
            f"| {m['base_wall_s']:.2f} ({m['base_inner_s']:.2f}) "
            f"| {r['ratio_wall']:.3f} | {r['ratio_in_command']:.3f} "
            f"| {r['cli_rows_per_s']:,.0f} / {r['base_rows_per_s']:,.0f} "
            f"| {r['cli_peak_rss_mb']:,.0f} / {r['base_peak_rss_mb']:,.0f} "
            f"| {r['fraction_of_floor']:.1%} / {r['base_fraction_of_floor']:.1%} "
            f"| {m['whole_floor_wall_s']:.2f} "
            f"| {r['fraction_of_whole_floor']:.1%} / {r['base_fraction_of_whole_floor']:.1%} "
            f"| {r['median_load_1min']:.1f} |"
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
    parser.add_argument("--baseline", metavar="REV", default=None, help="also time the CLI of this commit "
                        "or tag, installed side by side in a temporary git worktree, alternating with the "
                        "working tree's; both run as python -m vae_anomaly.cli.app")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    if args.baseline:
        tmp = Path(tempfile.mkdtemp(prefix="score_speed_baseline_")).resolve()
        try:
            t = time.perf_counter()
            baseline = install_baseline(args.baseline, tmp)
            print(f"installed {args.baseline} ({baseline['commit'][:12]}) in {baseline['site']} "
                  f"in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            return _measure(args, baseline, load_start)
        finally:
            remove_baseline(tmp)
    return _measure(args, None, load_start)


def _label(window: int | None) -> str:
    return f"window {window}" if window else "row-wise"


def _measure(args: argparse.Namespace, baseline: dict | None, load_start: tuple) -> list[dict]:
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
    sides: dict = {w: None for w in windows}
    base_models: dict[int | None, str] = {}
    if baseline:
        working = Side("cli", REPO, baseline["cwd"])
        base = Side("base", baseline["site"], baseline["cwd"])
        for window in windows:
            path, base_models[window] = baseline_model(working, base, models[window], files[max(args.rows)],
                                                       work, args, window)
            sides[window] = [(working, models[window]), (base, path)]
            print(f"baseline model, {_label(window)}: {base_models[window]}", file=sys.stderr)
    rounds: dict[tuple, list] = {(rows, w): [] for rows in args.rows for w in windows}
    for rep in range(args.repeats):
        for rows in args.rows:
            for window in windows:
                r = one_round(files[rows], models[window], work, rows, args.batch_size, args.jobs,
                              sides[window], rep)
                rounds[rows, window].append(r)
                base_txt = (f"  base {r['base_wall_s']:.2f} s (in command {r['base_inner_s']:.2f} s, CPU "
                            f"{r['base_cpu_s']:.2f} s, {r['base_rss_mb']:.0f} MB)" if baseline else "")
                print(f"repeat {rep + 1}: {rows:,} rows, {_label(window)}  cli {r['cli_wall_s']:.2f} s "
                      f"(in command {r['cli_inner_s']:.2f} s, CPU {r['cli_cpu_s']:.2f} s, "
                      f"{r['cli_rss_mb']:.0f} MB){base_txt}  floor {r['floor_wall_s']:.2f} s "
                      f"(CPU {r['floor_cpu_s']:.2f} s)  whole-file floor {r['whole_floor_wall_s']:.2f} s  "
                      f"load {r['load_1min']:.1f}",
                      file=sys.stderr)
    results = [summarise(rounds[rows, w], _label(w)) for rows in args.rows for w in windows]
    print(_table(results))
    meta = {"cpus": os.cpu_count(), "batch_size": args.batch_size, "jobs": args.jobs, "scaler": args.scaler,
            "columns": args.columns, "window": args.window, "machines": machines, "repeats": args.repeats,
            "rss_from": "time -v" if TIME_BIN else "psutil",
            "loadavg_start": load_start, "loadavg_end": os.getloadavg()}
    if baseline:
        dirty = bool(_git("status", "--porcelain", "--", "vae_anomaly", "pyproject.toml"))
        meta |= {"cli_started_as": f"python -m {CLI_MODULE} (PYTHONPATH=tree, cwd={baseline['cwd']})",
                 "working": {"commit": _git("rev-parse", "HEAD"), "uncommitted_changes": dirty},
                 "baseline": {"rev": baseline["rev"], "commit": baseline["commit"],
                              "model": {_label(w): note for w, note in base_models.items()}}}
        print(_baseline_table(results, baseline["rev"]))
        for window, note in base_models.items():
            print(f"{baseline['rev']} scored ({_label(window)}) the model file {note}")
        print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in load_start)} at the start, "
              f"{' '.join(f'{x:.2f}' for x in meta['loadavg_end'])} at the end; {os.cpu_count()} CPUs")
    else:
        meta["cli_started_as"] = str(SCRIPT)
    print(json.dumps({"meta": meta,
                      "results": [{k: v for k, v in r.items() if k != "runs"} for r in results]}))
    if args.json_out:
        args.json_out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return results


if __name__ == "__main__":
    main()
