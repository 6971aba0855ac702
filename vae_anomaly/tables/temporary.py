"""Temporary files beside an output: made, held while they are written, and swept up after a killed run.

Every output is first written to a hidden temporary beside it,
``.NAME.XXXXXXXX.tmp`` (``NAME`` the output's name, ``XXXXXXXX`` eight
lowercase hexadecimal digits; a file, or a directory of part files for a
``--dask`` run, which also renames a temporary to ``.NAME.XXXXXXXX.trash``
to delete it and an output it replaces to ``.NAME.XXXXXXXX.old``). An
output on an object store is staged in a local file instead, in the
temporary directory (``TMPDIR``): ``.vae-upload.DIGEST.NAME.XXXXXXXX.tmp``,
``DIGEST`` naming the store and the output's path there.

A run that is killed (SIGKILL, the kernel's out-of-memory killer) cannot
delete its temporaries, so the next run that writes the same output does
(:func:`sweep`, :func:`sweep_store`). The rule:

* Only names of exactly that pattern for that output's name: a user's
  file such as ``.NAME.XXXXXXXX.tmp.bak``, ``NAME.XXXXXXXX.tmp`` or
  ``.NAME.XXXXXXXX.TMP`` is never touched, nor a symbolic link, nor a
  directory that holds anything but part files (``part.00000.parquet``)
  and their own temporaries.
* Only what no live process holds. Each writer holds an exclusive
  :func:`fcntl.flock` lock on its temporary file (or directory) for as long
  as it exists, and the kernel drops the lock when the process dies, so a
  temporary whose lock can be taken was left by a dead run. One whose lock
  cannot be taken, or cannot be tried, is kept.
* Never one changed in the last :data:`GRACE_S` seconds (the instant
  between creating a temporary and locking it). Where :mod:`fcntl` is
  missing (Windows), only one left untouched for :data:`UNLOCKED_AGE_S`.
* On an object store, where nothing can be locked, a temporary prefix of a
  ``--dask`` run is removed once nothing under it was written for
  :data:`STORE_GRACE_S` seconds before the sweep began (the slack covers
  clocks that differ between this machine and the store).

Two runs writing the same output at once are a mistake this cannot fully
guard against on object stores: there a run slower than
:data:`STORE_GRACE_S` between two parts can lose its temporary to the other
run's sweep, and then fails without writing its output.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from pathlib import Path

import pyarrow.fs as pa_fs

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["GRACE_S", "UNLOCKED_AGE_S", "STORE_GRACE_S", "temporary_beside", "hold", "release",
           "staging_base", "leftovers", "sweep", "sweep_store", "removed_note"]

logger = logging.getLogger(__name__)

#: A temporary changed less than this many seconds ago is never removed.
GRACE_S = 2.0
#: Without :mod:`fcntl` locks, a temporary is removed only once untouched for this many seconds.
UNLOCKED_AGE_S = 3600.0
#: On object stores: a temporary prefix is removed once nothing under it was written for this long.
STORE_GRACE_S = 60.0

_TOKEN = "[0-9a-f]{8}"
#: What a temporary directory of a ``--dask`` run may hold: part files and their temporaries.
_PART_ENTRY = re.compile(rf"\.?part\.\d{{5,}}\.parquet(?:\.{_TOKEN}\.tmp)?")
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _pattern(name: str, kinds: tuple[str, ...]) -> re.Pattern:
    return re.compile(rf"\.{re.escape(name)}\.{_TOKEN}\.(?:{'|'.join(map(re.escape, kinds))})")


def temporary_beside(path: str | os.PathLike, directory: bool = False) -> Path:
    """Create a new, empty hidden file (or directory) beside ``path``: ``.NAME.XXXXXXXX.tmp``.

    It is created with mode 0o666 (0o777 for a directory) and the kernel
    applies the process's umask, so it has the permissions any new file
    gets there, and keeps them when renamed into place. The umask is never
    read or changed (changing it is not safe while other threads create
    files). Lock it with :func:`hold` while it is written.

    Raises
    ------
    OSError
        If nothing can be created in ``path``'s directory; the message names
        ``path``, not the temporary name.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            if directory:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, flags, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def _open_for_lock(path: str | os.PathLike, directory: bool) -> int:
    # Read-write for files: over NFS an exclusive lock needs a file open for writing.
    return os.open(path, (os.O_RDONLY if directory else os.O_RDWR) | _NO_FOLLOW)


def hold(path: str | os.PathLike) -> int | None:
    """Lock the temporary ``path`` for as long as the returned descriptor is open (see :func:`release`).

    Returns None where it cannot be locked (no :mod:`fcntl`, or a file system
    without locks); it is then protected only by its age (:func:`sweep`).
    """
    if fcntl is None:
        return None
    try:
        fd = _open_for_lock(path, os.path.isdir(path))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def release(fd: int | None) -> None:
    """Drop a lock taken by :func:`hold`."""
    if fd is not None:
        os.close(fd)


