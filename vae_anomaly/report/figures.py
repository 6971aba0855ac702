"""Shared pieces of the figure modules: the optional matplotlib import, an empty Figure, colours."""

from __future__ import annotations

from ..jobs.extras import REPORT, extra_error

__all__ = ["require_extra", "new_figure", "FLAG", "NORMAL", "GREY"]

FLAG = "#c0392b"  # flagged rows, threshold
NORMAL = "#2c6e9b"
GREY = "#8a8f98"


def require_extra(module: str, what: str = "vae_anomaly.report.plot") -> None:
    """Import ``module`` or raise :class:`~vae_anomaly.MissingExtraError`: not installed, or broken.

    The error names the extra that provides ``module`` when it is not
    installed, else the failing import and the installed versions (see
    :func:`vae_anomaly.jobs.extras.extra_error`).
    """
    try:
        __import__(module)
    except ImportError as exc:
        raise extra_error(REPORT, exc, what)  # noqa: B904 (it carries its own cause)


def new_figure(width: float = 9.0, height: float = 3.6):
    """An empty Figure of ``width`` x ``height`` inches, outside pyplot, with a tight layout.

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed.
    """
    require_extra("matplotlib")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="tight")
