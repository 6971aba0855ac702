"""``vae-detect score`` runs its drift check without importing SciPy, scikit-learn or torch, a run
without a terminal imports no progress bar, and the command line brings no pydantic (issue 28, cold
start: Typer 0.29 loads it for every typed option)."""

import json
import subprocess
import sys

import pandas as pd

from tests.helpers import correlated_normal
from vae_anomaly import VAEDetector

HEAVY = ("scipy", "sklearn", "torch", "tqdm", "pydantic")

# Runs the CLI's score command in this interpreter, then prints the heavy modules it imported.
SCORE_THEN_LIST_MODULES = f"""
import json, sys
from vae_anomaly.cli.app import main
sys.argv = ["vae-detect", "score", *sys.argv[1:]]
try:
    main()
except SystemExit as stop:
    assert not stop.code, stop.code
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})))
"""


def test_score_and_its_drift_check_import_no_scipy_sklearn_torch_or_pydantic(tmp_path, one_torch_thread):
    frame = pd.DataFrame(correlated_normal(600, seed=0), columns=[f"x{j}" for j in range(5)])
    VAEDetector(max_iter=3, random_state=0).fit(frame).save(tmp_path / "m.vae")
    shifted = frame.assign(x1=frame["x1"] + 2.0)  # drift found: its p-values are computed all the same
    shifted.to_parquet(tmp_path / "rows.parquet")
    rows, model, out = (str(tmp_path / name) for name in ("rows.parquet", "m.vae", "out.parquet"))
    command = [sys.executable, "-c", SCORE_THEN_LIST_MODULES, rows, "-m", model, "-o", out, "--json"]
    run = subprocess.run(command, capture_output=True, text=True, check=True)
    *summary, imported = run.stdout.strip().splitlines()
    drift = json.loads("\n".join(summary))["drift"]
    assert drift["n_rows"] == 600 and drift["detected"] is True and drift["columns"] is not None
    heavy = json.loads(imported)
    assert heavy == [], f"vae-detect score imported {len(heavy)} modules of {HEAVY}, first {heavy[:8]}"
