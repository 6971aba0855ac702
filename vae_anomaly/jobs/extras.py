"""The optional extras, and the one-line error that says whether an extra is missing or broken.

An extra is a set of packages installed together (``pip install
'vae-anomaly[dask]'``). Importing one can fail in two ways that need
different fixes:

- a package is **not installed** (its distribution is absent): install the
  extra;
- the packages are installed but **do not import together**: ``dask``
  upgraded past what the installed ``distributed`` supports, a matplotlib
  whose shared library is missing, a wheel built for another NumPy. The
  error then names the failing import and the installed version of each
  package of the extra, so the version skew is visible in one line.

"Not installed" is said only when a distribution is really absent
(:mod:`importlib.metadata` has no record of it), never because an import
failed. Imports nothing heavy, so every stage may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from ..exceptions import MissingExtraError

__all__ = ["Extra", "DASK", "REPORT", "installed_version", "extra_error"]


@dataclass(frozen=True)
class Extra:
    """An extra of the package: its name and the distributions it installs.

    Attributes
    ----------
    name : str
        As in ``pip install 'vae-anomaly[name]'``.
    distributions : tuple of str
        The distributions it installs; each one's top-level module has its name.
    """

    name: str
    distributions: tuple[str, ...]

    @property
    def install(self) -> str:
        """The command that installs the extra."""
        return f"pip install 'vae-anomaly[{self.name}]'"


#: Scoring with Dask (:mod:`vae_anomaly.jobs.dask`, ``vae-detect score --dask``).
DASK = Extra("dask", ("dask", "distributed"))
#: Figures and the HTML report (:mod:`vae_anomaly.report`).
REPORT = Extra("report", ("matplotlib", "jinja2"))


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed.

    Parameters
    ----------
    distribution : str
        A distribution name, as pip knows it (any case).

    Returns
    -------
    str or None
        From :func:`importlib.metadata.version`.
    """
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _is_installed(module: str) -> bool:
    """Whether a distribution providing the top-level module of ``module`` is installed."""
    top = module.split(".")[0]
    if installed_version(top) is not None:
        return True
    return any(installed_version(d) is not None for d in metadata.packages_distributions().get(top, ()))


def _failing_package(extra: Extra, exc: ImportError) -> str | None:
    """The extra's package whose import raised ``exc``: the innermost of its frames, else ``exc.name``."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        top = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
        if top in extra.distributions:
            found = top
        tb = tb.tb_next
    if found is None and exc.name:
        found = exc.name.split(".")[0]
    return found if found in extra.distributions else None


def extra_error(extra: Extra, exc: ImportError, needs: str) -> MissingExtraError:
    """The error to raise for ``exc``, met while importing the packages of ``extra``.

    Parameters
    ----------
    extra : Extra
    exc : ImportError
        What the import raised.
    needs : str
        What needs the extra, for the message ("scoring with Dask").

    Returns
    -------
    MissingExtraError
        When a module is missing and no installed distribution provides it:
        ``"{needs} needs the dask extra (distributed is not installed): pip
        install 'vae-anomaly[dask]'"``. Otherwise, with ``exc`` as its cause:
        ``"the dask extra is installed but does not import: distributed
        2026.8.0 with dask 2027.1.0: ImportError: cannot import name 'x' from
        'dask.base'"`` (the failing package first). Raise it with a plain
        ``raise``: it carries its own cause.

    Examples
    --------
    >>> err = extra_error(DASK, ModuleNotFoundError("No module named 'nope'", name="nope"),
    ...                   "scoring with Dask")
    >>> str(err)
    "scoring with Dask needs the dask extra (nope is not installed): pip install 'vae-anomaly[dask]'"
    """
    if isinstance(exc, ModuleNotFoundError) and exc.name and not _is_installed(exc.name):
        error = MissingExtraError(f"{needs} needs the {extra.name} extra ({exc.name.split('.')[0]} is not "
                                  f"installed): {extra.install}")
        error.__suppress_context__ = True  # as ``raise ... from None``: the install line says it all
        return error
    first = _failing_package(extra, exc)
    order = ([first] if first else []) + [d for d in extra.distributions if d != first]
    versions = " with ".join(f"{d} {installed_version(d) or '(not installed)'}" for d in order)
    detail = (str(exc).strip() or "no message").splitlines()[0]
    error = MissingExtraError(f"the {extra.name} extra is installed but does not import: {versions}: "
                              f"{type(exc).__name__}: {detail}")
    error.__cause__ = exc  # as ``raise ... from exc``: the traceback shows where the import failed
    error.__suppress_context__ = True
    return error
