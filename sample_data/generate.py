"""Generate the small synthetic data sets shipped in ``sample_data/``.

Two Parquet files are written:

``tabular.parquet``
    5,000 rows of equipment orders / readings. Numeric columns are driven by
    a few hidden factors (machine load, ambient temperature, order size) and
    by the categorical columns, so a model has joint structure to learn.
    About 2.5 % of the rows are injected anomalies, marked by ``label == 1``.

``sensors.parquet``
    A one-minute multivariate sensor stream from four machines (about 2,500
    rows each). Six channels follow a shared slowly varying load, a daily
    cycle and per-machine offsets. Rows inside injected faults (spikes,
    drifts, stuck sensors, broken correlations) have ``label == 1``.

Every random draw comes from ``numpy.random.default_rng`` with a fixed seed,
so running the script again reproduces the files exactly (for a given
numpy / pyarrow version). Usage::

    python sample_data/generate.py            # write next to this script
    python sample_data/generate.py --out DIR  # write somewhere else
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

TABULAR_SEED = 20240601
SENSOR_SEED = 20240602

TABULAR_ROWS = 5_000
SENSOR_ROWS_PER_MACHINE = 2_500
SENSOR_START = np.datetime64("2024-03-04T00:00", "m")

# --- tabular: categorical levels and their effects -------------------------

REGIONS = np.array(["north", "south", "east", "west", "central"])
REGION_PROBS = np.array([0.25, 0.2, 0.2, 0.2, 0.15])
# Offset (degrees C) added to the equipment temperature in each region.
REGION_TEMP_OFFSET = np.array([-6.0, 5.0, 0.0, 2.0, -1.0])

PRODUCTS = np.array(
    ["pump", "valve", "compressor", "heater", "fan", "mixer", "chiller", "boiler"]
)
PRODUCT_PROBS = np.array([0.18, 0.16, 0.1, 0.12, 0.16, 0.12, 0.08, 0.08])
# Typical power draw (kW) at average load.
PRODUCT_POWER = np.array([30.0, 6.0, 75.0, 45.0, 12.0, 22.0, 60.0, 95.0])
# Typical unit price (currency units) and typical items per order.
PRODUCT_PRICE = np.array([850.0, 120.0, 4200.0, 1600.0, 260.0, 950.0, 5200.0, 7800.0])
PRODUCT_ITEMS = np.array([3.0, 9.0, 1.0, 2.0, 6.0, 2.5, 1.0, 0.8])

# Numeric columns in the order they appear in the file.
TABULAR_FLOATS = [
    "temperature",
    "pressure",
    "flow_rate",
    "power_kw",
    "amount",
    "duration_min",
]
# Number of injected anomalies of each type (total 125 = 2.5 % of 5,000).
TABULAR_ANOMALY_COUNTS = {
    "extreme_value": 30,
    "broken_correlation": 35,
    "category_mismatch": 30,
    "multi_moderate": 30,
}

# --- sensors ----------------------------------------------------------------

MACHINES = ["M1", "M2", "M3", "M4"]
SENSOR_CHANNELS = ["temperature", "vibration", "pressure", "flow", "current", "rpm"]
# Per-machine baselines: (temperature, vibration, pressure offset, flow, current, rpm).
MACHINE_BASE = {
    "M1": (48.0, 0.80, 0.00, 52.0, 17.0, 1500.0),
    "M2": (51.0, 0.95, 0.05, 48.0, 16.2, 1460.0),
    "M3": (46.5, 0.70, -0.04, 55.0, 18.1, 1540.0),
    "M4": (53.0, 1.10, 0.02, 50.0, 19.5, 1720.0),
}
# Machine whose extract has a 30-minute hole, and where the hole starts.
GAP_MACHINE = "M3"
GAP_START_MINUTE = 1_400
GAP_MINUTES = 30
# Current drawn per extra rpm; used for the current ~ rpm relationship.
CURRENT_PER_RPM = 0.0095
RPM_PER_LOAD = 350.0


# ===========================================================================
# Tabular data
# ===========================================================================


def _tabular_normal_rows(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` normal (non-anomalous) rows of the tabular data set.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Number of rows.

    Returns
    -------
    dict of str to numpy.ndarray
        Column name to values. ``region`` and ``product`` hold integer codes
        into :data:`REGIONS` and :data:`PRODUCTS`. The hidden ``load``
        factor is included (anomaly injection needs it) but is not written
        to the file.
    """
    region = rng.choice(len(REGIONS), size=n, p=REGION_PROBS)
    product = rng.choice(len(PRODUCTS), size=n, p=PRODUCT_PROBS)
    is_weekend = rng.random(n) < 2.0 / 7.0

    # Hidden factors: equipment load (lower at weekends), ambient, order size.
    load = rng.normal(0.0, 1.0, n) - 0.4 * is_weekend
    ambient = rng.normal(0.0, 1.0, n)
    size = rng.normal(0.0, 1.0, n)

    temperature = (
        55.0 + REGION_TEMP_OFFSET[region] + 7.0 * load + 2.5 * ambient
        + rng.normal(0.0, 1.5, n)
    )
    pressure = 4.0 + 0.6 * load + 0.15 * ambient + rng.normal(0.0, 0.12, n)
    flow_rate = 120.0 + 22.0 * load + rng.normal(0.0, 4.0, n)
    base_power = PRODUCT_POWER[product]
    power_kw = base_power * (1.0 + 0.18 * load) + rng.normal(0.0, 0.04, n) * base_power

    n_items = 1 + rng.poisson(PRODUCT_ITEMS[product] * np.exp(0.5 * size))
    unit_price = PRODUCT_PRICE[product] * np.exp(rng.normal(0.0, 0.45, n))
    amount = n_items * unit_price * np.where(is_weekend, 0.9, 1.0)
    duration_min = (4.0 + 1.8 * n_items) * np.exp(-0.1 * load + rng.normal(0.0, 0.15, n))

    return {
        "region": region,
        "product": product,
        "is_weekend": is_weekend,
        "temperature": temperature,
        "pressure": pressure,
        "flow_rate": flow_rate,
        "power_kw": power_kw,
        "amount": amount,
        "duration_min": duration_min,
        "n_items": n_items.astype(np.int64),
        "load": load,
    }


