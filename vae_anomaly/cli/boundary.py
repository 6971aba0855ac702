"""Where the command line meets the library: user errors, progress, JSON.

A mistake a user can make (a missing column, an unreadable file, a corrupt
model, an output directory that does not exist) becomes one line on stderr
and exit code 1. Anything else is a bug and keeps its traceback.

Ctrl-C (SIGINT) and SIGTERM stop a command the same way: an exception
unwinds the stack, so temporary files are deleted and an existing output or
model file is left as it was; the process then exits with 130 or 143
(128 + the signal number) after one ``error:`` line.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

__all__ = ["user_errors", "progress", "to_json", "one_line", "Terminated", "terminate_gracefully",
           "reuse_freed_memory"]


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives, so cleanup code runs.

    Like :class:`KeyboardInterrupt` it is not an :class:`Exception`, so no
    ``except Exception`` in the library swallows it.
    """

    exit_code = 128 + signal.SIGTERM


_MAX_MESSAGE = 400  # characters; a parse error can quote a whole (hostile) row


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so file contents cannot drive the terminal."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def one_line(exc: BaseException) -> str:
    """A single-line, printable description of ``exc`` for the terminal."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        text = f"{exc.strerror}: {where}" if where else exc.strerror
    else:
        text = str(exc)
    text = _printable(" ".join(text.split())) or type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."


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


def _error_line(text: str) -> None:
    """Write ``error: text`` to stderr, on a line of its own even if a progress bar was drawn."""
    try:
        fresh = "\r\x1b[K" if sys.stderr.isatty() else ""  # back to column 0, clear the bar
    except (AttributeError, ValueError):
        fresh = ""
    typer.echo(f"{fresh}error: {text}", err=True)


def _interrupted(name: str, code: int) -> typer.Exit:
    _error_line(f"interrupted by {name}")
    return typer.Exit(code=code)


def _on_sigterm(signum, frame) -> None:
    # A second SIGTERM must not cut the cleanup short: ignore it until the handler is restored.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


@contextmanager
def terminate_gracefully() -> Iterator[None]:
    """Handle SIGTERM inside the block by raising :class:`Terminated`, then exit 143.

    Without this, SIGTERM kills the interpreter on the spot and a temporary
    file being written is left behind. The previous handler is restored on
    the way out. Outside the main thread (where handlers cannot be set) the
    block runs unchanged.
    """
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield
    except Terminated:
        _error_line("interrupted by SIGTERM")
        raise SystemExit(Terminated.exit_code) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn user errors raised inside the block into ``error: ...`` and exit code 1.

    An interrupt (SIGINT, or SIGTERM under :func:`terminate_gracefully`)
    becomes ``error: interrupted by ...`` and exit code 130 or 143, once the
    library has removed its temporary files.
    """
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        raise _interrupted("SIGINT", 128 + signal.SIGINT) from None
    except Terminated:
        raise _interrupted("SIGTERM", Terminated.exit_code) from None
    except BrokenPipeError:
        _silence_stdout()  # the reader of our stdout (say, `head`) has gone: stop quietly
        raise typer.Exit(code=1) from None
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        _error_line(one_line(exc))
        raise typer.Exit(code=1) from None


@contextmanager
def progress(quiet: bool, desc: str) -> Iterator[Callable[[int, int | None], None]]:
    """A tqdm bar on stderr counting rows, shown only when stderr is a terminal.

    Yields the progress callback a job calls after each batch with its rows
    and the table's row count (None when unknown), which sets the bar's total.
    """
    if quiet or not sys.stderr.isatty():  # no bar: tqdm is not even imported (a scheduled job starts faster)
        yield lambda rows, total: None
        return
    from tqdm import tqdm

    with tqdm(total=None, desc=desc, unit=" rows", unit_scale=True,
              file=sys.stderr, dynamic_ncols=True, leave=False) as bar:
        def update(rows: int, total: int | None) -> None:
            if total is not None and bar.total != total:
                bar.total = total
            bar.update(rows)

        yield update


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


def reuse_freed_memory() -> None:
    """Let this process reuse freed batch buffers instead of handing them back to the system.

    Scoring allocates the same few arrays of several MB for every record
    batch. By default glibc maps each one fresh and unmaps it when freed,
    and the page faults cost 1 to 3 s of system time per 5M rows scored
    (``benchmarks/score_speed.py``). Raising the mmap and trim thresholds
    keeps them in the heap for the next batch; peak memory stays bounded by
    the batch size. Only for glibc on Linux; elsewhere nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # another C library (musl has no mallopt)
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's upper bound for this setting on 64-bit
    mallopt(m_trim_threshold, 256 << 20)
