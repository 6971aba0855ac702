"""vae_anomaly: anomaly detection for tables and sensor data with a variational autoencoder.

The estimator is imported on first use, so ``import vae_anomaly`` (and the
``vae-detect --help`` that lives in this package) stays fast.
"""

from .exceptions import (
    CalibrationWarning,
    InvalidInputError,
    MissingExtraError,
    ModelFileError,
    SchemaMismatchError,
    VAEAnomalyError,
)

__all__ = [
    "VAEDetector",
    "VAEAnomalyError",
    "InvalidInputError",
    "SchemaMismatchError",
    "ModelFileError",
    "MissingExtraError",
    "CalibrationWarning",
    "__version__",
]

__version__ = "0.2.0"


def __getattr__(name: str):
    if name == "VAEDetector":
        from .detector import VAEDetector

        return VAEDetector
    raise AttributeError(f"module 'vae_anomaly' has no attribute {name!r}")
