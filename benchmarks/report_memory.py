"""Peak memory, time and page size of ``vae-detect report`` as the input grows, against ``vae-detect score``.

For each file size the script runs, in separate processes and alternating
so that a change in machine load hits both:

* ``vae-detect score DATA -m MODEL -o OUT`` (streams the file, memory flat), and
* ``vae-detect report DATA -m MODEL -o OUT.html`` (streams it and keeps bounded summaries).

If the report keeps only bounded summaries, its peak memory should stay
as flat as ``score``'s from one size to the next, and its page size should
not grow. Every figure is the median of ``--repeats`` runs. The data and
the model come from ``score_speed.py`` (seeded correlated floats; with
``--window``, a sensor fleet and a windowed model).

Usage::

    python benchmarks/report_memory.py                          # 1M and 4M rows x 8 floats, 3 repeats
    python benchmarks/report_memory.py --rows 200000 400000 --repeats 1   # quick check
    python benchmarks/report_memory.py --window 16 --rows 500000 2000000  # sensor fleet, 100 machines
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import score_speed  # noqa: E402  (same folder: the data, the model and the timing of one process)


def one_round(data: Path, model: Path, out_dir: Path, rows: int, window: bool) -> dict:
    """Time ``score`` then ``report`` on one file; outputs are deleted afterwards."""
    scores, page = out_dir / "scores.parquet", out_dir / "report.html"
    load = os.getloadavg()[0]
    s_wall, s_cpu, s_rss, _ = score_speed.run([str(score_speed.SCRIPT), "score", str(data), "-m", str(model),
                                               "-o", str(scores)])
    scores.unlink()
    r_wall, r_cpu, r_rss, _ = score_speed.run([str(score_speed.SCRIPT), "report", str(data), "-m", str(model),
                                               "-o", str(page)])
    size = page.stat().st_size
    page.unlink()
    return {"rows": rows, "score_wall_s": s_wall, "score_rss_mb": s_rss, "report_wall_s": r_wall,
            "report_cpu_s": r_cpu, "score_cpu_s": s_cpu, "report_rss_mb": r_rss, "report_kb": size / 1e3,
            "load_1min": (load + os.getloadavg()[0]) / 2, "windowed": window}


def summarise(rounds: list[dict]) -> dict:
    """Medians over the repeats of one size."""
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0] if k not in ("rows", "windowed")}
    return {"rows": rounds[0]["rows"], **med, "runs": rounds}


def _table(results: list[dict]) -> str:
    lines = ["| rows | report peak RSS MB | score peak RSS MB | report page kB | report wall s "
             "| score wall s | load |", "|" + "---|" * 7]
    for r in results:
        lines.append(f"| {r['rows']:,} | {r['report_rss_mb']:,.0f} | {r['score_rss_mb']:,.0f} "
                     f"| {r['report_kb']:,.0f} | {r['report_wall_s']:.1f} | {r['score_wall_s']:.1f} "
                     f"| {r['load_1min']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=int, default=None, help="windowed model on a sensor-fleet file")
    parser.add_argument("--machines", type=int, default=100, help="series in the fleet file, with --window")
    parser.add_argument("--workdir", type=Path, default=None, help="where data go (default: a temp dir)")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="report_memory_"))
    work.mkdir(parents=True, exist_ok=True)
    machines = args.machines if args.window else None
    fleet = f"_fleet{machines}" if machines else ""
    files = {}
    for rows in args.rows:
        files[rows] = work / f"data_{rows}x{args.columns}{fleet}.parquet"
        if not files[rows].exists():
            score_speed.make_file(files[rows], rows, args.columns, 262_144, machines=machines)
    model = work / f"model{fleet}{f'_w{args.window}' if args.window else ''}.vae"
    start = time.perf_counter()
    score_speed.fit_model(files[min(args.rows)], model, 20_000, 5, "robust", args.window)
    print(f"fitted {model} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    rounds: dict[int, list[dict]] = {rows: [] for rows in args.rows}
    for rep in range(args.repeats):
        for rows in args.rows:
            rounds[rows].append(one_round(files[rows], model, work, rows, bool(args.window)))
            print(f"round {rep + 1}: {rounds[rows][-1]}", file=sys.stderr)
    results = [summarise(rounds[rows]) for rows in args.rows]
    print(_table(results))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
