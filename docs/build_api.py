"""Write docs/api.md from the package's numpydoc docstrings.

Run ``python docs/build_api.py`` after changing a public docstring;
``tests/docs/test_api_reference.py`` fails while api.md is out of date.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

OUT = Path(__file__).with_name("api.md")

HEADER = """# API reference

Generated from the docstrings by `python docs/build_api.py`; do not edit by hand.
"""


def _entries():
    import vae_anomaly
    from vae_anomaly import detector
    from vae_anomaly.calibration import drift, drift_reference, tail
    from vae_anomaly.calibration import thresholds as calibration
    from vae_anomaly.jobs import dask
    from vae_anomaly.persistence import modelfile as persistence
    from vae_anomaly.report import plot
    from vae_anomaly.report import run as report

    yield "vae_anomaly.VAEDetector", vae_anomaly.VAEDetector, True
    yield "vae_anomaly.detector.ScoreDetails", detector.ScoreDetails, True
    for name in ("conformal_p_values", "threshold_for_rate", "p_values", "choose_threshold", "Threshold",
                 "rule_for_rate", "p_value_tail", "rows_needed", "unsupported_rate_message",
                 "feature_baselines"):
        yield f"vae_anomaly.calibration.thresholds.{name}", getattr(calibration, name), False
    for name in ("fit_tail", "TailFit", "tail_survival", "tail_quantile"):
        yield f"vae_anomaly.calibration.tail.{name}", getattr(tail, name), False
    yield "vae_anomaly.calibration.drift.check_drift", drift.check_drift, False
    yield "vae_anomaly.calibration.drift.DriftReport", drift.DriftReport, False
    yield "vae_anomaly.calibration.drift.DriftTally", drift.DriftTally, True
    for name in ("DriftReference", "column_reference"):
        yield f"vae_anomaly.calibration.drift_reference.{name}", getattr(drift_reference, name), False
    for name in ("read_metadata", "read_model", "write_model", "load_scorer"):
        yield f"vae_anomaly.persistence.modelfile.{name}", getattr(persistence, name), False
    yield "vae_anomaly.report.run.write_report", report.write_report, False
    for name in ("score_dask", "read_parquet"):
        yield f"vae_anomaly.jobs.dask.{name}", getattr(dask, name), False
    for name in plot.__all__:
        yield f"vae_anomaly.report.plot.{name}", getattr(plot, name), False
    for name in ("VAEAnomalyError", "InvalidInputError", "InvalidParameterError", "SchemaMismatchError",
                 "ModelFileError", "MissingExtraError", "CalibrationWarning"):
        yield f"vae_anomaly.{name}", getattr(vae_anomaly, name), False


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def _section(title: str, obj, level: str) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    return [f"{level} `{title}{_signature(obj)}`", "", "```text", doc, "```", ""]


def render() -> str:
    lines = [HEADER]
    for title, obj, with_methods in _entries():
        lines += _section(title, obj, "##")
        if with_methods:
            for name, member in inspect.getmembers(obj):
                if name.startswith("_") or not callable(member) or name not in obj.__dict__:
                    continue
                lines += _section(f"{title.rsplit('.', 1)[-1]}.{name}", member, "###")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    sys.stderr.write(f"wrote {OUT}\n")
