"""Shared pieces of the figure modules: the optional matplotlib import, an empty Figure, colours."""

from __future__ import annotations

from ..exceptions import MissingExtraError

__all__ = ["require_extra", "new_figure", "FLAG", "NORMAL", "GREY"]

FLAG = "#c0392b"  # flagged rows, threshold
NORMAL = "#2c6e9b"
GREY = "#8a8f98"


def require_extra(module: str, what: str = "vae_anomaly.report.plot") -> None:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it."""
    try:
        __import__(module)
    except ImportError:
        raise MissingExtraError(
            f"{what} needs {module}, which is not installed; install it with: "
            "pip install 'vae-anomaly[report]'") from None


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
