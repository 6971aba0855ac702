"""Training assembles the network's inputs once per fit; the weights are those of assembling each batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")


def _table(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "c": rng.choice(["x", "y", "z"], size=n), "d": rng.choice([True, False], size=n)})
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan  # a missing flag among the inputs
    return frame


def _fitted(monkeypatch, limit: int):
    from vae_anomaly import VAEDetector
    from vae_anomaly.model import training

    monkeypatch.setattr(training, "ASSEMBLE_ONCE_BYTES", limit)
    return VAEDetector(max_iter=4, random_state=0).fit(_table())


def test_inputs_assembled_once_train_the_same_weights_as_inputs_assembled_per_batch(monkeypatch):
    once, per_batch = _fitted(monkeypatch, 2**30), _fitted(monkeypatch, 0)
    assert once.loss_curve_ == per_batch.loss_curve_
    assert once.validation_loss_curve_ == per_batch.validation_loss_curve_
    for (name, a), (_, b) in zip(once.module_.state_dict().items(), per_batch.module_.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    X = _table()
    np.testing.assert_array_equal(once.score_samples(X), per_batch.score_samples(X))


def test_assembled_inputs_are_those_of_the_network():
    from vae_anomaly import VAEDetector
    from vae_anomaly.features.rows import training_rows
    from vae_anomaly.model.tensors import to_tensors
    from vae_anomaly.model.training import assembled_inputs

    det = VAEDetector(max_iter=1, random_state=0).fit(_table())
    prep, _, _ = training_rows(det._input_frame(_table(), reset=False), None, det.scaler, det.max_categories)
    data = to_tensors(prep.enc, "cpu")
    inputs = assembled_inputs(det.module_, data)
    assert torch.equal(inputs, det.module_.assemble(*data))
    assert assembled_inputs(det.module_, data, limit=0) is None
