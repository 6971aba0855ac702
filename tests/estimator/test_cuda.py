"""The CUDA path: fit on a GPU, agree with a CPU fit, score a GPU model on the CPU, ``device="auto"``.

Every test here is marked ``cuda`` and skips, with its reason, where
``torch.cuda.is_available()`` is false (``pytest -m cuda`` runs only these).

Why the tolerances are what they are: a fit on CUDA starts from the same
weights, split and minibatch order as on the CPU, but trains under bf16
autocast and draws its latent samples from a generator on the GPU, so it
follows another training path; it cannot match the CPU fit to the last
bit. How far two good fits lie apart was measured on the CPU with three
seeds on the bundled sample: AUC-ROC within 0.005 of each other, Spearman
correlation of the scores 0.965 to 0.976, 0.9% to 1.3% of the rows flagged
(target 1%). The tests allow about four times that spread. A model *file*
is another matter: its weights are the same wherever it is scored, and
float32 on the GPU against float64 on the CPU differ by float32 rounding,
so those scores must agree to 1e-4 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="CUDA is not available (torch.cuda.is_available())"),
]


@pytest.fixture(scope="module")
def fits(tabular_features):
    from vae_anomaly import VAEDetector

    cpu = VAEDetector(random_state=0, device="cpu").fit(tabular_features)
    gpu = VAEDetector(random_state=0, device="cuda").fit(tabular_features)
    return cpu, gpu


def test_fit_on_cuda_trains_there(fits):
    _, gpu = fits
    assert gpu.device_ == "cuda"
    assert next(gpu.module_.parameters()).is_cuda
    assert np.isfinite(gpu.loss_curve_).all() and gpu.n_iter_ >= 1


def test_cuda_fit_detects_like_a_cpu_fit(fits, tabular, tabular_features):
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    cpu, gpu = fits
    s_cpu, s_gpu = -cpu.score_samples(tabular_features), -gpu.score_samples(tabular_features)
    auc_cpu, auc_gpu = roc_auc_score(tabular["label"], s_cpu), roc_auc_score(tabular["label"], s_gpu)
    assert abs(auc_gpu - auc_cpu) < 0.02, (auc_cpu, auc_gpu)
    assert spearmanr(s_cpu, s_gpu)[0] > 0.9
    flagged = (gpu.predict(tabular_features) == -1).mean()
    assert 0.003 <= flagged <= 0.03, flagged


def test_model_saved_on_cuda_scores_the_same_on_cpu(fits, tabular_features, tmp_path):
    from vae_anomaly import VAEDetector
    from vae_anomaly.persistence.modelfile import load_scorer

    _, gpu = fits
    path = tmp_path / "gpu.vae"
    gpu.save(path)
    on_gpu = -gpu.score_samples(tabular_features)
    on_cpu = load_scorer(path).score_details(tabular_features)
    np.testing.assert_allclose(on_cpu.anomaly_score, on_gpu, rtol=1e-4, atol=1e-4)
    near = np.isclose(on_gpu, gpu.threshold_, rtol=1e-4, atol=1e-4)
    assert ((on_cpu.is_anomaly == (gpu.predict(tabular_features) == -1)) | near).all()
    loaded = VAEDetector.load(path, device="cpu")
    assert loaded.device_ == "cpu"
    np.testing.assert_allclose(-loaded.score_samples(tabular_features), on_gpu, rtol=1e-4, atol=1e-4)


def test_auto_device_picks_cuda(tabular_features):
    from vae_anomaly import VAEDetector

    det = VAEDetector(random_state=0, device="auto", max_iter=2).fit(tabular_features.iloc[:500])
    assert det.device_ == "cuda"
    assert next(det.module_.parameters()).is_cuda
