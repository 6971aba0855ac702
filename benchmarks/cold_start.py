"""Cold start of ``vae-detect score`` and ``vae-detect info`` against ``import pandas, pyarrow.parquet``.

Issue 28 asks for each command on a 5,000-row file in at most 1.5x the time of
``python -c "import pandas, pyarrow.parquet"`` measured in the same run. Each
repeat runs, in a new process each and in an order rotated from one repeat to
the next:

* the floor, ``python -c "import pandas, pyarrow.parquet"``;
* for each tree given with ``--tree`` (default: this checkout),
  ``python -m vae_anomaly.cli.app score DATA -m MODEL -o OUT`` and
  ``python -m vae_anomaly.cli.app info MODEL``, with ``PYTHONPATH`` set to the
  tree, from an empty working directory.

The report gives the median wall seconds and the median CPU seconds (user +
system of the child) of each, and their ratios to the floor's. Every command
runs once untimed first with bytecode writing allowed, so that the timed runs
load cached bytecode as an installed package does. The model is fitted once,
with the first tree's ``vae-detect fit DATA --exclude label`` (``--model`` to
give one).

With ``--importtime`` the script also runs each command once under
``python -X importtime`` and lists, per top-level package, the import time of
the modules the command loads beyond the floor's.

Usage::

    nice -n 10 python benchmarks/cold_start.py                       # 7 repeats, this checkout
    nice -n 10 python benchmarks/cold_start.py --tree . /path/to/other/checkout --repeats 9
    nice -n 10 python benchmarks/cold_start.py --importtime --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
SAMPLE = REPO_ROOT / "sample_data" / "tabular.parquet"
FLOOR = "import pandas, pyarrow.parquet"


def environment(tree: Path | None, bytecode: bool) -> dict:
    """The child's environment: ``PYTHONPATH`` at ``tree`` (none for the floor), bytecode writing on/off."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def commands(trees: list[Path], data: Path, model: Path,
             work: Path) -> dict[str, tuple[list[str], Path | None]]:
    """Name -> (argv, tree) of every command timed."""
    cli = [sys.executable, "-m", "vae_anomaly.cli.app"]
    out = {"floor": ([sys.executable, "-c", FLOOR], None)}
    for i, tree in enumerate(trees):
        tag = f"[{i}]" if len(trees) > 1 else ""
        scored = work / f"out{i}.parquet"
        out[f"score{tag}"] = ([*cli, "score", str(data), "-m", str(model), "-o", str(scored)], tree)
        out[f"info{tag}"] = ([*cli, "info", str(model)], tree)
    return out


def timed(argv: list[str], tree: Path | None, cwd: Path) -> tuple[float, float]:
    """Run ``argv`` once; return (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=environment(tree, bytecode=False), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def import_times(argv: list[str], tree: Path | None, cwd: Path) -> dict[str, int]:
    """Module -> own import microseconds, from one run under ``-X importtime``."""
    run = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], cwd=cwd,
                         env=environment(tree, bytecode=False), check=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    found = {}
    for line in run.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if m:
            found[m[3]] = int(m[1])
    return found


def beyond_floor(cmd: dict[str, int], floor: dict[str, int], top: int = 12) -> list[str]:
    """Lines naming the top-level packages ``cmd`` imports beyond ``floor``, with their own import ms."""
    extra = {k: v for k, v in cmd.items() if k not in floor}
    by: dict[str, list[int]] = {}
    for name, us in extra.items():
        by.setdefault(name.split(".")[0], []).append(us)
    total = sum(extra.values()) / 1e3
    lines = [f"{len(extra)} modules beyond the floor, {total:.0f} ms of own import time "
             f"(the floor's {len(floor)} modules: {sum(floor.values()) / 1e3:.0f} ms)"]
    for pkg, times in sorted(by.items(), key=lambda kv: -sum(kv[1]))[:top]:
        lines.append(f"  {pkg:28s} {sum(times) / 1e3:7.1f} ms  {len(times)} modules")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, time the commands and print (and write) the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, nargs="+", default=[REPO_ROOT],
                        help="checkouts whose CLI is timed (default: this one)")
    parser.add_argument("--data", type=Path, default=SAMPLE,
                        help="table scored (default: the 5,000-row sample)")
    parser.add_argument("--model", type=Path, help="model file (default: fitted once with the first tree)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each command (median reported)")
    parser.add_argument("--importtime", action="store_true", help="also list the imports beyond the floor")
    parser.add_argument("--out", type=Path, help="also write the report (.md) and the runs (.jsonl) here")
    args = parser.parse_args(argv)
    trees = [t.resolve() for t in args.tree]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "cwd").mkdir()
        model = args.model.resolve() if args.model else work / "model.vae"
        if args.model is None:
            subprocess.run([sys.executable, "-m", "vae_anomaly.cli.app", "fit", str(args.data.resolve()),
                            "--exclude", "label", "-m", str(model)], cwd=work / "cwd",
                           env=environment(trees[0], bytecode=True), check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        runs = commands(trees, args.data.resolve(), model, work)
        for cmd, tree in runs.values():  # untimed: writes the bytecode the timed runs load
            subprocess.run(cmd, cwd=work / "cwd", env=environment(tree, bytecode=True), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        names = list(runs)
        walls: dict[str, list[float]] = {n: [] for n in names}
        cpus: dict[str, list[float]] = {n: [] for n in names}
        lines = []
        for rep in range(args.repeats):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                wall, cpu = timed(*runs[name], work / "cwd")
                walls[name].append(wall)
                cpus[name].append(cpu)
                lines.append({"repeat": rep, "command": name, "wall_s": wall, "cpu_s": cpu,
                              "load_avg": os.getloadavg()[0]})
        report = [f"# Cold start, medians of {args.repeats} alternating runs",
                  "", f"- data `{args.data}`, trees: "
                  + ", ".join(f"[{i}] `{t}`" for i, t in enumerate(trees)),
                  f"- load average at the end {tuple(round(v, 2) for v in os.getloadavg())}", "",
                  "| command | wall s | wall / floor | CPU s | CPU / floor |", "|---|---:|---:|---:|---:|"]
        floor_wall, floor_cpu = statistics.median(walls["floor"]), statistics.median(cpus["floor"])
        for name in names:
            w, c = statistics.median(walls[name]), statistics.median(cpus[name])
            report.append(f"| {name} | {w:.3f} | {w / floor_wall:.2f} | {c:.3f} | {c / floor_cpu:.2f} |")
        if args.importtime:
            floor_imports = import_times(*runs["floor"], work / "cwd")
            for name in names[1:]:
                report += ["", f"Imports of `{name}`:", "", "```",
                           *beyond_floor(import_times(*runs[name], work / "cwd"), floor_imports), "```"]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cold_start.md").write_text(text)
        with open(args.out / "cold_start.jsonl", "w") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)


if __name__ == "__main__":
    main()
