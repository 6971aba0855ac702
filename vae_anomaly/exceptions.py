"""Errors and warnings raised by vae_anomaly.

Every error the library raises on purpose subclasses :class:`VAEAnomalyError`
and the builtin that matches its meaning, so callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "VAEAnomalyError",
    "InvalidInputError",
    "InvalidParameterError",
    "SchemaMismatchError",
    "ModelFileError",
    "MissingExtraError",
    "CalibrationWarning",
]


class VAEAnomalyError(Exception):
    """Base class of every error raised on purpose by vae_anomaly."""


class InvalidInputError(VAEAnomalyError, ValueError):
    """The data given to fit or score cannot be used as it is.

    The message names the offending column and value.
    """


class InvalidParameterError(VAEAnomalyError, ValueError, TypeError):
    """A constructor parameter of the estimator has a value it cannot take.

    Raised by ``fit`` (never by ``__init__`` or ``set_params``). It is a
    ``ValueError`` and a ``TypeError`` alike, since a value may be out of
    range or of the wrong kind; the one-line message names the parameter,
    what it must be and the value given (see :func:`vae_anomaly.options.check_params`).
    """


class SchemaMismatchError(InvalidInputError):
    """Data given at score time does not match the columns seen at fit time."""


class ModelFileError(VAEAnomalyError, ValueError):
    """A model file is missing, corrupt, or of a format this version cannot read."""


class MissingExtraError(VAEAnomalyError, ImportError):
    """An optional dependency is not installed, or is installed but does not import.

    When a package is not installed, the message names the extra that
    installs it (``pip install 'vae-anomaly[report]'``,
    ``'vae-anomaly[dask]'``); when it is installed but fails to import, the
    failing import and the installed versions of the extra's packages (see
    :func:`vae_anomaly.jobs.extras.extra_error`).
    """


class CalibrationWarning(UserWarning):
    """The held-out rows cannot support the requested false-positive rate.

    The message says what the threshold then does (extrapolated from a
    fitted tail, or flags nothing) and how many held-out rows would support
    the rate.
    """
