"""The output directory of a ``--dask`` run: part files written into a hidden temporary, then published whole.

Workers write the part files (``part.00000.parquet`` and on) into a hidden
temporary directory beside the output, ``.NAME.XXXXXXXX.tmp``
(:class:`PartDirectory`). Only once every part is written and counted is it
published:

* Locally (any file system with a rename), the directory is renamed into
  place; an earlier output is renamed aside first and deleted after. A
  failed or interrupted run leaves no output directory and keeps an
  earlier one.
* On an object store (``s3://``, ``gs://``, ``abfs://``), where nothing can
  be renamed, the temporary is a prefix beside the output, each part an
  object uploaded whole (:class:`~vae_anomaly.tables.write.AtomicTableWriter`).
  Publishing copies the parts into place on the store, in one call, and
  then deletes the parts of an earlier output that the new one does not
  have, and the temporary prefix. A failed or interrupted run leaves no
  part at the output. While the copy runs (one server-side copy per part),
  a reader may see some new parts beside the old ones; a directory on an
  object store cannot appear at once.

Ctrl-C and SIGTERM are held back while a directory is published, so that
the steps above are not cut in the middle; they take effect right after.
A run that was killed leaves its temporary behind, and the next run that
writes the same output removes it (the rule is in
:mod:`vae_anomaly.tables.temporary`) and says so.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pyarrow.fs as pa_fs

from ..exceptions import InvalidInputError
from ..tables.location import Uri, as_location, split_location
from ..tables.temporary import hold, release, sweep, sweep_store, temporary_beside
from .score_tables import default_output_path

__all__ = ["PART_FILE", "output_directory", "PartDirectory"]

logger = logging.getLogger(__name__)

#: Name of the part files: part.00000.parquet, part.00001.parquet, ...
PART_FILE = re.compile(r"part\.\d{5,}\.parquet")

# What a run leaves beside a local output: its temporary directory, renamed to .trash to be
# deleted, and an earlier output renamed to .old while the new one is moved into place.
_LOCAL_KINDS = ("tmp", "trash", "old")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0]


def _is_part_directory(path: Path) -> bool:
    return path.is_dir() and all(p.is_file() and PART_FILE.fullmatch(p.name) for p in path.iterdir())


def _check_local(data: Path | Uri, out: Path) -> Path:
    parent = out.parent
    if not parent.is_dir():
        raise InvalidInputError(f"output directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInputError(f"output directory {parent} is not writable")
    if isinstance(data, Path):
        where, source = out.resolve(), data.resolve()
        if where == source or source in where.parents or where in source.parents:
            raise InvalidInputError(f"output {out} overlaps the input {data}; choose another output path")
    if out.exists() and not _is_part_directory(out):
        raise InvalidInputError(f"output {out} exists and is not a directory of part files written by "
                                "vae-detect; remove it or choose another output path")
    return out


def _check_store(data: Path | Uri, out: Uri) -> Uri:
    filesystem, where = split_location(out)
    where = where.rstrip("/")
    if isinstance(data, Uri):
        source = split_location(data)[1].rstrip("/")
        if where == source or where.startswith(source + "/") or source.startswith(where + "/"):
            raise InvalidInputError(f"output {out} overlaps the input {data}; choose another output path")
    try:
        kind = filesystem.get_file_info(where).type
        found = [] if kind != pa_fs.FileType.Directory else filesystem.get_file_info(
            pa_fs.FileSelector(where, recursive=True))
    except OSError as exc:
        raise InvalidInputError(f"cannot reach {out}: {_first_line(exc)}") from None
    if kind == pa_fs.FileType.File or not all(
            i.type == pa_fs.FileType.File and PART_FILE.fullmatch(i.base_name)
            and i.path.rpartition("/")[0] == where for i in found):
        raise InvalidInputError(f"output {out} exists and is not a directory of part files written by "
                                "vae-detect; remove it or choose another output path")
    return out


def output_directory(data: Path | Uri, output: str | os.PathLike | None) -> Path | Uri:
    """The output directory for scores of ``data`` (a local path or a URI), checked before any work is done.

    Raises
    ------
    InvalidInputError
        If its parent is missing or not writable, it is the input or inside
        it, or it exists and is not a directory of part files (which is
        replaced only when the new one is complete).
    """
    out = as_location(output) if output is not None else default_output_path(data)
    return _check_store(data, out) if isinstance(out, Uri) else _check_local(data, out)


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block is done, then act on the first that came.

    Only in the main thread, where handlers can be set; elsewhere the block
    runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    wanted = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught:
        handler = previous[caught[0]]
        if callable(handler):
            handler(caught[0], None)  # raises: KeyboardInterrupt, or the CLI's Terminated
        elif handler == signal.SIG_DFL:
            signal.raise_signal(caught[0])


class PartDirectory:
    """A hidden temporary directory (or prefix) beside the output ``out`` for part files, published whole.

    Creating it first removes the temporaries that earlier, killed runs
    left for ``out`` (:attr:`removed`).

    Parameters
    ----------
    out : pathlib.Path or Uri
        The output directory, as :func:`output_directory` returns it.

    Attributes
    ----------
    removed : list of str
        Names of the temporaries of killed runs that were removed.
    filesystem : pyarrow.fs.FileSystem or None
        The store, or None for a local output.

    Raises
    ------
    OSError
        If the temporary directory cannot be created (local outputs).
    InvalidInputError
        If the store cannot be reached.
    """

    def __init__(self, out: Path | Uri):
        self.out = out
        self._lock = None
        self._published = False
        if isinstance(out, Path):
            self.filesystem, self._where = None, str(out)
            self.removed = sweep(out, _LOCAL_KINDS)
            self.tmp: str = str(temporary_beside(out, directory=True))  # with the mode new directories get
            self._lock = hold(self.tmp)
            return
        self.filesystem, where = split_location(out)
        self._where = where.rstrip("/")
        self.removed = sweep_store(self.filesystem, self._where)
        parent, _, name = self._where.rpartition("/")
        try:
            for _ in range(100):
                tmp = f"{parent}/.{name}.{secrets.token_hex(4)}.tmp"
                if self.filesystem.get_file_info(tmp).type == pa_fs.FileType.NotFound:
                    break
            else:
                raise FileExistsError(errno.EEXIST, "no free temporary name", str(out))
        except OSError as exc:
            raise InvalidInputError(f"cannot reach {out}: {_first_line(exc)}") from None
        self.tmp = tmp

    def part(self, name: str) -> str:
        """Where a worker writes the part file ``name``: a local path, or a path in :attr:`filesystem`."""
        return f"{self.tmp}/{name}" if self.filesystem is not None else str(Path(self.tmp) / name)

    def publish(self, names: Sequence[str]) -> None:
        """Put the parts ``names`` in place as the output (see the module's docstring).

        Raises
        ------
        FileNotFoundError
            On a store, if a part file is not there (nothing is published).
        OSError
            If the file system or store refuses a step.
        """
        try:
            with _uninterrupted():
                if self.filesystem is None:
                    _move_into_place(Path(self.tmp), Path(self.out))
                else:
                    self._publish_on_store(set(names))
                self._published = True  # a signal held back until now must not discard it
        finally:
            release(self._lock)
            self._lock = None

    def _publish_on_store(self, names: set[str]) -> None:
        fs = self.filesystem
        written = {i.base_name for i in fs.get_file_info(pa_fs.FileSelector(self.tmp, allow_not_found=True))
                   if i.type == pa_fs.FileType.File}
        if names - written:
            raise FileNotFoundError(errno.ENOENT, f"{len(names - written)} part files vanished from the "
                                    "temporary prefix before they were published (another run writing "
                                    "the same output?); nothing was published", self.tmp)
        earlier = [i for i in fs.get_file_info(pa_fs.FileSelector(self._where, allow_not_found=True))
                   if i.type == pa_fs.FileType.File and i.base_name not in names]
        pa_fs.copy_files(self.tmp, self._where, source_filesystem=fs, destination_filesystem=fs)
        for info in earlier:
            fs.delete_file(info.path)
        fs.delete_dir(self.tmp)

    def discard(self) -> None:
        """Delete the temporary and whatever was written into it (nothing is raised).

        On a store, a part that a cancelled task still uploads afterwards is
        left under the temporary prefix, for the next run to remove.
        """
        try:
            if self._published:
                return
            if self.filesystem is None:
                _discard(Path(self.tmp))
            else:
                try:
                    self.filesystem.delete_dir(self.tmp)
                except OSError as exc:  # gone already (published), or the store refuses
                    logger.warning("cannot delete %s: %s", self.tmp, _first_line(exc))
        finally:
            release(self._lock)
            self._lock = None


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an older ``out`` is set aside first and deleted after."""
    for stray in tmp.glob(".*"):  # a part being written when its worker died
        stray.unlink()
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.{secrets.token_hex(4)}.old")
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _discard(tmp: Path) -> None:
    """Delete ``tmp``, renamed first: a cancelled task still running on a worker cannot add a file to it."""
    trash = tmp.with_name(tmp.name[:-len(".tmp")] + ".trash")
    try:
        os.rename(tmp, trash)
    except OSError:
        trash = tmp
    shutil.rmtree(trash, ignore_errors=True)
