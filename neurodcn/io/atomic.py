"""Atomic writes: a file or a directory store is written under a temporary name beside its destination and
renamed into place, so a failed write leaves no partial file and never clobbers what was there.

Temporary names are recognisable: ``.<name>.neurodcn-tmp-<pid>-<random><suffix>`` (``-old-`` for a store
moved aside while it is replaced; a name too long for that, up to the 255-byte limit, is shortened to its start
and a hash). Each write first tidies up after writes to its own destination whose process is gone: a store
that was moved aside is put back when the destination is missing (a write killed between its two renames);
other temporaries are removed once they are older than ten minutes.

Targets. A symlink is written through: its target is replaced, the link stays. A FIFO, device node or socket is
refused (RefusedFileError) before any work. A destination that is a directory is replaced only when the caller
says it is recognisably its own (e.g. a zarr store that neurodcn wrote); any other directory raises
IsADirectoryError and is left untouched.

Concurrency. :func:`lock` holds a lock file (created exclusively, holding the owner's pid and host) for as long
as a long write or run goes on; a second writer fails at once with an error naming the owner. A lock whose
process is gone (same host) is taken over, atomically: of several processes that find it, exactly one wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import socket
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from neurodcn.io.limits import RefusedFileError, file_kind
from neurodcn.validate import check_bool

__all__ = [
    "atomic_path",
    "temporary_sibling",
    "move_into_place",
    "remove",
    "write_text",
    "write_bytes",
    "clean_stale_temporaries",
    "check_destination",
    "write_files",
    "lock",
    "lock_path",
    "LockedError",
    "STALE_AFTER_S",
]

STALE_AFTER_S = 600.0
"""A temporary of a finished process is removed once it is older than this (seconds)."""

_MARK = "neurodcn"


_NAME_MAX = 255


def _base(path: Path) -> str:
    """``path``'s name as embedded in its temporaries: shortened (start + hash) where the longest temporary
    name would pass the file-name limit."""
    overhead = len(f"..{_MARK}-lock-{'9' * 10}-{'0' * 12}".encode()) + len(path.suffix.encode())
    if len(path.name.encode()) + overhead <= _NAME_MAX:
        return path.name
    keep = path.name.encode()[: _NAME_MAX - overhead - 9].decode(errors="ignore")
    return f"{keep}~{hashlib.sha1(path.name.encode()).hexdigest()[:8]}"


def temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    """A hidden, unique name in ``path``'s directory: ``.<name>.neurodcn-<tag>-<pid>-<hex>`` + ``path``'s suffix."""
    path = Path(path)
    return path.with_name(f".{_base(path)}.{_MARK}-{tag}-{os.getpid()}-{uuid.uuid4().hex[:12]}{path.suffix}")


def lock_path(path) -> Path:
    """The lock file of writes to ``path``: ``.<name>.neurodcn-lock`` beside it (see :func:`lock`)."""
    path = Path(path)
    return path.with_name(f".{_base(path)}.{_MARK}-lock")


def _pattern(path: Path) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(_base(path))}\.{_MARK}-(tmp|old)-(\d+)-[0-9a-f]{{12}}{re.escape(path.suffix)}$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale_temporaries(path, min_age_s: float = STALE_AFTER_S) -> list[Path]:
    """Tidy up after writes to ``path`` whose process is gone (not running on this machine); returns what was
    removed. A store moved aside (``-old-``) is renamed back to ``path`` if ``path`` is missing; other
    temporaries named by :func:`temporary_sibling` for this ``path`` are removed once their modification time
    is more than ``min_age_s`` seconds ago."""
    path = Path(path)
    pattern, removed, now = _pattern(path), [], time.time()
    try:
        entries = sorted(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or _alive(int(m.group(2))):
            continue
        if m.group(1) == "old" and not (path.exists() or path.is_symlink()):
            os.replace(entry, path)  # killed between the two renames of a replace: the old copy comes back
            continue
        try:
            age = now - entry.lstat().st_mtime
        except OSError:
            continue
        if age > min_age_s:
            remove(entry)
            removed.append(entry)
    return removed


def remove(path: Path) -> None:
    """Delete a file or a directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _target(path) -> Path:
    """Where a write to ``path`` goes: through a symlink to its target; RefusedFileError for a FIFO, device
    node or socket."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise RefusedFileError(f"path {str(path)!r} is a {file_kind(mode)}; only regular files (or stores) are "
                               "written, so it is left untouched")
    return path


def _check_replaceable(path: Path, replace_dir: Callable[[Path], bool] | None) -> None:
    if path.is_dir() and not (replace_dir is not None and replace_dir(path)):
        raise IsADirectoryError(
            f"path {str(path)!r} is an existing directory that neurodcn did not write; it is left untouched "
            "(remove it yourself or choose another path)"
        )


def check_destination(path, overwrite: bool, replace_dir: Callable[[Path], bool] | None = None) -> Path:
    """Before any work is done: FileExistsError if ``path`` exists and not ``overwrite``, FileNotFoundError if
    its folder is missing, IsADirectoryError if it is a directory that ``replace_dir`` does not recognise,
    RefusedFileError if it is a FIFO, device node or socket, PermissionError if its folder is not writable.
    Returns the path written to (a symlink's target)."""
    path = Path(path)
    if not check_bool("overwrite", overwrite) and (path.exists() or path.is_symlink()):
        raise FileExistsError(f"path {str(path)!r} exists and overwrite=False")
    target = _target(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the directory of path {str(path)!r} does not exist")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise PermissionError(f"the directory of path {str(path)!r} is not writable")
    _check_replaceable(target, replace_dir)
    return target


def move_into_place(tmp: Path, path: Path, replace_dir: Callable[[Path], bool] | None = None) -> None:
    """Rename ``tmp`` to ``path``. An existing file is replaced atomically; an existing directory only when
    ``replace_dir(path)`` is true, via a side name (``path`` is missing only between two renames), else
    IsADirectoryError."""
    _check_replaceable(path, replace_dir)
    if path.is_dir():
        aside = temporary_sibling(path, "old")
        os.replace(path, aside)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(aside, path)
            raise
        remove(aside)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path, replace_dir: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write to: it replaces ``path`` (a symlink's target) when the
    block succeeds and is deleted when it raises. An existing directory at ``path`` raises IsADirectoryError
    before anything is written unless ``replace_dir(path)`` is true (see :func:`move_into_place`); a FIFO,
    device node or socket raises RefusedFileError."""
    path = _target(path)
    _check_replaceable(path, replace_dir)
    clean_stale_temporaries(path)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        move_into_place(tmp, path, replace_dir)
    except BaseException:
        remove(tmp)
        raise


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_path(path) as tmp:
        _write_synced(tmp, data)
    return Path(path)


def write_files(files: dict) -> list[Path]:
    """Write several files ({path: bytes}) together: all are written to temporaries first, then renamed into
    place; if any write or rename fails, every destination is left as it was before (the ones already
    renamed are put back). Returns the paths."""
    targets = {_target(p): data for p, data in files.items()}
    done, temps, backups = [], {}, {}
    try:
        for path, data in targets.items():
            _check_replaceable(path, None)
            clean_stale_temporaries(path)
            temps[path] = temporary_sibling(path)
            _write_synced(temps[path], data)
        for path in targets:
            if path.exists():
                backups[path] = temporary_sibling(path, "old")
                os.link(path, backups[path])
            os.replace(temps[path], path)
            del temps[path]
            done.append(path)
    except BaseException:
        for path in done:
            os.replace(backups.pop(path), path) if path in backups else path.unlink()
        raise
    finally:
        for leftover in [*temps.values(), *backups.values()]:
            remove(leftover)
    return [Path(p) for p in files]


class LockedError(FileExistsError):
    """A destination is being written (or a run folder used) by another process."""


def _owner(lock_file: Path) -> tuple[int, str] | None:
    try:
        pid, host = lock_file.read_text().split(" ", 1)
        return int(pid), host.strip()
    except (OSError, ValueError):
        return None


def _stale(owner: tuple[int, str] | None) -> bool:
    """Whether a lock's owner is a process of this machine that is gone."""
    return owner is not None and owner[1] == socket.gethostname() and not _alive(owner[0])


def _take_over(lock_file: Path, me: str) -> bool:
    """Replace the stale ``lock_file`` by one holding ``me``, unless another process took it over first; whether
    this one did."""
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except FileNotFoundError:
        return False
    with os.fdopen(fd) as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # takers of this stale file, one at a time; released with the file
        try:
            still = os.path.samestat(os.fstat(f.fileno()), os.stat(lock_file))
        except FileNotFoundError:
            return False
        if not (still and _stale(_owner(lock_file))):
            return False  # an earlier taker replaced it
        clean_stale_temporaries(lock_file)  # a taker killed before its rename
        mine = temporary_sibling(lock_file)
        mine.write_text(me)
        os.replace(mine, lock_file)
        return True


@contextlib.contextmanager
def lock(lock_file, what: str) -> Iterator[Path]:
    """Hold ``lock_file`` (created exclusively, holding "<pid> <host>") for the block; ``what`` names the
    destination in the error. A lock of a process that is gone (same host) is taken over; any other raises
    LockedError at once, naming its owner.

    Taking over is atomic, so of several processes that find the same stale lock exactly one wins and the others
    get LockedError naming the winner: a taker holds ``fcntl.flock`` on the stale file, checks that it is still
    the file at ``lock_file`` and still stale, and renames a complete lock file of its own over it (the path is
    never missing, so no exclusive create slips in between). flock was chosen over a second lock file because the
    kernel drops it when its holder dies (nothing stale to take over in turn), and, held on an open file, it
    cannot be confused by a reused inode; it is reliable on local file systems of Linux and other POSIX systems.
    """
    lock_file = Path(lock_file)
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(3):
        try:
            fd = os.open(lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(lock_file)
            if not _stale(owner):
                who = f"process {owner[0]} on {owner[1]}" if owner else "another process"
                raise LockedError(f"{what} is in use by {who} (lock file {str(lock_file)!r}); wait for it to "
                                  "finish, or delete the lock file if that process is gone") from None
            if _take_over(lock_file, me):
                break
        else:
            with os.fdopen(fd, "w") as f:
                f.write(me)
            break
    else:
        raise LockedError(f"{what}: could not take the lock file {str(lock_file)!r}")
    try:
        yield lock_file
    finally:
        if lock_file.exists() and lock_file.read_text() == me:
            lock_file.unlink()


def write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode())
