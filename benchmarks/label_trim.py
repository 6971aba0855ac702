"""What a few known anomalies change: ``VAEDetector.fit(X)`` against ``fit(X, y)`` with k labels.

Usage::

    python benchmarks/label_trim.py                                 # 3 sets, 3 seeds, k = 10
    python benchmarks/label_trim.py --datasets 6_cardio --seeds 0 1 --k 10 30

For each ADBench set and seed, the rows are split as ``benchmarks/adbench.py``
splits them (70 % / 30 %, stratified, seeded); k anomalies of the training
split are drawn with the seed and labelled (``y = 1``; every other training
row 0). The same ``VAEDetector(random_state=seed, label_weight=W)`` is fitted without labels,
with the k labels, and with every training anomaly labelled (the ceiling),
and scored on the test split: AUC-ROC and AUC-PR of the anomaly score, the
share of normal test rows flagged (FPR, target 0.01) and of anomalous test
rows flagged (TPR). ``--label-weight`` sets W: 0 (the default here) is
Label-Trim alone, as this script first measured it; 1 adds the library's
default training term (:mod:`vae_anomaly.model.labelled`). Nothing is
tuned to these numbers. Prints one Markdown table, one row per set, seed
and labelling, and the means over seeds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from adbench import load_dataset, make_split  # noqa: E402

DATA = HERE.parents[1] / "shared" / "datasets" / "adbench"
DATASETS = ("6_cardio", "2_annthyroid", "38_thyroid")
MAX_ROWS = 50_000


def labelled(y_train: np.ndarray, k: int | None, seed: int) -> np.ndarray:
    """0/1 labels of the training rows: k anomalies drawn with ``seed`` (None: every anomaly)."""
    anomalies = np.flatnonzero(y_train == 1)
    chosen = anomalies if k is None else np.random.default_rng(seed).choice(anomalies, k, replace=False)
    out = np.zeros(len(y_train), dtype=np.int64)
    out[chosen] = 1
    return out


def run(name: str, seed: int, ks: list[int], label_weight: float = 0.0) -> list[dict]:
    """One set and seed: a row of metrics for no labels, each k, and every training anomaly labelled."""
    import torch

    from vae_anomaly import VAEDetector

    torch.set_num_threads(1)
    X, y = load_dataset(DATA / f"{name}.parquet")
    X_train, X_test, y_train, y_test = make_split(X, y, seed, MAX_ROWS)
    rows = []
    for k in [0, *ks, None]:
        y_fit = None if k == 0 else labelled(y_train, k, seed)
        det = VAEDetector(random_state=seed, label_weight=label_weight).fit(X_train, y_fit)
        score = -det.score_samples(X_test)
        flagged = det.predict(X_test) == -1
        rows.append({"dataset": name, "seed": seed, "labels": "all" if k is None else str(k),
                     "n_labels": int(0 if y_fit is None else y_fit.sum()),
                     "auc_roc": roc_auc_score(y_test, score),
                     "auc_pr": average_precision_score(y_test, score),
                     "fpr": float(flagged[y_test == 0].mean()), "tpr": float(flagged[y_test == 1].mean()),
                     "threshold": float(det.threshold_)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--k", nargs="+", type=int, default=[10], help="labelled training anomalies")
    parser.add_argument("--label-weight", type=float, default=0.0,
                        help="VAEDetector's label_weight (0: Label-Trim alone)")
    args = parser.parse_args(argv)
    rows = []
    for name in args.datasets:
        for seed in args.seeds:
            rows += run(name, seed, args.k, args.label_weight)
            print(f"done {name} seed {seed}", file=sys.stderr, flush=True)
    head = "| set | seed | labels | AUC-ROC | AUC-PR | FPR (normal test rows) | TPR | threshold |"
    print(head + "\n|" + "---|" * 8)
    for r in rows:
        print(f"| {r['dataset']} | {r['seed']} | {r['labels']} ({r['n_labels']}) | {r['auc_roc']:.4f} | "
              f"{r['auc_pr']:.4f} | {r['fpr']:.4f} | {r['tpr']:.4f} | {r['threshold']:.3g} |")
    print("\nMeans over seeds\n\n| set | labels | AUC-ROC | AUC-PR | FPR | TPR |\n|---|---|---|---|---|---|")
    for name in args.datasets:
        for lab in ["0", *map(str, args.k), "all"]:
            got = [r for r in rows if r["dataset"] == name and r["labels"] == lab]
            means = {m: np.mean([r[m] for r in got]) for m in ("auc_roc", "auc_pr", "fpr", "tpr")}
            print(f"| {name} | {lab} | {means['auc_roc']:.4f} | {means['auc_pr']:.4f} | {means['fpr']:.4f} | "
                  f"{means['tpr']:.4f} |")


if __name__ == "__main__":
    main()
