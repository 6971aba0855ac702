"""The GPU path measured in one go: training and scoring speed, CPU/GPU agreement, a GPU model on a CPU.

Four measurements, all in one process except the last, and all seeded:

1. **Training rows/s per epoch** at a large batch on synthetic rows
   (default 1,000,000 x 20 correlated floats): the training loop
   (:func:`vae_anomaly.model.training.train`, bf16 autocast on CUDA as in ``fit``)
   on the GPU, after one untimed warm-up epoch, then the same on the CPU on
   fewer rows (``--cpu-rows``) and epochs, in the same run. An epoch here
   is one pass over the training rows plus the held-out loss pass that
   early stopping reads, as in ``fit``.
2. **Scoring rows/s**: ``score_samples`` of a model fitted on the GPU, on
   the GPU (torch engine) and, loaded from its file, on the CPU (NumPy
   engine), over the same rows (the CPU on ``--cpu-rows`` of them).
3. **AUC-ROC agreement** of CPU and GPU fits with the defaults on three
   ADBench datasets (``--datasets``), split as ``benchmarks/adbench.py``
   does (seed 0, 70/30, stratified); skipped with a message when the data
   folder is absent.
4. **A GPU-trained model file scored in a CPU-only process**: a child
   process with ``CUDA_VISIBLE_DEVICES=""`` runs ``vae-detect score`` on
   rows that the GPU process also scored; the report gives the largest
   absolute and relative difference of the scores and whether every flag
   agrees.

Output: Markdown on stdout; with ``--out FILE.json`` also the JSON there
and the Markdown beside it (``FILE.md``). Progress goes to stderr.

On a machine without CUDA the script prints one line and exits 0.
``--dry-run`` runs every step on the CPU with small sizes (the "GPU" role
played by the CPU), so the whole script can be tested anywhere.

Usage::

    python benchmarks/gpu.py --out gpu.json             # on a CUDA machine, under 5 minutes
    python benchmarks/gpu.py --dry-run                  # every code path, on the CPU, in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
#: Default data folder, as in the usage of benchmarks/adbench.py (beside the repository).
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "datasets" / "adbench"
DEFAULT_DATASETS = ("6_cardio", "22_magic.gamma", "31_satimage-2")
NO_CUDA = ("CUDA is not available: nothing measured (python benchmarks/gpu.py --dry-run runs every step "
           "on the CPU)")


def log(message: str) -> None:
    """One progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def synthetic_rows(n: int, d: int, seed: int = 0):
    """``n`` x ``d`` float32 rows with correlated columns (a random mixing of Gaussian factors)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, max(2, d // 4)), dtype=np.float32)
    mixing = rng.standard_normal((factors.shape[1], d)).astype(np.float32)
    noise = 0.3 * rng.standard_normal((n, d), dtype=np.float32)
    return pd.DataFrame(factors @ mixing + noise, columns=[f"x{i}" for i in range(d)])


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def training_speed(frame, device: str, epochs: int, batch_size: int) -> dict:
    """Rows per second per epoch of the training loop on ``device`` (after one untimed epoch)."""
    import torch

    from vae_anomaly.features.encoder import TabularPreprocessor
    from vae_anomaly.model.sizing import held_out_rows, network_shape, train_config
    from vae_anomaly.model.tensors import to_tensors
    from vae_anomaly.model.training import train
    from vae_anomaly.model.vae import TabularVAE

    enc = TabularPreprocessor("robust", 50).fit(frame).transform(frame)
    held, fit_rows = held_out_rows(len(enc), 0.2, np.random.RandomState(0))
    train_t, held_t = to_tensors(enc.take(fit_rows), device), to_tensors(enc.take(held), device)
    hidden, latent = network_shape(enc.num.shape[1])
    gen = torch.Generator().manual_seed(0)
    module = TabularVAE(enc.num.shape[1], [], [], hidden, latent, -4.0, gen).to(device)

    def run(n_epochs: int) -> float:
        cfg = train_config(len(fit_rows), batch_size=batch_size, max_iter=n_epochs, learning_rate_init=3e-3,
                           beta=1.0, kl_warmup=10, early_stopping=False, n_iter_no_change=10, tol=1e-4,
                           trim_fraction=0.15, verbose=False)
        _sync(device)
        start = time.perf_counter()
        train(module, train_t, held_t, cfg, gen)
        _sync(device)
        return time.perf_counter() - start

    run(1)  # warm-up: CUDA context, kernels, allocator
    seconds = run(epochs)
    return {"device": device, "rows": len(fit_rows), "held_out_rows": len(held), "columns": frame.shape[1],
            "hidden": hidden, "latent": latent, "batch_size": min(batch_size, len(fit_rows)),
            "epochs": epochs, "seconds": round(seconds, 4),
            "rows_per_s_per_epoch": round(len(fit_rows) * epochs / seconds)}


def fit_model(frame, device: str, epochs: int, batch_size: int):
    """A ``VAEDetector`` fitted on ``device`` with a fixed number of epochs, and its fit time."""
    from vae_anomaly import VAEDetector

    det = VAEDetector(device=device, batch_size=batch_size, max_iter=epochs, early_stopping=False,
                      random_state=0)
    start = time.perf_counter()
    det.fit(frame)
    _sync(device)
    return det, time.perf_counter() - start


def scoring_speed(det, frame, repeats: int = 3) -> dict:
    """Median rows per second of ``det.score_samples`` over ``frame`` (after one untimed call)."""
    det.score_samples(frame.iloc[:1000])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        det.score_samples(frame)
        _sync(str(det.device_))
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    return {"device": str(det.device_), "rows": len(frame), "seconds": round(seconds, 4),
            "rows_per_s": round(len(frame) / seconds)}


def auc_agreement(data_dir: Path, names, gpu: str, max_rows: int) -> dict:
    """AUC-ROC of default fits on the CPU and on ``gpu``, per dataset, on the adbench.py split (seed 0)."""
    if not data_dir.is_dir():
        return {"skipped": f"no ADBench folder at {data_dir}"}
    sys.path.insert(0, str(HERE))
    import adbench
    from sklearn.metrics import roc_auc_score

    from vae_anomaly import VAEDetector

    rows = []
    for name in names:
        path = data_dir / f"{name}.parquet"
        if not path.exists():
            rows.append({"dataset": name, "skipped": "file not found"})
            continue
        X_train, X_test, _, y_test = adbench.make_split(*adbench.load_dataset(path), 0, max_rows)
        row = {"dataset": name, "train_rows": len(X_train)}
        for role, device in (("cpu", "cpu"), ("gpu", gpu)):
            start = time.perf_counter()
            det = VAEDetector(random_state=0, device=device).fit(X_train)
            row[f"{role}_fit_s"] = round(time.perf_counter() - start, 3)
            row[f"{role}_auc_roc"] = round(float(roc_auc_score(y_test, -det.score_samples(X_test))), 4)
        row["difference"] = round(row["gpu_auc_roc"] - row["cpu_auc_roc"], 4)
        rows.append(row)
        log(f"auc {name}: cpu {row['cpu_auc_roc']}, gpu {row['gpu_auc_roc']}")
    return {"seed": 0, "max_rows": max_rows, "datasets": rows}


def cpu_process_scores(det, frame, workdir: Path) -> dict:
    """Scores of ``det``'s model file from a child process that sees no GPU, against this process's."""
    import pandas as pd

    model, data, out = workdir / "gpu.vae", workdir / "rows.parquet", workdir / "rows.scores.parquet"
    det.save(model)
    frame.to_parquet(data)
    here = -det.score_samples(frame)
    flags = det.predict(frame) == -1
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                           env=env, capture_output=True, text=True, check=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vae_anomaly.cli.app", "score", str(data), "-m", str(model),
                    "-o", str(out), "-q"], env=env, check=True, cwd=REPO_ROOT)
    seconds = time.perf_counter() - start
    there = pd.read_parquet(out)
    diff = np.abs(there["anomaly_score"].to_numpy() - here)
    return {"rows": len(frame), "model_trained_on": str(det.device_), "child_sees_cuda": probe.stdout.strip(),
            "child_wall_s": round(seconds, 3), "max_abs_diff": float(diff.max()),
            "max_rel_diff": float((diff / np.maximum(np.abs(here), 1e-12)).max()),
            "flags_agree": int((there["is_anomaly"].to_numpy() == flags).sum()),
            "threshold": float(det.threshold_)}


def markdown(report: dict) -> str:
    """The report as Markdown tables."""
    lines = [f"# GPU benchmark ({report['mode']})", "", f"{report['device_name']}; torch {report['torch']}, "
             f"{report['cpu_threads']} CPU threads; total {report['total_s']} s", "",
             "| training loop | device | rows | batch | epochs | s | rows/s per epoch |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for role in ("gpu", "cpu"):
        t = report["training"][role]
        lines.append(f"| {role} | {t['device']} | {t['rows']:,} | {t['batch_size']:,} | {t['epochs']} | "
                     f"{t['seconds']} | {t['rows_per_s_per_epoch']:,} |")
    lines += ["", f"Fit of the scoring model ({report['fit']['epochs']} epochs, "
              f"batch {report['fit']['batch_size']:,}):"
              f" {report['fit']['seconds']} s on {report['fit']['device']}.", "",
              "| score_samples | device | rows | s | rows/s |", "|---|---|---:|---:|---:|"]
    for role in ("gpu", "cpu"):
        s = report["scoring"][role]
        lines.append(f"| {role} | {s['device']} | {s['rows']:,} | {s['seconds']} | {s['rows_per_s']:,} |")
    auc = report["auc"]
    lines.append("")
    if "skipped" in auc:
        lines.append(f"AUC agreement skipped: {auc['skipped']}.")
    else:
        lines += ["| dataset (seed 0) | train rows | AUC-ROC cpu | AUC-ROC gpu | difference | fit s cpu "
                  "| fit s gpu |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in auc["datasets"]:
            if "skipped" in r:
                lines.append(f"| {r['dataset']} | {r['skipped']} | | | | | |")
            else:
                lines.append(f"| {r['dataset']} | {r['train_rows']:,} | {r['cpu_auc_roc']} | "
                             f"{r['gpu_auc_roc']} | {r['difference']:+} | {r['cpu_fit_s']} | "
                             f"{r['gpu_fit_s']} |")
    c = report["cpu_process"]
    lines += ["", f"Model trained on {c['model_trained_on']}, scored by `vae-detect score` in a process with "
              f"CUDA_VISIBLE_DEVICES=\"\" (child sees CUDA: {c['child_sees_cuda']}): {c['rows']:,} rows, "
              f"largest score difference {c['max_abs_diff']:.3g} (relative {c['max_rel_diff']:.3g}), "
              f"flags agree on {c['flags_agree']:,} of {c['rows']:,} rows.", ""]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="every step on the CPU, small sizes")
    p.add_argument("--device", default="cuda", help="the device measured against the CPU (default cuda)")
    p.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (default 1,000,000)")
    p.add_argument("--columns", type=int, default=20)
    p.add_argument("--cpu-rows", type=int, default=200_000, help="rows of the CPU's training and scoring")
    p.add_argument("--epochs", type=int, default=5, help="timed epochs on the GPU")
    p.add_argument("--cpu-epochs", type=int, default=2, help="timed epochs on the CPU")
    p.add_argument("--batch-size", type=int, default=65536)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ADBench Parquet folder")
    p.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    p.add_argument("--max-rows", type=int, default=50_000, help="ADBench sets above this are subsampled")
    p.add_argument("--check-rows", type=int, default=100_000, help="rows scored in the CPU-only process")
    p.add_argument("--out", type=Path, help="also write the JSON here and the Markdown beside it (.md)")
    args = p.parse_args(argv)
    if args.dry_run:
        args.device, args.rows, args.cpu_rows, args.epochs, args.cpu_epochs = "cpu", 20_000, 5_000, 2, 1
        args.batch_size, args.max_rows, args.check_rows = 4096, 2_000, 2_000
    return args


def main(argv=None) -> int:
    """Run the four measurements; exit 0 (also when CUDA is missing and there is nothing to measure)."""
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    sys.path.insert(0, str(REPO_ROOT))
    began = time.perf_counter()
    gpu = args.device
    frame = synthetic_rows(args.rows, args.columns)
    log(f"training loop on {gpu}: {args.rows:,} rows")
    training = {"gpu": training_speed(frame, gpu, args.epochs, args.batch_size)}
    log(f"training loop on cpu: {args.cpu_rows:,} rows")
    training["cpu"] = training_speed(frame.iloc[:args.cpu_rows], "cpu", args.cpu_epochs, args.batch_size)
    log("fit and scoring")
    det, fit_s = fit_model(frame, gpu, 2, args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        det.save(Path(tmp) / "m.vae")
        from vae_anomaly import VAEDetector

        on_cpu = VAEDetector.load(Path(tmp) / "m.vae", device="cpu")
        scoring = {"gpu": scoring_speed(det, frame), "cpu": scoring_speed(on_cpu, frame.iloc[:args.cpu_rows])}
        log("model file in a CPU-only process")
        cpu_process = cpu_process_scores(det, frame.iloc[:args.check_rows], Path(tmp))
    auc = auc_agreement(args.data, [s for s in args.datasets.split(",") if s], gpu, args.max_rows)
    report = {
        "mode": "dry run on the CPU" if args.dry_run else f"{gpu} against the CPU",
        "device_name": (torch.cuda.get_device_name(gpu) if gpu.startswith("cuda")
                        else platform.processor() or "cpu"),
        "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
        "training": training, "fit": {"device": gpu, "epochs": 2, "batch_size": args.batch_size,
                                      "seconds": round(fit_s, 3)},
        "scoring": scoring, "auc": auc, "cpu_process": cpu_process,
        "total_s": round(time.perf_counter() - began, 1),
    }
    text = markdown(report)
    print(text)
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
