"""Errors raised by vae_anomaly.

Every error the library raises on purpose subclasses :class:`VAEAnomalyError`
and the builtin that matches its meaning, so callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "VAEAnomalyError",
    "InvalidInputError",
    "SchemaMismatchError",
    "ModelFileError",
    "MissingExtraError",
]


class VAEAnomalyError(Exception):
    """Base class of every error raised on purpose by vae_anomaly."""


class InvalidInputError(VAEAnomalyError, ValueError):
    """The data given to fit or score cannot be used as it is.

    The message names the offending column and value.
    """


class SchemaMismatchError(InvalidInputError):
    """Data given at score time does not match the columns seen at fit time."""


class ModelFileError(VAEAnomalyError, ValueError):
    """A model file is missing, corrupt, or of a format this version cannot read."""


class MissingExtraError(VAEAnomalyError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it
    (``pip install 'vae-anomaly[report]'``, ``'vae-anomaly[dask]'``)."""
