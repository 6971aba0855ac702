"""Draw ``docs/sensor_example.png``: one machine of the sensor sample, scored with windows.

Fits ``VAEDetector(window=16, time_column="timestamp", group_column="machine")``
on ``sample_data/sensors.parquet`` (all four machines, label left out) and
plots machine M1's six channels over time. Labelled faults are shaded; each
row the model flags is marked in the panel of its top contributing channel,
so the figure also shows whether the explanation names the faulty channel.

Run from anywhere::

    python docs/make_sensor_figure.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MACHINE = "M1"
WINDOW = 16
MIN_SHADE = pd.Timedelta(minutes=8)
CHANNELS = ["temperature", "vibration", "pressure", "flow", "current", "rpm"]


def fit_and_score(sensors: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Score every row with a windowed detector; returns anomaly score, flag and top channel."""
    import torch

    from vae_anomaly import VAEDetector

    torch.set_num_threads(1)
    X = sensors.drop(columns="label")
    det = VAEDetector(window=WINDOW, time_column="timestamp", group_column="machine",
                      random_state=seed).fit(X)
    d = det.score_details(X)
    return pd.DataFrame({"score": d.anomaly_score, "flag": d.is_anomaly, "top": d.top_feature()},
                        index=sensors.index)


def label_runs(label: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) positions of each run of label 1."""
    edges = np.diff(np.concatenate([[0], label.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def draw(sensors: pd.DataFrame, scored: pd.DataFrame, path: Path) -> None:
    rows = sensors["machine"].eq(MACHINE).to_numpy()
    m, s = sensors[rows].reset_index(drop=True), scored[rows].reset_index(drop=True)
    t = m["timestamp"]
    fig, axes = plt.subplots(len(CHANNELS), 1, sharex=True, figsize=(10, 8.5))
    faults = label_runs(m["label"].to_numpy())
    for ax, channel in zip(axes, CHANNELS, strict=True):
        ax.plot(t, m[channel], lw=0.6, color="0.25")
        for a, b in faults:  # faults shorter than MIN_SHADE are widened so they stay visible
            end = max(t[b] + pd.Timedelta(minutes=1), t[a] + MIN_SHADE)
            ax.axvspan(t[a], end, color="tab:orange", alpha=0.3, lw=0)
        hit = (s["flag"] & s["top"].eq(channel)).to_numpy()
        ax.scatter(t[hit], m.loc[hit, channel], s=9, color="tab:red", zorder=3)
        ax.set_ylabel(channel, fontsize=9)
        ax.tick_params(labelsize=8)
    flagged, caught = int(s["flag"].sum()), sum(bool(s["flag"][a:b + 1].any()) for a, b in faults)
    axes[0].set_title(
        f"Machine {MACHINE}, window of {WINDOW} rows: orange = labelled fault (short ones widened), "
        f"red = flagged row, drawn on its top contributing channel\n{flagged} rows flagged, "
        f"{caught} of {len(faults)} faults with at least one flag", fontsize=9)
    axes[-1].set_xlabel("time", fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    sensors = pd.read_parquet(ROOT / "sample_data" / "sensors.parquet")
    draw(sensors, fit_and_score(sensors), ROOT / "docs" / "sensor_example.png")


if __name__ == "__main__":
    main()