def _inject_extreme_value(
    rng: np.random.Generator, cols: dict[str, np.ndarray], rows: np.ndarray,
    touched: dict[str, np.ndarray],
) -> None:
    """Push one numeric column of each row far outside its normal range.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    cols : dict of str to numpy.ndarray
        Columns, modified in place.
    rows : numpy.ndarray
        Row indices to corrupt.
    touched : dict of str to numpy.ndarray
        Boolean masks per column marking cells changed by an anomaly;
        updated in place.
    """
    centres = {name: np.median(cols[name]) for name in TABULAR_FLOATS}
    spreads = {name: np.std(cols[name]) for name in TABULAR_FLOATS}
    for row in rows:
        name = TABULAR_FLOATS[rng.integers(len(TABULAR_FLOATS))]
        if name == "amount":
            cols[name][row] *= rng.uniform(15.0, 40.0)
        else:
            cols[name][row] = centres[name] + rng.uniform(6.0, 9.0) * spreads[name]
        touched[name][row] = True


def _inject_broken_correlation(
    rng: np.random.Generator, cols: dict[str, np.ndarray], rows: np.ndarray,
    touched: dict[str, np.ndarray],
) -> None:
    """Recompute one load-driven column from a contradicting load value.

    The new value is ordinary on its own (it uses a load within +/-2.5 sd)
    but disagrees with the other load-driven columns of the same row, e.g.
    high power with low flow.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    cols : dict of str to numpy.ndarray
        Columns, modified in place.
    rows : numpy.ndarray
        Row indices to corrupt.
    touched : dict of str to numpy.ndarray
        Boolean masks per column marking changed cells; updated in place.
    """
    for row in rows:
        load = cols["load"][row]
        direction = -1.0 if load >= 0 else 1.0
        fake = np.clip(load + direction * rng.uniform(2.2, 3.2), -2.5, 2.5)
        name = ["flow_rate", "power_kw", "pressure"][rng.integers(3)]
        if name == "flow_rate":
            value = 120.0 + 22.0 * fake + rng.normal(0.0, 4.0)
        elif name == "power_kw":
            base = PRODUCT_POWER[cols["product"][row]]
            value = base * (1.0 + 0.18 * fake) + rng.normal(0.0, 0.04) * base
        else:
            value = 4.0 + 0.6 * fake + rng.normal(0.0, 0.12)
        cols[name][row] = value
        touched[name][row] = True


