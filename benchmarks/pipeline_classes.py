"""Figures of the pipeline fault classes (issue 14) on their minimal inputs, for before/after comparisons.

Each case builds the smallest seeded input that once showed the fault, fits
the package's defaults on it (``random_state=0``) and prints what a user
would notice: the share of rows flagged, whether a value is modelled,
whether scores agree. The same script runs against an older checkout with
``PYTHONPATH=/path/to/old/checkout`` so that both columns of a before/after
table come from one script; a case the older code cannot run prints its
error instead of a figure.

Usage::

    python benchmarks/pipeline_classes.py                 # the installed package
    PYTHONPATH=../old python benchmarks/pipeline_classes.py
"""

from __future__ import annotations

import decimal
import io
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

import vae_anomaly
from vae_anomaly import VAEDetector


def share(det, frame) -> str:
    return f"{100 * float(np.mean(det.predict(frame) == -1)):.2f}%"


def normal2(n, seed, **constants):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                         **{k: np.full(n, v) for k, v in constants.items()}})


def class1():
    det = VAEDetector(random_state=0).fit(normal2(2000, 0, setpoint=14.62))
    fresh = normal2(500, 1, setpoint=14.62)
    yield ("1 constant: float32 extract of unchanged rows flagged",
           share(det, fresh.astype("float32").astype("float64")))
    for unit in (1.0, 100.0, 0.01, 14.62):
        det = VAEDetector(random_state=0).fit(normal2(2000, 0, setpoint=unit))
        yield f"1 constant {unit}: halved set-point flagged", share(det, normal2(500, 1, setpoint=unit / 2))


def class2():
    rng = np.random.default_rng(0)
    idle = np.concatenate([np.full(1600, 0.1), rng.uniform(0.1, 0.2, 400), [50.0, 70.0, 90.0]])
    det = VAEDetector(random_state=0).fit(pd.DataFrame({"idle": idle, "noise": rng.normal(size=idle.size)}))
    new = pd.DataFrame({"idle": [0.5, 1.0, 5.0], "noise": [0.0, 0.0, 0.0]})
    yield "2 zero IQR: readings 0.5, 1, 5 flagged", str(det.predict(new).tolist().count(-1)) + " of 3"


def class3():
    train, fresh = normal2(3000, 0), normal2(20000, 1)
    for change in ({"score_type": "reconstruction"}, {"n_samples": 8}):
        det = VAEDetector(random_state=0).fit(train)
        det.set_params(**change)
        yield f"3 set_params({change}) after fit: fresh normal rows flagged", share(det, fresh)


def class4():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        det = VAEDetector(random_state=0, max_iter=15).fit(normal2(60, 0))
    fresh = normal2(20000, 1)
    details = det.score_details(fresh)
    worse = int(np.sum(details.is_anomaly & (details.p_value > 0.01)))
    yield "4 60 rows: fresh normal rows flagged", share(det, fresh)
    yield "4 60 rows: flagged rows with p-value > 0.01", str(worse)
    yield "4 60 rows: warnings at fit", str(len([w for w in caught if "held-out" in str(w.message)]))


def class5():
    rng = np.random.default_rng(0)
    values = rng.normal(100, 5, 600).round(2)
    table = pa.table({"x": rng.normal(size=600),
                      "price": pa.array([decimal.Decimal(f"{v:.2f}") for v in values], pa.decimal128(10, 2))})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    frame = pd.read_parquet(io.BytesIO(buf.getvalue()))
    det = VAEDetector(random_state=0, max_iter=15).fit(frame)
    modelled = "price" in list(det.preprocessor_.num_names_)
    yield "5 decimal128 column modelled at fit", str(modelled)
    words = rng.choice(["a", "b", "c"], 600)
    plain = pd.DataFrame({"x": rng.normal(size=600), "w": words})
    dictionary = plain.assign(w=pd.Series(pa.array(words).dictionary_encode()).astype(pd.ArrowDtype(
        pa.dictionary(pa.int32(), pa.string()))))
    same = np.array_equal(VAEDetector(random_state=0, max_iter=5).fit(plain).score_samples(plain),
                          VAEDetector(random_state=0, max_iter=5).fit(dictionary).score_samples(dictionary))
    yield "5 dictionary strings score like plain strings", str(same)


def fleet(machines, rows, seed, name):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2026-01-01", periods=rows, freq="min")
    return pd.concat([pd.DataFrame({"machine": f"{name}{k}", "time": t, "temp": rng.normal(20, 0.5, rows),
                                    "rpm": rng.normal(1500, 10, rows)}) for k in range(machines)],
                     ignore_index=True)


def class6():
    det = VAEDetector(window=16, time_column="time", group_column="machine", random_state=0)
    det.fit(fleet(4, 2500, 0, "m"))
    new = fleet(200, 40, 1, "n")
    details = det.score_details(new)
    warm = details.window_fill < 1
    yield "6 warm-up rows of 200 new machines flagged", f"{100 * details.is_anomaly[warm].mean():.2f}%"
    yield "6 full-window rows of the same machines flagged", f"{100 * details.is_anomaly[~warm].mean():.2f}%"


def class7():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=3000), "ok": rng.random(3000) < 0.9})
    det = VAEDetector(random_state=0, max_iter=15).fit(frame)
    fresh = frame.iloc[:1000]
    yield ("7 boolean written as text: rows flagged",
           share(det, fresh.assign(ok=fresh["ok"].map({True: "true", False: "false"}))))
    wdet = VAEDetector(window=8, time_column="time", group_column="machine", random_state=0, max_iter=15)
    wdet.fit(fleet(4, 800, 0, "m"))
    new = fleet(3, 200, 5, "n")
    new.loc[new.index[10:20], "time"] = new["time"].iloc[10]
    want = wdet.score_samples(new)
    perm = np.random.default_rng(1).permutation(len(new))
    got = np.empty_like(want)
    got[perm] = wdet.score_samples(new.iloc[perm])
    yield ("7 duplicate timestamps: largest score change when rows are shuffled",
           f"{np.abs(got - want).max():.3g}")


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"vae_anomaly from {vae_anomaly.__file__}")
    for case in (class1, class2, class3, class4, class5, class6, class7):
        try:
            for name, value in case():
                print(f"{name}: {value}", flush=True)
        except Exception as exc:  # an older checkout may fail a case outright: report it
            print(f"{case.__name__}: {type(exc).__name__}: {str(exc).splitlines()[0]}", flush=True)


if __name__ == "__main__":
    main()