def staging_base(filesystem: pa_fs.FileSystem, path: str) -> Path:
    """Where an output at ``path`` in ``filesystem`` is staged: its temporaries go beside this, locally."""
    digest = hashlib.sha256(f"{filesystem.type_name}:{path}".encode()).hexdigest()[:16]
    name = path.rstrip("/").rsplit("/", 1)[-1][:100]
    return Path(tempfile.gettempdir()) / f"vae-upload.{digest}.{name}"


def leftovers(target: str | os.PathLike, kinds: tuple[str, ...] = ("tmp",)) -> list[Path]:
    """The entries beside ``target`` named as its temporaries are (``.NAME.XXXXXXXX.tmp``), held or not."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    pattern = _pattern(target.name, kinds)
    try:
        with os.scandir(parent) as entries:
            return sorted(parent / e.name for e in entries if pattern.fullmatch(e.name))
    except OSError:
        return []


def _only_parts(directory: Path) -> bool:
    try:
        with os.scandir(directory) as entries:
            return all(_PART_ENTRY.fullmatch(e.name) and e.is_file(follow_symlinks=False) for e in entries)
    except OSError:
        return False


def _free(path: Path, directory: bool, age: float) -> bool:
    """Whether no live process holds ``path`` (see the module's rule)."""
    if fcntl is None:
        return age >= UNLOCKED_AGE_S
    try:
        fd = _open_for_lock(path, directory)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by a live process, or locks cannot be tried here
        return False
    finally:
        os.close(fd)  # drops the lock just taken
    return True


def sweep(target: str | os.PathLike, kinds: tuple[str, ...] = ("tmp",)) -> list[str]:
    """Remove the temporaries that earlier, killed runs left beside the local ``target``.

    Parameters
    ----------
    target : str or PathLike
        A local output path (for an output on a store, its :func:`staging_base`).
    kinds : tuple of str
        The last parts of the names to look for: ``"tmp"``, and for
        ``--dask`` output directories also ``"trash"`` and ``"old"``.

    Returns
    -------
    list of str
        The names removed, each also logged at INFO level. Entries that
        cannot be removed are logged as a warning and kept; nothing is raised.
    """
    removed = []
    for path in leftovers(target, kinds):
        try:
            info = os.lstat(path)
        except OSError:
            continue
        age = time.time() - info.st_mtime
        directory = stat.S_ISDIR(info.st_mode)
        if age < GRACE_S or not (directory or stat.S_ISREG(info.st_mode)):
            continue
        if (directory and not _only_parts(path)) or not _free(path, directory, age):
            continue
        try:
            if directory:
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except FileNotFoundError:  # another run removed it first
            continue
        except OSError as exc:
            logger.warning("cannot remove %s, left by an earlier run: %s", path, exc)
            continue
        logger.info("removed %s, left by an earlier run", path)
        removed.append(path.name)
    return removed


def sweep_store(filesystem: pa_fs.FileSystem, path: str, kinds: tuple[str, ...] = ("tmp",)) -> list[str]:
    """Remove the temporary prefixes that earlier, killed ``--dask`` runs left beside ``path`` on a store.

    The prefix ``.NAME.XXXXXXXX.tmp/`` beside ``path`` is removed when it
    holds only part files and nothing under it was written in the
    :data:`STORE_GRACE_S` seconds before this call.

    Returns
    -------
    list of str
        The names removed; a store that refuses a listing or a deletion is
        logged as a warning, and nothing is raised.
    """
    started = time.time()
    parent, _, name = path.rstrip("/").rpartition("/")
    pattern = _pattern(name, kinds)
    removed = []
    try:
        beside = filesystem.get_file_info(pa_fs.FileSelector(parent, allow_not_found=True))
    except OSError as exc:
        logger.warning("cannot list %s for temporaries left by an earlier run: %s", parent, exc)
        return removed
    for entry in beside:
        if entry.type != pa_fs.FileType.Directory or not pattern.fullmatch(entry.base_name):
            continue
        try:
            inside = filesystem.get_file_info(pa_fs.FileSelector(entry.path, recursive=True,
                                                                 allow_not_found=True))
            files = [i for i in inside if i.type == pa_fs.FileType.File]
            if len(files) != len(inside) or not all(_PART_ENTRY.fullmatch(i.base_name) for i in files):
                continue
            newest = max((i.mtime.timestamp() for i in files if i.mtime is not None), default=None)
            if newest is not None and newest > started - STORE_GRACE_S:
                continue
            filesystem.delete_dir(entry.path)
        except OSError as exc:
            logger.warning("cannot remove %s, left by an earlier run: %s", entry.path, exc)
            continue
        logger.info("removed %s, left by an earlier run", entry.path)
        removed.append(entry.base_name)
    return removed


def removed_note(names: list[str]) -> list[str]:
    """The ``notes`` line a job adds for the temporaries it removed (none for none)."""
    if not names:
        return []
    files = "file" if len(names) == 1 else "files"
    return [f"removed {len(names)} temporary {files} left by an earlier run: {', '.join(names)}"]
