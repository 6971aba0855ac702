"""vae_anomaly: anomaly detection for tables and sensor data with a variational autoencoder.

The public API, and where each piece lives:

- :class:`VAEDetector` (``vae_anomaly.detector``): the scikit-learn estimator;
- :func:`write_report` (``vae_anomaly.report.run``): the HTML report of a
  detector on a table, from Python (``vae-detect report`` from the shell);
- :func:`score_dask` (``vae_anomaly.jobs.dask``): scores of a Dask DataFrame,
  partition by partition (``vae-detect score --dask``);
- the figures (``vae_anomaly.report.plot``) and the errors below.

Each is imported on first use, so ``import vae_anomaly`` (and the
``vae-detect --help`` that lives in this package) stays fast.
"""

from ._version import __version__
from .exceptions import (
    CalibrationWarning,
    InvalidInputError,
    InvalidParameterError,
    MissingExtraError,
    ModelFileError,
    SchemaMismatchError,
    VAEAnomalyError,
)

__all__ = [
    "VAEDetector",
    "write_report",
    "score_dask",
    "VAEAnomalyError",
    "InvalidInputError",
    "InvalidParameterError",
    "SchemaMismatchError",
    "ModelFileError",
    "MissingExtraError",
    "CalibrationWarning",
    "__version__",
]

_LAZY = {
    "VAEDetector": ("vae_anomaly.detector", "VAEDetector"),
    "write_report": ("vae_anomaly.report.run", "write_report"),
    "score_dask": ("vae_anomaly.jobs.dask", "score_dask"),
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'vae_anomaly' has no attribute {name!r}")
