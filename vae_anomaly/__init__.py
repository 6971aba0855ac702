"""vae_anomaly: anomaly detection for tables and sensor data with a variational autoencoder."""

from .detector import VAEDetector
from .exceptions import InvalidInputError, ModelFileError, SchemaMismatchError, VAEAnomalyError

__all__ = [
    "VAEDetector",
    "VAEAnomalyError",
    "InvalidInputError",
    "SchemaMismatchError",
    "ModelFileError",
    "__version__",
]

__version__ = "0.1.0"
