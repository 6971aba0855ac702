"""Which part of the default windowed model's score finds (or hides) each file's events.

Usage::

    python benchmarks/sensor_terms.py ../shared/datasets --seeds 0,1,2

For each single-channel NAB file (whole-file protocol of ``benchmarks/sensors.py``:
fit and score the whole file, ``window=16``, other parameters at their defaults)
the anomaly score is split into its parts: one negative log-likelihood term per
window statistic (value, difference, mean, std, min, max) and the latent KL
term. For each part the table gives

* ``AP``: the AUC-PR of that part alone against the labels;
* ``sd``: its standard deviation over the file's rows, which says how much it
  moves the ranking of the sum.

A part with a large ``sd`` and an ``AP`` near the label rate (about 0.10 on
NAB) drowns the informative parts.

A second table, over all five files of the benchmark (SKAB too), gives the
AUC-PR of other ways to add the parts up, from the same fitted models:

* ``score``: the library's score (the sum of the parts);
* ``terms only``: the likelihood terms without the KL term;
* ``KL only``: the KL term alone;
* ``tail sum``: each part replaced by ``-log`` of its upper-tail rank share
  within the file, ``-log(rank / (n + 1))`` (rank 1 = largest), then summed:
  every part then counts by how rare its value is, not by its size. Ranked
  within the scored file itself, so it sees the scored rows (an upper bound
  for what a calibrated version could do).

Means over the seeds; printed as Markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sensors  # noqa: E402 - the benchmark's loader and file list

PARTS = ("value", "diff", "mean", "std", "min", "max", "KL")


def score_parts(frame, time_column: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly score (n,) and its parts (n, statistics + 1), the KL term last, in the frame's row order."""
    from vae_anomaly import VAEDetector
    from vae_anomaly.features.rows import missing_mask

    det = VAEDetector(window=sensors.DEFAULT_W, time_column=time_column, random_state=seed).fit(frame)
    scorer = det.scorer()
    prep = scorer.prepare(scorer.model_columns(frame))
    raw, terms = scorer.engine.raw_scores(prep.enc, with_terms=True)
    kl = raw - terms.sum(axis=1)
    missing = missing_mask(prep.enc)
    terms = np.where(missing, det.feature_baseline_, terms)  # as the score counts a missing statistic
    score = det.score_details(frame).anomaly_score
    return score, np.column_stack([terms, kl])[prep.back]


def tail_sum(parts: np.ndarray) -> np.ndarray:
    """Sum over parts of -log(upper-tail rank / (n + 1)), ties sharing the largest rank."""
    import pandas as pd

    ranks = pd.DataFrame(parts).rank(method="max", ascending=False).to_numpy()
    return -np.log(ranks / (len(parts) + 1)).sum(axis=1)


def main(argv=None) -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir", type=Path, help="folder holding nab/")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    combos = {"score": None, "terms only": lambda p: p[:, :-1].sum(axis=1), "KL only": lambda p: p[:, -1],
              "tail sum": tail_sum}
    per_part, combined = [], []
    for s in sensors.SERIES:
        frame, y, _ = sensors.load(args.data_dir, s)
        ap, sd, comb = [], [], []
        for seed in seeds:
            score, parts = score_parts(frame, s.time_column, seed)
            comb.append([average_precision_score(y, score if f is None else f(parts))
                         for f in combos.values()])
            if parts.shape[1] == len(PARTS):  # one channel: each statistic separately
                ap.append([average_precision_score(y, parts[:, j]) for j in range(parts.shape[1])])
                sd.append(parts.std(axis=0))
        combined.append((s.name, np.mean(comb, axis=0)))
        if ap:
            per_part.append((s.name, np.mean(ap, axis=0), np.mean(sd, axis=0), np.mean(comb, axis=0)[0]))

    print(f"Single-channel files: AUC-PR (AP) and standard deviation (sd) of each part of the score; "
          f"W = {sensors.DEFAULT_W}, means over seeds {args.seeds}.\n")
    print("| file | score AP | " + " | ".join(f"{n} AP / sd" for n in PARTS) + " |")
    print("|---|---:|" + "---:|" * len(PARTS))
    for name, ap, sd, total in per_part:
        cells = " | ".join(f"{a:.3f} / {d:.2f}" for a, d in zip(ap, sd, strict=True))
        print(f"| {name} | {total:.3f} | {cells} |")
    print("\nAll files: AUC-PR of the parts added up in other ways (same models).\n")
    print("| file | " + " | ".join(combos) + " |")
    print("|---|" + "---:|" * len(combos))
    for name, values in combined:
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    means = np.mean([v for _, v in combined], axis=0)
    print("| **mean** | " + " | ".join(f"**{v:.3f}**" for v in means) + " |")


if __name__ == "__main__":
    main()
