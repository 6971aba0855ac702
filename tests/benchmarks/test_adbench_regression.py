"""Detection-quality floor on real labelled data (ADBench), with the default settings.

Three small ADBench sets, one seed, the benchmark's protocol (stratified
70/30 split, fit on the 70% without labels, AUC-ROC on the 30%). The floors
sit a few points under what the defaults scored when they were chosen (see
docs/benchmarks.md), so a change that makes detection clearly worse fails.
The data are read in place from ../shared/datasets and never copied here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from tests.helpers import SHARED
from vae_anomaly import VAEDetector

ADBENCH = SHARED / "adbench"

# dataset -> AUC-ROC floor (seed 0). The defaults measured 0.961, 0.746 and 0.844 here
# when they were chosen (docs/benchmarks.md); the floors leave about 0.03-0.05 of room.
FLOORS = {
    "38_thyroid": 0.93,
    "6_cardio": 0.70,
    "20_letter": 0.80,
}

pytestmark = pytest.mark.skipif(
    not ADBENCH.is_dir(),
    reason=f"ADBench data not found at {ADBENCH} (shared datasets are not in this checkout)",
)


@pytest.mark.slow
@pytest.mark.parametrize("name,floor", sorted(FLOORS.items()))
def test_default_auc_roc_stays_above_floor(name, floor):
    frame = pd.read_parquet(ADBENCH / f"{name}.parquet")
    y = frame.pop("label").to_numpy()
    X = frame.to_numpy(dtype=np.float64)
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    det = VAEDetector(random_state=0).fit(X_train)
    auc = roc_auc_score(y_test, -det.score_samples(X_test))
    assert auc >= floor, f"{name}: AUC-ROC {auc:.3f} fell below the floor {floor}"
