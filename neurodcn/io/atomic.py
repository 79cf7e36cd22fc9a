"""Atomic writes: a file or a directory store is written under a temporary name beside its destination and
renamed into place, so a failed write leaves no partial file and never clobbers what was there.

Temporary names are recognisable: ``.<name>.neurodcn-tmp-<pid>-<random><suffix>`` (``-old-`` for a store
moved aside while it is replaced). Each write first removes stale temporaries of its own destination: only
names of that pattern, only when the process that made them is gone and they are older than ten minutes.

A destination that is a directory is replaced only when the caller says it is recognisably its own (e.g. a
zarr store that neurodcn wrote); any other directory raises IsADirectoryError and is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

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
    "STALE_AFTER_S",
]

STALE_AFTER_S = 600.0
"""A temporary of a finished process is removed once it is older than this (seconds)."""

_MARK = "neurodcn"


def temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    """A hidden, unique name in ``path``'s directory: ``.<name>.neurodcn-<tag>-<pid>-<hex>`` + ``path``'s suffix."""
    path = Path(path)
    return path.with_name(f".{path.name}.{_MARK}-{tag}-{os.getpid()}-{uuid.uuid4().hex[:12]}{path.suffix}")


def _pattern(path: Path) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(path.name)}\.{_MARK}-(tmp|old)-(\d+)-[0-9a-f]{{12}}{re.escape(path.suffix)}$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale_temporaries(path, min_age_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove temporaries that writes to ``path`` left behind when their process died; returns what was removed.

    Only siblings named by :func:`temporary_sibling` for this ``path``, whose process id is not running on this
    machine and whose modification time is more than ``min_age_s`` seconds ago.
    """
    path = Path(path)
    pattern, removed, now = _pattern(path), [], time.time()
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or _alive(int(m.group(2))):
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


def _check_replaceable(path: Path, replace_dir: Callable[[Path], bool] | None) -> None:
    if path.is_dir() and not path.is_symlink() and not (replace_dir is not None and replace_dir(path)):
        raise IsADirectoryError(
            f"path {str(path)!r} is an existing directory that neurodcn did not write; it is left untouched "
            "(remove it yourself or choose another path)"
        )


def check_destination(path, overwrite: bool, replace_dir: Callable[[Path], bool] | None = None) -> Path:
    """Before any work is done: FileExistsError if ``path`` exists and not ``overwrite``, FileNotFoundError if
    its folder is missing, IsADirectoryError if it is a directory that ``replace_dir`` does not recognise."""
    path = Path(path)
    if not check_bool("overwrite", overwrite) and (path.exists() or path.is_symlink()):
        raise FileExistsError(f"path {str(path)!r} exists and overwrite=False")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the directory of path {str(path)!r} does not exist")
    _check_replaceable(path, replace_dir)
    return path


def move_into_place(tmp: Path, path: Path, replace_dir: Callable[[Path], bool] | None = None) -> None:
    """Rename ``tmp`` to ``path``. An existing file is replaced atomically; an existing directory only when
    ``replace_dir(path)`` is true, via a side name (``path`` is missing only between two renames), else
    IsADirectoryError."""
    _check_replaceable(path, replace_dir)
    if path.is_dir() and not path.is_symlink():
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
    """Yield a temporary sibling of ``path`` to write to: it replaces ``path`` when the block succeeds and is
    deleted when it raises. An existing directory at ``path`` raises IsADirectoryError before anything is
    written unless ``replace_dir(path)`` is true (see :func:`move_into_place`)."""
    path = Path(path)
    _check_replaceable(path, replace_dir)
    clean_stale_temporaries(path)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        move_into_place(tmp, path, replace_dir)
    except BaseException:
        remove(tmp)
        raise


def write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode())
