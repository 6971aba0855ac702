"""The fast scoring path gives exactly the model's own likelihood terms.

``vae_anomaly.model.inference`` evaluates the network in small chunks with in-place
operations; these tests pin it, bit for bit, to a plain evaluation through
:meth:`TabularVAE.feature_terms` and the ELBO formula, so a speed-up can
never change what users see.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from vae_anomaly import VAEDetector
from vae_anomaly.features.encoder import TabularPreprocessor
from vae_anomaly.features.scaling import quantile_forward
from vae_anomaly.model import inference
from vae_anomaly.model.tensors import to_tensors
from vae_anomaly.model.vae import kl_to_standard_normal
from vae_anomaly.scoring.numpy_engine import NumpyEngine
from vae_anomaly.scoring.torch_engine import TorchEngine


def _reference(module, data, kind):
    """Scores and terms from one unchunked pass through the module's public methods."""
    x, observed, codes = data
    with torch.no_grad():
        mu, log_var = module.encode(module.assemble(x, observed, codes))
        num, cat = module.feature_terms(x, observed, codes, mu)
        if kind == "reconstruction":
            mean, _ = module.decode(mu)
            num = torch.where(observed, (x - mean).pow(2), torch.zeros_like(x))
            s = num.double().sum(1) + cat.double().sum(1)
        else:
            s = num.double().sum(1) + cat.double().sum(1) + kl_to_standard_normal(mu, log_var).double()
    return s.numpy(), torch.cat([num, cat], dim=1).double().numpy()


@pytest.fixture(scope="module")
def mixed():
    rng = np.random.default_rng(0)
    n = 1200
    frame = pd.DataFrame(rng.normal(size=(n, 4)) @ rng.normal(size=(4, 4)), columns=list("abcd"))
    frame["e"] = np.exp(2 * rng.normal(size=n))  # heavy-tailed: asinh-compressed by the robust scaler
    frame.loc[rng.random(n) < 0.05, "b"] = np.nan
    frame["kind"] = rng.choice(["x", "y", "z"], size=n)
    frame.loc[rng.random(n) < 0.05, "kind"] = None
    return frame


@pytest.mark.parametrize("kind,likelihood", [("elbo", "student-t"), ("elbo", "gaussian"),
                                             ("reconstruction", "student-t")])
@pytest.mark.parametrize("missing", [True, False])
def test_chunked_in_place_pass_equals_the_module(mixed, kind, likelihood, missing):
    frame = mixed if missing else mixed.fillna({"b": 0.0, "kind": "x"})
    det = VAEDetector(score_type=kind, likelihood=likelihood, max_iter=3, random_state=0).fit(frame)
    data = to_tensors(det.preprocessor_.transform(frame), "cpu")
    ref_scores, ref_terms = _reference(det.module_, data, kind)
    for chunk in (inference.CHUNK, 500, 100):  # tails of 200 and 100 rows are padded
        scores, terms = inference.score_and_terms(det.module_, data, kind, chunk=chunk)
        assert np.array_equal(scores, ref_scores)
        assert np.array_equal(terms, ref_terms)
        assert np.array_equal(inference.score_rows(det.module_, data, kind, chunk=chunk), ref_scores)
        assert np.array_equal(inference.feature_terms(det.module_, data, kind, chunk=chunk), ref_terms)


@pytest.mark.parametrize("scaler", ["robust", "standard", "quantile"])
def test_column_wise_transform_equals_block_scaling(mixed, scaler):
    numeric = mixed[list("abcde")]
    pre = TabularPreprocessor(scaler=scaler).fit(numeric)
    block = numeric.to_numpy(dtype=np.float64)
    if scaler == "robust":
        expected = (block - pre.center_) / pre.scale_
        expected[:, pre.heavy_] = np.arcsinh(expected[:, pre.heavy_])
        assert pre.heavy_.any()
    elif scaler == "standard":
        expected = (block - pre.mean_) / pre.std_
    else:  # the map is applied to sorted values, for speed; it must not matter
        expected = np.column_stack([quantile_forward(block[:, j], pre.quantiles_[j], pre.scale_[j])
                                    for j in range(block.shape[1])])
    enc = pre.transform(numeric)
    assert enc.num.flags.c_contiguous and enc.num.dtype == np.float32
    assert np.array_equal(enc.num, expected.astype(np.float32), equal_nan=True)
    assert np.array_equal(pre.scale_values(block), expected, equal_nan=True)


# ------------------------------------------------------------------------------------------
# The NumPy engine (CPU scoring, and all of `vae-detect score`)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,likelihood", [("elbo", "student-t"), ("elbo", "gaussian"),
                                             ("reconstruction", "student-t")])
def test_numpy_engine_matches_the_torch_network(mixed, kind, likelihood):
    det = VAEDetector(score_type=kind, likelihood=likelihood, max_iter=3, random_state=0).fit(mixed)
    probe = mixed.copy()
    probe.loc[:20, "kind"] = "never seen"  # the extra "unseen level" logit
    probe.loc[30:40, ["a", "e"]] = np.nan
    enc = det.preprocessor_.transform(probe)
    numpy_engine = det.scorer().engine  # the engine the estimator scores with on CPU
    assert isinstance(numpy_engine, NumpyEngine)
    ours, our_terms = numpy_engine.raw_scores(enc, True)
    ref, ref_terms = TorchEngine(det.module_, kind).raw_scores(enc, True)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(our_terms, ref_terms, rtol=1e-5, atol=1e-4)
    assert np.all(our_terms[30:41, [0, 4]] == 0)  # missing cells add nothing here


def test_cpu_estimator_scores_with_the_numpy_engine(mixed):
    det = VAEDetector(max_iter=3, random_state=0).fit(mixed)
    assert isinstance(det.scorer().engine, NumpyEngine)
    assert isinstance(VAEDetector(max_iter=3, n_samples=4, random_state=0).fit(mixed).scorer().engine,
                      TorchEngine)


def test_scoring_from_a_file_equals_the_estimator_and_needs_no_torch(mixed, tmp_path):
    det = VAEDetector(max_iter=3, random_state=0).fit(mixed)
    det.save(tmp_path / "m.vae")
    mixed.to_parquet(tmp_path / "rows.parquet")
    expected = det.score_details(mixed)
    code = f"""
import sys
import numpy as np, pandas as pd
from vae_anomaly.persistence.modelfile import load_scorer
scorer = load_scorer({str(tmp_path / "m.vae")!r})
d = scorer.score_details(pd.read_parquet({str(tmp_path / "rows.parquet")!r}))
np.save({str(tmp_path / "scores.npy")!r}, np.column_stack([d.anomaly_score, d.p_value, d.contributions]))
print(sorted(m for m in ("torch", "sklearn", "scipy") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", "scoring a model file imported " + out.stdout
    got = np.load(tmp_path / "scores.npy")
    assert np.array_equal(got, np.column_stack([expected.anomaly_score, expected.p_value,
                                                expected.contributions]))