def _inject_category_mismatch(
    rng: np.random.Generator, cols: dict[str, np.ndarray], rows: np.ndarray,
    touched: dict[str, np.ndarray],
) -> None:
    """Relabel the product with one whose power profile is far off.

    The numeric columns still describe the original product, so the pair
    (product, power_kw / amount / n_items) is impossible.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    cols : dict of str to numpy.ndarray
        Columns, modified in place.
    rows : numpy.ndarray
        Row indices to corrupt.
    touched : dict of str to numpy.ndarray
        Boolean masks per column marking changed cells; updated in place.
    """
    for row in rows:
        own = PRODUCT_POWER[cols["product"][row]]
        ratio = np.maximum(PRODUCT_POWER / own, own / PRODUCT_POWER)
        candidates = np.flatnonzero(ratio >= 2.5)
        cols["product"][row] = rng.choice(candidates)
        touched["product"][row] = True


def _inject_multi_moderate(
    rng: np.random.Generator, cols: dict[str, np.ndarray], rows: np.ndarray,
    touched: dict[str, np.ndarray],
) -> None:
    """Shift three columns of each row by a moderate amount each.

    Every shifted value stays within about 2-3 standard deviations of its
    column, but three such shifts with random signs are jointly unlikely.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    cols : dict of str to numpy.ndarray
        Columns, modified in place.
    rows : numpy.ndarray
        Row indices to corrupt.
    touched : dict of str to numpy.ndarray
        Boolean masks per column marking changed cells; updated in place.
    """
    choices = ["temperature", "pressure", "flow_rate", "power_kw", "duration_min"]
    spreads = {name: np.std(cols[name]) for name in choices}
    for row in rows:
        for name in rng.choice(choices, size=3, replace=False):
            shift = rng.uniform(2.0, 3.0) * spreads[name] * rng.choice([-1.0, 1.0])
            cols[name][row] = max(cols[name][row] + shift, 0.05 * abs(cols[name][row]))
            touched[name][row] = True


