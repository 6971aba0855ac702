"""Where the command line meets the library: user errors, progress, JSON.

A mistake a user can make (a missing column, an unreadable file, a corrupt
model, an output directory that does not exist) becomes one line on stderr
and exit code 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

__all__ = ["user_errors", "progress", "to_json", "one_line"]


def one_line(exc: BaseException) -> str:
    """A single-line description of ``exc`` for the terminal."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{exc.strerror}: {where}" if where else exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _is_user_error(exc: BaseException) -> bool:
    from vae_anomaly import VAEAnomalyError

    if isinstance(exc, (VAEAnomalyError, OSError)):
        return True
    pyarrow = sys.modules.get("pyarrow")
    return pyarrow is not None and isinstance(exc, pyarrow.ArrowException)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn user errors raised inside the block into ``error: ...`` and exit code 1."""
    try:
        yield
    except typer.Exit:
        raise
    except BrokenPipeError:
        _silence_stdout()  # the reader of our stdout (say, `head`) has gone: stop quietly
        raise typer.Exit(code=1) from None
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        typer.echo(f"error: {one_line(exc)}", err=True)
        raise typer.Exit(code=1) from None


@contextmanager
def progress(total: int | None, quiet: bool, desc: str):
    """A tqdm bar on stderr counting rows, shown only when stderr is a terminal."""
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    with tqdm(total=total, desc=desc, unit=" rows", unit_scale=True, disable=disable,
              file=sys.stderr, dynamic_ncols=True, leave=False) as bar:
        yield bar


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_json(value) -> str:
    """Strict JSON (non-finite floats become ``null``), indented for reading."""
    return json.dumps(_plain(value), indent=2, allow_nan=False)
