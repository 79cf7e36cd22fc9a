"""What loading may touch: regular files only, nothing outside the file or store named, within a memory budget.

- :func:`check_regular` refuses a FIFO, device node, socket or directory where a file is read (following
  symlinks, so a link to one is refused too): opening a FIFO blocks until someone writes to it.
- :func:`check_hdf5` refuses an HDF5/netCDF-4 file that reads other files: external links, external storage
  (a dataset whose bytes live in another file) and virtual datasets.
- :func:`check_store_tree` refuses a zarr store holding a symlink or a non-regular file.
- :func:`check_archive` checks a zip's (or .npz's) declared uncompressed sizes, :func:`read_bounded` a stream's
  (gzip), before they are inflated.
- Budgets: declared sizes are checked before anything is allocated. The byte budget is ``max_bytes`` where a
  loader takes it, else the environment variable ``NEURODCN_MAX_BYTES``, else :data:`DEFAULT_MAX_BYTES`;
  the pixel budget of image sets likewise ``max_pixels``, ``NEURODCN_MAX_PIXELS``, :data:`DEFAULT_MAX_PIXELS`;
  results built in memory (a recording) get ``NEURODCN_MAX_BYTES`` if set, else 80 % of the memory available.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from neurodcn.validate import check_int

__all__ = [
    "BudgetError",
    "RefusedFileError",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "MAX_BYTES_ENV",
    "MAX_PIXELS_ENV",
    "byte_budget",
    "pixel_budget",
    "memory_budget",
    "check_budget",
    "check_regular",
    "check_hdf5",
    "check_store_tree",
    "check_archive",
    "read_bounded",
    "file_kind",
]

DEFAULT_MAX_BYTES = 2**30
"""Default byte budget of one load (1 GiB)."""
DEFAULT_MAX_PIXELS = 2**25
"""Default pixel budget of one image set (33.5 million pixels: 400 MB as float32 RGB)."""
MAX_BYTES_ENV, MAX_PIXELS_ENV = "NEURODCN_MAX_BYTES", "NEURODCN_MAX_PIXELS"


class BudgetError(ValueError):
    """A file declares more data than the budget of the load allows (nothing was allocated)."""


class RefusedFileError(ValueError):
    """A file that is not a regular file, or that refers to data outside itself (nothing was read)."""


def _budget(name: str, value, env: str, default: int) -> int:
    if value is not None:
        return check_int(name, value, minimum=1)
    text = os.environ.get(env)
    if text is None:
        return default
    try:
        return check_int(f"environment variable {env}", int(text), minimum=1)
    except ValueError:
        raise ValueError(f"environment variable {env} must be a positive integer, got {text!r}") from None


def byte_budget(max_bytes=None) -> int:
    """``max_bytes``, else $NEURODCN_MAX_BYTES, else DEFAULT_MAX_BYTES."""
    return _budget("max_bytes", max_bytes, MAX_BYTES_ENV, DEFAULT_MAX_BYTES)


def pixel_budget(max_pixels=None) -> int:
    """``max_pixels``, else $NEURODCN_MAX_PIXELS, else DEFAULT_MAX_PIXELS."""
    return _budget("max_pixels", max_pixels, MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS)


def memory_budget(max_bytes=None) -> int:
    """``max_bytes``, else $NEURODCN_MAX_BYTES, else 80 % of the memory available now (MemAvailable): the
    budget of results built in memory."""
    if max_bytes is not None or MAX_BYTES_ENV in os.environ:
        return byte_budget(max_bytes)
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(0.8 * available)


def check_budget(what: str, need: int, budget: int, unit: str = "bytes", hint: str = "") -> None:
    """BudgetError if ``need`` exceeds ``budget`` (``what`` says who declares it; ``hint`` how to proceed)."""
    if need > budget:
        name, env = ("max_pixels", MAX_PIXELS_ENV) if unit == "pixels" else ("max_bytes", MAX_BYTES_ENV)
        raise BudgetError(f"{what} declares {need:,} {unit}, over the budget of {budget:,} {unit} ({name}= or "
                          f"${env}){'; ' + hint if hint else ''}")


def check_archive(path, what: str = "path", max_bytes=None, names=None) -> dict:
    """{name: ZipInfo} of zip (or .npz) file ``path``, after checking that the declared uncompressed sizes of
    ``names`` (default: every member) together fit the byte budget, before anything is inflated. (Reading a
    member never yields more than its declared size: zipfile stops there and checks the CRC.)"""
    import zipfile

    check_regular(path, what)
    with zipfile.ZipFile(path) as z:
        infos = {i.filename: i for i in z.infolist()}
    declared = sum(infos[n].file_size for n in (infos if names is None else names))
    check_budget(f"{what} {str(path)!r} (uncompressed)", declared, byte_budget(max_bytes),
                 hint="read fewer members or raise the budget")
    return infos


def read_bounded(fileobj, what: str, max_bytes=None) -> bytes:
    """All of ``fileobj`` (e.g. a gzip stream) if it is within the byte budget, else BudgetError after reading
    one byte more than the budget."""
    budget = byte_budget(max_bytes)
    data = fileobj.read(budget + 1)
    check_budget(what, len(data), budget, hint="(at least that many bytes once decompressed)")
    return data


def file_kind(mode: int) -> str:
    """What ``st_mode`` is, in words."""
    for test, word in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISLNK, "symlink")):
        if test(mode):
            return word
    return "special file"


def check_regular(path, what: str = "path") -> os.stat_result:
    """``os.stat(path)`` if it is a regular file (after symlinks), else RefusedFileError (FileNotFoundError if
    missing): FIFOs and devices are never opened, as reading them may block forever."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise RefusedFileError(f"{what} {str(path)!r} is a {file_kind(st.st_mode)}; only regular files are read")
    return st


