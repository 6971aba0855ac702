"""Hostile model files given to ``info``, ``score`` and ``evaluate`` are refused in one line, never run."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import base_frame, invoke, repack_model

from .hostile import PNG, assert_refused, snapshot, write_frame


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _hostile_model(case: str, good: bytes, where: Path) -> Path:
    path = where / "model.vae"
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10

    def set_(key, value):
        return lambda meta: meta.__setitem__(key, value)

    contents = {
        "empty": b"",
        "text": b"not a model\n",
        "png": PNG,
        "random_bytes": np.random.default_rng(2).bytes(2048),
        "pickle": pickle.dumps(_Exploit()),
        "truncated": good[: len(good) // 2],
        "bit_flipped": bytes(flipped),
        "newer_format": repack_model(good, lambda m: m.update(format_version=99)),
        "pickle_member": repack_model(good, extra={"payload.pkl": pickle.dumps(_Exploit())}),
        "no_network": repack_model(good, lambda m: m.pop("network")),
        "training_is_text": repack_model(good, set_("training", "fast")),
        "schema_of_numbers": repack_model(good, lambda m: m["preprocessing"].update(schema=[1, 2])),
        "window_is_text": repack_model(good, set_("window", "wide")),
        "bad_weights": repack_model(good, lambda m: m["network"].update(latent_dim=999)),
    }
    if case == "missing":
        return path
    if case == "directory":
        path.mkdir()
        return path
    if case == "data_file":
        path = where / "table.parquet"
        write_frame(base_frame(20), path)
        return path
    path.write_bytes(contents[case])
    return path


MODEL_CASES = {
    "missing": "does not exist", "directory": "is a directory", "data_file": "not a vae-anomaly model file",
    "empty": "not a vae-anomaly model file", "text": "not a vae-anomaly model file",
    "png": "not a vae-anomaly model file", "random_bytes": "not a vae-anomaly model file",
    "pickle": "is a pickle", "truncated": "truncated", "bit_flipped": "checksum does not match",
    "newer_format": "model format version 99", "pickle_member": "unexpected members",
    "no_network": "'network' section", "training_is_text": "'training' section",
    "schema_of_numbers": "column schema", "window_is_text": "'window' section", "bad_weights": "is corrupt",
}


@pytest.mark.parametrize("name", ["info", "score", "evaluate"])
@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_hostile_model_file_is_refused(name, case, base, model, dirs, monkeypatch):
    inp, out = dirs
    monkeypatch.chdir(out)  # a pickle that ran would leave out/pwned behind
    if case == "bad_weights" and name == "info":
        pytest.skip("info reads only the metadata; the weights are checked when the network is built")
    bad = _hostile_model(case, model.read_bytes(), inp)
    data = write_frame(base, inp / "in.parquet")
    before = snapshot(inp)
    args = {"info": ["info", bad], "score": ["score", data, "-m", bad, "-o", out / "s.parquet"],
            "evaluate": ["evaluate", data, "-m", bad, "-l", "label"]}[name]
    line = assert_refused(invoke(*args), inp, before, out)
    assert MODEL_CASES[case] in line, line
