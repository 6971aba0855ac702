"""Issue 29, lead 3: a training term that pushes the known anomalies' ELBO down, measured before it is built.

Deep SAD (Ruff et al., ICLR 2020) and DevNet (Pang et al., KDD 2019) learn
from a few labelled anomalies by adding a term that drives their scores
away from the normal rows' during training. The VAE analogue tried here:
at each training step, with ``l`` the negative ELBO (the loss) of each row,

    loss = trimmed mean of l over the batch + weight * mean over labelled anomalies a of
           max(0, margin - (l_a - mean(l)) / std(l))

where the batch's mean and standard deviation are held fixed (detached),
so the labelled anomalies are pushed to at least ``margin`` standard
deviations above the batch's rows, as DevNet's deviation loss does with a
prior of normal scores. The labelled rows are otherwise kept out of training
and calibration, as ``fit(X, y)`` already does (Label-Trim).

The term is ``VAEDetector(label_weight=...)`` (:mod:`vae_anomaly.model.labelled`;
``label_weight=0`` is Label-Trim alone). This script runs the few-label
protocol of ``benchmarks/adbench.py`` (same splits, same seeded choice of
``k`` labelled training anomalies, real sets and, with ``--synthetic``, the
synthetic kinds) and compares, with the same seeds, ``fit(X, y)`` at each
``--weight`` (0 and 1 by default). Records go to ``--out`` (JSON lines; runs
already there are skipped), and ``--report`` writes the tables.

Usage::

    python benchmarks/label_term.py ../shared/datasets/adbench --k 10 --half A --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import adbench  # noqa: E402  (the protocol's splits and label choice)


def report(path: Path, tie: float = 0.005) -> str:
    """Markdown: per kind and k, mean AUC-ROC / AUC-PR of each weight and sets won / lost / tied by the
    largest weight against ``label_weight=0`` (means over seeds first; ties within ``tie``)."""
    import pandas as pd

    runs = pd.read_json(path, lines=True)
    runs["kind"] = runs["dataset"].str.partition(adbench.KIND_SEP)[2].replace("", "real")
    per_set = runs.groupby(["kind", "k", "dataset", "variant"])[["roc", "pr"]].mean().reset_index()
    heads = " | ".join(f"{v} AUC-ROC / AUC-PR" for v in sorted(runs["variant"].unique()))
    lines = [f"| kind | k | sets | {heads} | W / L / T (AUC-ROC) |",
             "|---|---|---|" + "---|" * (runs["variant"].nunique() + 1)]
    for (kind, k), group in per_set.groupby(["kind", "k"]):
        wide = group.pivot(index="dataset", columns="variant", values=["roc", "pr"]).dropna()
        variants = sorted(wide["roc"].columns)
        cells = [f"{wide['roc'][v].mean():.3f} / {wide['pr'][v].mean():.3f}" for v in variants]
        diff = wide["roc"][variants[-1]] - wide["roc"][variants[0]]
        wlt = f"{int((diff > tie).sum())} / {int((diff < -tie).sum())} / {int((diff.abs() <= tie).sum())}"
        lines.append(f"| {kind} | {k} | {len(wide)} | " + " | ".join(cells) + f" | {wlt} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--k", type=int, nargs="+", default=[10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--half", choices=["A", "B", "all"], default="A")
    parser.add_argument("--weight", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--synthetic", nargs="*", default=[], metavar="KIND",
                        help="also (with --skip-real: only) the synthetic kinds of benchmarks/synthetic.py")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--report", action="store_true", help="only print the tables of the runs in --out")
    parser.add_argument("--out", type=Path, default=HERE / "results_label_term" / "runs.jsonl")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.out))
        return 0

    import torch

    from vae_anomaly import VAEDetector

    torch.set_num_threads(1)
    names = {"A": adbench.HALF_A, "B": adbench.HALF_B, "all": adbench.HALF_A + adbench.HALF_B}[args.half]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["dataset"], r["seed"], r["k"], r["variant"]))
    synthetic = adbench._synthetic()
    for base in names:
        X0, y0 = adbench.load_dataset(args.data_dir / f"{base}.parquet")
        kinds = ([] if args.skip_real else [None]) + list(args.synthetic)
        for kind, seed in ((kind, seed) for kind in kinds for seed in args.seeds):
            name = base if kind is None else f"{base}{adbench.KIND_SEP}{kind}"
            X, y = (X0, y0) if kind is None else synthetic.NormalModel(base, X0, y0, seed).make(kind)
            X_train, X_test, y_train, y_test = adbench.make_split(X, y, seed, 50_000)
            for k in args.k:
                known = adbench.choose_labels(y_train, k, seed, name)
                for weight in args.weight:
                    variant = f"label_weight={weight:g}"
                    if (name, seed, k, variant) in done:
                        continue
                    start = time.perf_counter()
                    det = VAEDetector(random_state=seed, label_weight=weight).fit(X_train, known)
                    scores = -det.score_samples(X_test)
                    roc, pr = adbench.evaluate(scores, y_test)
                    record = {"dataset": name, "seed": seed, "k": k, "variant": variant, "roc": roc, "pr": pr,
                              "fit_s": round(time.perf_counter() - start, 2)}
                    with args.out.open("a") as f:
                        f.write(json.dumps(record) + "\n")
                    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