def check_store_tree(root, what: str = "path") -> None:
    """RefusedFileError if directory ``root`` (a zarr store) holds a symlink or anything but folders and regular
    files: a store is read only from inside itself."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            p = Path(folder) / name
            try:
                mode = p.lstat().st_mode
            except FileNotFoundError:  # a writer's temporary file renamed away since the listing: nothing to read
                continue
            if stat.S_ISLNK(mode):
                raise RefusedFileError(f"{what} {str(root)!r} holds a symlink {str(p.relative_to(root))!r} -> "
                                       f"{os.readlink(p)!r}; a zarr store is read only from inside itself")
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise RefusedFileError(f"{what} {str(root)!r} holds a {file_kind(mode)} "
                                       f"{str(p.relative_to(root))!r}; only regular files are read")


def check_hdf5(path, what: str = "path") -> int:
    """The declared size in bytes of every dataset of HDF5 file ``path``; RefusedFileError if the file refers to
    other files (external links, external storage, virtual datasets), before any data are read."""
    import h5py

    total, found = 0, []

    def visit(name, link):
        nonlocal total
        if isinstance(link, h5py.ExternalLink):
            found.append(f"external link {name!r} -> {link.filename}:{link.path}")
            return
        if isinstance(link, h5py.SoftLink):
            return
        obj = f[name]
        if isinstance(obj, h5py.Dataset):
            if obj.external:
                found.append(f"dataset {name!r} with external storage in {[e[0] for e in obj.external]}")
            elif obj.is_virtual:
                found.append(f"virtual dataset {name!r} mapping {[m.file_name for m in obj.virtual_sources()]}")
            total += obj.size * obj.dtype.itemsize

    with h5py.File(path, "r") as f:
        f.visititems_links(visit)
    if found:
        raise RefusedFileError(f"{what} {str(path)!r} reads other files ({'; '.join(found)[:300]}); only data "
                         "stored inside the file are loaded")
    return total
