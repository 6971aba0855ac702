"""Paths and small builders shared by tests in several folders (fixtures live in conftest.py)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SHARED = ROOT.parent / "shared" / "datasets"


def correlated_normal(n: int, d: int = 5, seed: int = 0) -> np.ndarray:
    """Rows from a fixed correlated Gaussian (the same mixing for every seed)."""
    mix = np.random.default_rng(1234).normal(size=(d, d)) / np.sqrt(d)
    return np.random.default_rng(seed).normal(size=(n, d)) @ mix + 1.0


def invoke(*args):
    """``vae-detect ARGS`` run in this process by typer's test runner; each argument passed as text."""
    from typer.testing import CliRunner

    from vae_anomaly.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


def ok(*args):
    """:func:`invoke`, asserting exit code 0 (with the command's output when not)."""
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def repack_model(good: bytes, mutate=None, extra: dict | None = None, mutate_arrays=None) -> bytes:
    """The model ``good`` with changed metadata, arrays or extra members, and a valid checksum."""
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        meta = json.loads(zf.read("metadata.json"))
        tensors = zf.read("tensors.safetensors")
    if mutate is not None:
        mutate(meta)
    if mutate_arrays is not None:
        from safetensors.numpy import load, save

        arrays = load(tensors)
        mutate_arrays(arrays)
        tensors = save(arrays)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps(meta))
        zf.writestr("tensors.safetensors", tensors)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    body = buf.getvalue()[:-2]
    comment = b"vae-anomaly sha256:" + hashlib.sha256(body).hexdigest().encode()
    return body + len(comment).to_bytes(2, "little") + comment


def base_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three correlated numeric columns, a text category and a 0/1 label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) @ np.array([[1.0, 0.6, 0.2], [0.0, 0.8, 0.3], [0.0, 0.0, 0.9]])
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "d": x[:, 2], "c": rng.choice(["x", "y", "z"], n),
                         "label": (rng.random(n) < 0.05).astype(np.int64)})


def hostile_frame(case: str, base: pd.DataFrame) -> pd.DataFrame:
    """``base`` spoiled the way ``case`` names: no rows, one row, a column of NaN or inf, text in a number."""
    frame = base.copy()
    if case == "header_only":
        return frame.iloc[:0]
    if case == "one_row":
        return frame.iloc[:1]
    if case == "all_nan_column":
        return frame.assign(a=np.nan)
    if case == "all_constant":
        return frame.assign(a=1.0, b=2.0, d=-3.0, c="x", label=0)
    if case == "plus_inf":
        frame.loc[7, "a"] = np.inf
    elif case == "minus_inf":
        frame.loc[7, "a"] = -np.inf
    elif case == "huge":
        frame.loc[7, "a"] = 1e308
    elif case == "text_in_numeric":
        frame["a"] = frame["a"].astype(str)
        frame.loc[7, "a"] = "oops"
    elif case == "mixed_object":  # only CSV can hold it; there it is all text
        frame["c"] = frame["c"].astype(object)
        frame.loc[::4, "c"] = 7
    else:
        raise ValueError(case)
    return frame


def orders(n: int, first_id: int, seed: int) -> pd.DataFrame:
    """Orders numbered from ``first_id`` in row order (``order_id``), with three related measurements
    and a region."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 0.5, n)
    items = rng.poisson(3, n) + 1
    return pd.DataFrame({"order_id": np.arange(first_id, first_id + n), "amount": amount, "items": items,
                         "unit_price": amount / items * rng.lognormal(0, 0.1, n),
                         "region": rng.choice(["n", "s", "e", "w"], n)})


def fleet(per_sensor: int, first: int, seed: int, ids: str) -> pd.DataFrame:
    """Four sensors read once a minute, in time order, with an integer sensor_id channel: each sensor's
    own reading counter (``ids="per sensor"``), or a reading number across the fleet."""
    rng = np.random.default_rng(seed)
    steps = np.arange(first, first + per_sensor)
    frames = []
    for k, machine in enumerate(["m1", "m2", "m3", "m4"]):
        base = 40 + 5 * k + np.sin(steps / 30)
        frames.append(pd.DataFrame({"time": pd.Timestamp("2024-03-01") + pd.to_timedelta(steps, unit="min"),
                                    "machine": machine, "sensor_id": steps,
                                    "temp": base + rng.normal(0, 0.2, per_sensor),
                                    "load": 0.5 * base + rng.normal(0, 0.2, per_sensor)}))
    out = pd.concat(frames).sort_values(["time", "machine"]).reset_index(drop=True)
    if ids != "per sensor":
        out["sensor_id"] = 4 * first + np.arange(len(out))
    return out
