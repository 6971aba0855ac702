"""``covariance_type="full"``: the residuals' covariance, fitted after training, in the score."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tests.helpers import correlated_normal
from vae_anomaly import VAEDetector
from vae_anomaly.model.residuals import residual_covariance
from vae_anomaly.scoring.numpy_engine import NumpyEngine
from vae_anomaly.scoring.torch_engine import TorchEngine

FULL = dict(covariance_type="full", max_iter=30, random_state=0)


def _broken_relations(n_normal=400, n_broken=40, d=8):
    """Normal rows, and rows whose every column is drawn on its own from the normal rows' values."""
    test = correlated_normal(n_normal, d=d, seed=1)
    rng = np.random.default_rng(5)
    broken = np.column_stack([rng.permutation(test[:, j]) for j in range(d)])[:n_broken]
    return np.vstack([test, broken]), np.r_[np.zeros(n_normal), np.ones(n_broken)]


@pytest.fixture(scope="module")
def mixed():
    rng = np.random.default_rng(0)
    n = 1200
    frame = pd.DataFrame(rng.normal(size=(n, 4)) @ rng.normal(size=(4, 4)), columns=list("abcd"))
    frame.loc[rng.random(n) < 0.05, "b"] = np.nan
    frame["kind"] = rng.choice(["x", "y", "z"], size=n)
    return frame


def test_full_covariance_finds_rows_that_break_relations_between_columns():
    X = correlated_normal(2000, d=8, seed=0)
    rows, y = _broken_relations()
    auc = {cov: roc_auc_score(y, -VAEDetector(**{**FULL, "covariance_type": cov}).fit(X).score_samples(rows))
           for cov in ("diag", "full")}
    # Each broken row's values are ordinary one by one; only their relations give them away.
    assert auc["full"] >= 0.85
    assert auc["full"] >= auc["diag"] + 0.1


def test_default_is_diag_and_student_t_ignores_full(mixed):
    assert VAEDetector().covariance_type == "diag"
    assert not VAEDetector(max_iter=3, random_state=0).fit(mixed).module_.full_covariance
    det = VAEDetector(likelihood="student-t", covariance_type="full", max_iter=3, random_state=0).fit(mixed)
    assert not det.module_.full_covariance


def test_numpy_engine_matches_the_torch_network_with_full_covariance(mixed):
    det = VAEDetector(**FULL).fit(mixed)
    assert det.module_.full_covariance
    probe = mixed.copy()
    probe.loc[30:40, ["a", "c"]] = np.nan
    enc = det.preprocessor_.transform(probe)
    engine = det.scorer().engine
    assert isinstance(engine, NumpyEngine)
    ours, our_terms = engine.raw_scores(enc, True)
    ref, ref_terms = TorchEngine(det.module_, "elbo").raw_scores(enc, True)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(our_terms, ref_terms, rtol=1e-6, atol=1e-5)
    assert np.all(our_terms[30:41, [0, 2]] == 0)  # missing cells add nothing here


def test_full_covariance_scores_do_not_depend_on_the_other_rows(mixed):
    det = VAEDetector(**FULL).fit(mixed)
    rows = mixed.iloc[:300]
    together = det.score_samples(rows)
    one_by_one = np.concatenate([det.score_samples(rows.iloc[i:i + 1]) for i in range(0, 300, 37)])
    assert np.array_equal(one_by_one, together[::37])
    assert np.array_equal(det.score_samples(rows.iloc[::-1])[::-1], together)


def test_full_covariance_round_trips_through_a_model_file_without_torch(mixed, tmp_path):
    det = VAEDetector(**FULL).fit(mixed)
    det.save(tmp_path / "m.vae")
    with zipfile.ZipFile(tmp_path / "m.vae") as zf:
        assert json.loads(zf.read("metadata.json"))["network"]["covariance_type"] == "full"
    assert np.array_equal(VAEDetector.load(tmp_path / "m.vae").score_samples(mixed), det.score_samples(mixed))
    mixed.to_parquet(tmp_path / "rows.parquet")
    code = f"""
import sys
import numpy as np, pandas as pd
from vae_anomaly.persistence.modelfile import load_scorer
rows = pd.read_parquet({str(tmp_path / "rows.parquet")!r})
d = load_scorer({str(tmp_path / "m.vae")!r}).score_details(rows)
np.save({str(tmp_path / "s.npy")!r}, d.anomaly_score)
print("torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert np.array_equal(np.load(tmp_path / "s.npy"), det.score_details(mixed).anomaly_score)


def test_residual_covariance_trims_the_top_scores_and_bounds_every_direction():
    rng = np.random.default_rng(0)
    r = rng.normal(scale=0.01, size=(500, 3))
    r[:, 1] = r[:, 0]  # perfectly correlated: one direction has no spread at all
    scores = np.arange(500.0)
    r[-50:] += 5.0  # the 50 highest-scoring rows sit far away
    found = residual_covariance(r, scores, 0.1, min_log_var=-4.0)
    cov = np.linalg.inv(found.precision)
    assert np.all(np.linalg.eigvalsh(cov) >= np.exp(-4.0) * (1 - 1e-9))
    assert np.all(np.abs(found.location) < 0.01)  # the far rows were left out
    assert np.allclose(found.offset, 0.5 * (np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] / 3))
    assert residual_covariance(r[:1], scores[:1], 0.0, -4.0) is None  # one row: nothing to estimate


@pytest.mark.filterwarnings("ignore::vae_anomaly.exceptions.CalibrationWarning")
def test_tiny_inputs_fit_and_score_with_full_covariance():
    X = np.random.default_rng(0).normal(size=(5, 2))
    det = VAEDetector(covariance_type="full", random_state=0, batch_size=256).fit(X)
    assert np.all(np.isfinite(det.score_samples(X)))


def test_cli_fit_reports_the_covariance_it_scores_with(tmp_path):
    from typer.testing import CliRunner

    from vae_anomaly.cli.app import app

    runner = CliRunner()
    rows = pd.DataFrame(correlated_normal(600, d=4, seed=0), columns=list("abcd"))
    rows.to_parquet(tmp_path / "rows.parquet")
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(300, 260)),
                        columns=[f"c{j}" for j in range(260)])
    wide.to_parquet(tmp_path / "wide.parquet")
    for data, want, note in (("rows", "full", None), ("wide", "diag", "260 numeric features")):
        model = tmp_path / f"{data}.vae"
        out = runner.invoke(app, ["fit", str(tmp_path / f"{data}.parquet"), "-m", str(model), "--epochs", "3",
                                  "--covariance-type", "full", "--json"])
        assert out.exit_code == 0, out.output
        summary = json.loads(out.stdout)
        assert summary["covariance_type"] == want
        assert (summary["covariance_note"] is None) if note is None else note in summary["covariance_note"]
        info = runner.invoke(app, ["info", str(model)])
        assert ("full covariance" if want == "full" else "independent (diag)") in info.stdout
