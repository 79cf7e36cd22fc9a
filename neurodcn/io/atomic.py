"""Atomic writes: a file or a directory store is written under a temporary name beside its destination and
renamed into place, so a failed write leaves no partial file and never clobbers what was there."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "temporary_sibling", "move_into_place", "remove", "write_text", "write_bytes"]


def temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    """A hidden, unique name in ``path``'s directory that keeps its suffix (e.g. .nc, .zarr, .nwb)."""
    return path.with_name(f".{path.stem}.{tag}-{uuid.uuid4().hex[:12]}{path.suffix}")


def remove(path: Path) -> None:
    """Delete a file or a directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def move_into_place(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``; an existing file is replaced atomically, an existing directory via a side
    name (``path`` is missing only between two renames)."""
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
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write to: it replaces ``path`` when the block succeeds and is
    deleted when it raises."""
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        move_into_place(tmp, path)
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
