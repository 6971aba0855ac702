"""Hash every number the package hands a user, to prove a refactor changed none of them.

For the tabular and the sensor samples, rows and windows, the Gaussian and
the Student-t likelihoods, through Python and through the CLI, it fits a
model with a fixed seed, scores the sample, and hashes the scores, flags,
p-values, thresholds, contributions and top features. It also saves each
model, so that files written by one version of the code can be scored by
another (``--models DIR`` writes them, ``--score-models DIR`` scores them).

Usage::

    python benchmarks/behaviour_hash.py --models /tmp/models-before > before.txt
    # ... change the code ...
    python benchmarks/behaviour_hash.py --score-models /tmp/models-before > after.txt
    diff before.txt after.txt

The output is one ``name  sha256`` line per case; equal files mean equal
behaviour, to the last bit.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TABULAR = ROOT / "sample_data" / "tabular.parquet"
SENSORS = ROOT / "sample_data" / "sensors.parquet"
CLI = [sys.executable, "-m", "vae_anomaly.cli.app"]

CASES = {
    # name: (sample, VAEDetector parameters, CLI fit options)
    "tabular-gaussian": (TABULAR, {}, ["--exclude", "label", "--exclude", "id"]),
    "tabular-student-t": (TABULAR, {"likelihood": "student-t"},
                          ["--exclude", "label", "--exclude", "id", "--likelihood", "student-t"]),
    "tabular-reconstruction": (TABULAR, {"score_type": "reconstruction"}, None),
    "tabular-iw8": (TABULAR, {"n_samples": 8}, None),
    "tabular-quantile": (TABULAR, {"scaler": "quantile"}, None),
    "sensors-summary-gaussian": (
        SENSORS, {"window": 16, "time_column": "timestamp", "group_column": "machine"},
        ["--exclude", "label", "--window", "16", "--time-column", "timestamp", "--group-column", "machine"]),
    "sensors-summary-student-t": (
        SENSORS, {"window": 16, "time_column": "timestamp", "group_column": "machine",
                  "likelihood": "student-t"},
        ["--exclude", "label", "--window", "16", "--time-column", "timestamp", "--group-column", "machine",
         "--likelihood", "student-t"]),
    "sensors-stack-gaussian": (
        SENSORS, {"window": 8, "time_column": "timestamp", "group_column": "machine",
                  "window_features": "stack"},
        ["--exclude", "label", "--window", "8", "--time-column", "timestamp", "--group-column", "machine",
         "--window-features", "stack"]),
}


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        if a.dtype == object:
            h.update("\x1f".join(map(str, a.ravel())).encode())
        else:
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(b"|")
    return h.hexdigest()[:16]


def _features(sample: Path) -> pd.DataFrame:
    return pd.read_parquet(sample).drop(columns=[c for c in ("label", "id") if c in pd.read_parquet(sample)])


def _python_lines(name: str, det, X: pd.DataFrame) -> list[str]:
    details = det.score_details(X)
    out = [
        f"{name} python details  {_digest(details.anomaly_score, details.is_anomaly, details.p_value, details.contributions, details.top_feature(), details.window_fill)}",  # noqa: E501
        f"{name} python threshold  {_digest(np.array([det.threshold_]), det.calibration_scores_)}",
        f"{name} python estimator  {_digest(det.score_samples(X), det.predict(X), det.p_values(X), det.decision_function(X))}",  # noqa: E501
        f"{name} python contributions  {_digest(np.asarray(det.feature_contributions(X)))}",
        f"{name} python transform  {_digest(det.transform(X))}",
    ]
    return out


def _scored_file_line(name: str, path: Path) -> str:
    t = pd.read_parquet(path)
    cols = [c for c in ("anomaly_score", "is_anomaly", "p_value", "top_feature", "window_fill") if c in t]
    return f"{name}  {_digest(*[t[c].astype(str).to_numpy() if c == 'top_feature' else t[c].to_numpy() for c in cols])}"  # noqa: E501


def run(models_out: Path | None, score_models: Path | None) -> None:
    from vae_anomaly import VAEDetector

    tmp = Path(tempfile.mkdtemp())
    lines = []
    for name, (sample, params, cli_opts) in CASES.items():
        X = _features(sample)
        det = VAEDetector(random_state=0, **params).fit(X)
        lines += _python_lines(name, det, X)
        if models_out is not None:
            models_out.mkdir(parents=True, exist_ok=True)
            det.save(models_out / f"{name}.vae")
        if score_models is not None:
            old = VAEDetector.load(score_models / f"{name}.vae")
            lines += [line.replace(" python ", " saved-model ") for line in _python_lines(name, old, X)]
        if cli_opts is not None:
            model = tmp / f"{name}.vae"
            subprocess.run([*CLI, "fit", str(sample), "-m", str(model), "--seed", "0", "-q", *cli_opts],
                           check=True)
            out = tmp / f"{name}.scores.parquet"
            subprocess.run([*CLI, "score", str(sample), "-m", str(model), "-o", str(out), "-q"], check=True)
            lines.append(_scored_file_line(f"{name} cli score", out))
            if score_models is not None:
                out2 = tmp / f"{name}.saved.scores.parquet"
                subprocess.run([*CLI, "score", str(sample), "-m", str(score_models / f"{name}.vae"), "-o",
                                str(out2), "-q"], check=True)
                lines.append(_scored_file_line(f"{name} cli saved-model score", out2))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="save each fitted model into this directory")
    parser.add_argument("--score-models", type=Path, help="also score the models saved in this directory")
    args = parser.parse_args()
    run(args.models, args.score_models)


if __name__ == "__main__":
    main()