def _tabular_missing(
    rng: np.random.Generator, cols: dict[str, np.ndarray],
    touched: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Blank out a few cells, never those altered by an anomaly.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    cols : dict of str to numpy.ndarray
        Columns; numeric columns get NaN in place.
    touched : dict of str to numpy.ndarray
        Boolean masks of cells changed by anomaly injection.

    Returns
    -------
    dict of str to numpy.ndarray
        Boolean masks of missing cells for the columns that have any.
    """
    rates = {"temperature": 0.03, "pressure": 0.025, "duration_min": 0.02, "region": 0.015}
    missing = {}
    for name, rate in rates.items():
        mask = (rng.random(len(cols[name])) < rate) & ~touched[name]
        if name != "region":
            cols[name][mask] = np.nan
        missing[name] = mask
    return missing


def make_tabular(
    seed: int = TABULAR_SEED, n: int = TABULAR_ROWS
) -> tuple[pa.Table, np.ndarray]:
    """Build the tabular data set.

    Parameters
    ----------
    seed : int, optional
        Seed for :func:`numpy.random.default_rng`.
    n : int, optional
        Number of rows.

    Returns
    -------
    table : pyarrow.Table
        Columns ``id, region, product, is_weekend, temperature, pressure,
        flow_rate, power_kw, amount, duration_min, n_items, label``.
    anomaly_type : numpy.ndarray
        Per-row anomaly type (``""`` for normal rows), aligned with
        ``table``. Kept out of the file so that it is not modelled.
    """
    rng = np.random.default_rng(seed)
    cols = _tabular_normal_rows(rng, n)
    touched = {name: np.zeros(n, dtype=bool) for name in cols}

    n_anomalies = sum(TABULAR_ANOMALY_COUNTS.values())
    anomaly_rows = rng.choice(n, size=n_anomalies, replace=False)
    injectors = {
        "extreme_value": _inject_extreme_value,
        "broken_correlation": _inject_broken_correlation,
        "category_mismatch": _inject_category_mismatch,
        "multi_moderate": _inject_multi_moderate,
    }
    start = 0
    for kind, count in TABULAR_ANOMALY_COUNTS.items():
        injectors[kind](rng, cols, anomaly_rows[start:start + count], touched)
        start += count
    label = np.zeros(n, dtype=np.int8)
    label[anomaly_rows] = 1
    anomaly_type = np.full(n, "", dtype=object)
    anomaly_type[anomaly_rows] = np.repeat(
        list(TABULAR_ANOMALY_COUNTS), list(TABULAR_ANOMALY_COUNTS.values())
    )

    missing = _tabular_missing(rng, cols, touched)

    # Shuffle so anomalies are scattered, then give each row a unique id.
    order = rng.permutation(n)
    ids = rng.choice(900_000, size=n, replace=False) + 100_000
    region = REGIONS[cols["region"]].astype(object)
    region[missing["region"]] = None

    decimals = {"temperature": 2, "pressure": 3, "flow_rate": 2, "power_kw": 2,
                "amount": 2, "duration_min": 1}
    data = {
        "id": pa.array([f"T{i:06d}" for i in ids], pa.string()),
        "region": pa.array(region[order], pa.string()),
        "product": pa.array(PRODUCTS[cols["product"]][order], pa.string()),
        "is_weekend": pa.array(cols["is_weekend"][order], pa.bool_()),
    }
    for name in TABULAR_FLOATS:
        data[name] = pa.array(np.round(cols[name], decimals[name])[order], pa.float64())
    data["n_items"] = pa.array(cols["n_items"][order], pa.int64())
    data["label"] = pa.array(label[order], pa.int8())
    return pa.table(data), anomaly_type[order]


# ===========================================================================
# Sensor stream
# ===========================================================================


class Fault(NamedTuple):
    """One injected fault in the sensor stream.

    Attributes
    ----------
    machine : str
        Machine id.
    kind : str
        ``spike``, ``drift``, ``stuck`` or ``broken_correlation``.
    channel : str
        Affected channel.
    start : int
        First affected minute (offset from :data:`SENSOR_START`).
    length : int
        Number of affected minutes.
    """

    machine: str
    kind: str
    channel: str
    start: int
    length: int


def _smooth_noise(rng: np.random.Generator, n: int, tau: float) -> np.ndarray:
    """Draw a unit-variance AR(1) series with time constant ``tau``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Length of the series.
    tau : float
        Correlation time in samples.

    Returns
    -------
    numpy.ndarray
        Series of length ``n``.
    """
    phi = np.exp(-1.0 / tau)
    shocks = rng.normal(0.0, np.sqrt(1.0 - phi**2), n)
    out = np.empty(n)
    out[0] = rng.normal()
    for t in range(1, n):
        out[t] = phi * out[t - 1] + shocks[t]
    return out


def _lagged(x: np.ndarray, tau: float) -> np.ndarray:
    """Exponential moving average of ``x`` (a first-order thermal lag).

    Parameters
    ----------
    x : numpy.ndarray
        Input series.
    tau : float
        Lag time constant in samples.

    Returns
    -------
    numpy.ndarray
        Smoothed series, same length as ``x``.
    """
    alpha = 1.0 - np.exp(-1.0 / tau)
    out = np.empty_like(x)
    out[0] = x[0]
    for t in range(1, len(x)):
        out[t] = out[t - 1] + alpha * (x[t] - out[t - 1])
    return out


def _machine_channels(
    rng: np.random.Generator, machine: str, shared: np.ndarray, daily: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Simulate the six healthy channels of one machine.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    machine : str
        Machine id, a key of :data:`MACHINE_BASE`.
    shared : numpy.ndarray
        Plant-wide slowly varying load.
    daily : numpy.ndarray
        Daily cycle in [-1, 1].

    Returns
    -------
    channels : dict of str to numpy.ndarray
        Channel name to values.
    load : numpy.ndarray
        The machine's own load signal.
    """
    n = len(shared)
    temp0, vib0, pres0, flow0, cur0, rpm0 = MACHINE_BASE[machine]
    load = 0.75 * shared + 0.5 * _smooth_noise(rng, n, tau=90.0) + 0.5 * daily

    rpm = rpm0 + RPM_PER_LOAD * load + rng.normal(0.0, 8.0, n)
    current = cur0 + CURRENT_PER_RPM * (rpm - rpm0) + rng.normal(0.0, 0.15, n)
    # Flow also depends on a slowly moving valve position of its own.
    valve = _smooth_noise(rng, n, tau=60.0)
    flow = flow0 + 12.0 * load + 2.0 * valve + rng.normal(0.0, 0.8, n)
    pressure = 1.5 + pres0 + 0.04 * flow + rng.normal(0.0, 0.06, n)
    temperature = temp0 + 5.0 * _lagged(load, tau=20.0) + 2.0 * daily + rng.normal(0.0, 0.3, n)
    vibration = vib0 * np.exp(0.15 * load + rng.normal(0.0, 0.06, n))
    channels = {
        "temperature": temperature,
        "vibration": vibration,
        "pressure": pressure,
        "flow": flow,
        "current": current,
        "rpm": rpm,
    }
    return channels, load


def _plan_faults(
    rng: np.random.Generator, machine: str, n: int, blocked: np.ndarray
) -> list[Fault]:
    """Choose non-overlapping fault intervals for one machine.

    Each machine gets three spikes, one drift, one stuck sensor and one
    broken correlation, placed at random with at least 40 healthy minutes
    between them.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    machine : str
        Machine id.
    n : int
        Number of minutes simulated for the machine.
    blocked : numpy.ndarray
        Boolean mask of minutes where no fault may be placed.

    Returns
    -------
    list of Fault
        Planned faults, sorted by start minute.
    """
    specs = [
        ("spike", rng.choice(SENSOR_CHANNELS), int(rng.integers(1, 4))),
        ("spike", rng.choice(SENSOR_CHANNELS), int(rng.integers(1, 4))),
        ("spike", rng.choice(SENSOR_CHANNELS), int(rng.integers(1, 4))),
        ("drift", rng.choice(["temperature", "vibration", "pressure"]), 60),
        ("stuck", rng.choice(["temperature", "pressure", "flow", "rpm"]),
         int(rng.integers(30, 61))),
        ("broken_correlation", "current", int(rng.integers(25, 51))),
    ]
    busy = blocked.copy()
    busy[:150] = True
    busy[-100:] = True
    faults = []
    for kind, channel, length in specs:
        while True:
            start = int(rng.integers(0, n - length))
            if not busy[max(start - 40, 0):start + length + 40].any():
                break
        busy[start:start + length] = True
        faults.append(Fault(machine, kind, str(channel), start, length))
    return sorted(faults, key=lambda f: f.start)


def _apply_fault(
    rng: np.random.Generator, fault: Fault, channels: dict[str, np.ndarray],
    load: np.ndarray,
) -> None:
    """Corrupt the channels of one machine according to ``fault``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    fault : Fault
        The fault to apply.
    channels : dict of str to numpy.ndarray
        Channel values, modified in place.
    load : numpy.ndarray
        The machine's load signal (used for the broken correlation).
    """
    window = slice(fault.start, fault.start + fault.length)
    values = channels[fault.channel]
    spread = np.std(values)
    if fault.kind == "spike":
        sign = rng.choice([-1.0, 1.0])
        values[window] += sign * rng.uniform(5.0, 8.0) * spread
    elif fault.kind == "drift":
        sign = rng.choice([-1.0, 1.0])
        ramp = np.linspace(0.1, 1.0, fault.length)
        values[window] += sign * ramp * rng.uniform(3.0, 4.5) * spread
    elif fault.kind == "stuck":
        values[window] = values[fault.start]
    elif fault.kind == "broken_correlation":
        # Current follows a fake load that contradicts the machine's rpm.
        real = load[window]
        direction = -1.0 if real.mean() >= 0 else 1.0
        fake = real.mean() + direction * rng.uniform(1.8, 2.5) + 0.3 * (real - real.mean())
        base = MACHINE_BASE[fault.machine][4]
        values[window] = (
            base + CURRENT_PER_RPM * RPM_PER_LOAD * fake
            + rng.normal(0.0, 0.15, fault.length)
        )
    else:
        raise ValueError(f"unknown fault kind {fault.kind!r}")


def make_sensors(
    seed: int = SENSOR_SEED, rows_per_machine: int = SENSOR_ROWS_PER_MACHINE
) -> tuple[pa.Table, list[Fault]]:
    """Build the sensor stream and the list of injected faults.

    Parameters
    ----------
    seed : int, optional
        Seed for :func:`numpy.random.default_rng`.
    rows_per_machine : int, optional
        Number of rows kept for each machine.

    Returns
    -------
    table : pyarrow.Table
        Columns ``timestamp, machine, temperature, vibration, pressure, flow,
        current, rpm, label``, sorted by ``(timestamp, machine)``.
    faults : list of Fault
        The injected faults (not stored in the table).
    """
    rng = np.random.default_rng(seed)
    n = rows_per_machine + GAP_MINUTES  # minutes simulated per machine
    minutes = np.arange(n)
    shared = _smooth_noise(rng, n, tau=240.0)
    # Daily cycle peaking mid-afternoon.
    daily = np.sin(2.0 * np.pi * (minutes - 9 * 60) / 1440.0)

    columns = {name: [] for name in ["minute", "machine", *SENSOR_CHANNELS, "label"]}
    all_faults = []
    for machine in MACHINES:
        channels, load = _machine_channels(rng, machine, shared, daily)
        gap = np.zeros(n, dtype=bool)
        if machine == GAP_MACHINE:
            gap[GAP_START_MINUTE:GAP_START_MINUTE + GAP_MINUTES] = True
        near_gap = np.convolve(gap, np.ones(81), mode="same") > 0
        faults = _plan_faults(rng, machine, n, near_gap)
        label = np.zeros(n, dtype=np.int8)
        for fault in faults:
            _apply_fault(rng, fault, channels, load)
            label[fault.start:fault.start + fault.length] = 1

        # Scattered missing readings on healthy rows (not labelled).
        healthy = np.flatnonzero((label == 0) & ~gap)
        for name, count in (("vibration", 12), ("pressure", 8)):
            channels[name][rng.choice(healthy, size=count, replace=False)] = np.nan

        # Keep exactly rows_per_machine rows: drop the gap, or the tail.
        keep = np.flatnonzero(~gap)[:rows_per_machine]
        columns["minute"].append(minutes[keep])
        columns["machine"].append(np.full(len(keep), machine))
        for name in SENSOR_CHANNELS:
            columns[name].append(channels[name][keep])
        columns["label"].append(label[keep])
        all_faults.extend(faults)

    merged = {name: np.concatenate(parts) for name, parts in columns.items()}
    order = np.lexsort((merged["machine"], merged["minute"]))
    stamps = (SENSOR_START + merged["minute"][order]).astype("datetime64[us]")
    data = {
        "timestamp": pa.array(stamps, pa.timestamp("us")),
        "machine": pa.array(merged["machine"][order], pa.string()),
    }
    decimals = {"temperature": 2, "vibration": 3, "pressure": 3, "flow": 2,
                "current": 2, "rpm": 1}
    for name in SENSOR_CHANNELS:
        data[name] = pa.array(np.round(merged[name], decimals[name])[order], pa.float64())
    data["label"] = pa.array(merged["label"][order], pa.int8())
    return pa.table(data), all_faults


# ===========================================================================
# Command line
# ===========================================================================


def write_all(out_dir: Path | str) -> list[Fault]:
    """Write ``tabular.parquet`` and ``sensors.parquet`` into ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path or str
        Destination folder; created if missing.

    Returns
    -------
    list of Fault
        The faults injected into the sensor stream.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tabular, _ = make_tabular()
    pq.write_table(tabular, out / "tabular.parquet", compression="zstd")
    sensors, faults = make_sensors()
    pq.write_table(sensors, out / "sensors.parquet", compression="zstd")
    return faults


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, write both files and print a short summary.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments; defaults to ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent,
        help="output folder (default: the folder holding this script)",
    )
    args = parser.parse_args(argv)
    faults = write_all(args.out)
    print(f"wrote {args.out / 'tabular.parquet'} and {args.out / 'sensors.parquet'}")
    for f in faults:
        stamp = SENSOR_START + np.timedelta64(f.start, "m")
        print(f"  {f.machine}  {f.kind:<19} {f.channel:<12} {stamp}  {f.length:>3} min")


if __name__ == "__main__":
    main()
