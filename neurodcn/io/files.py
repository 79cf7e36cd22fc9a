"""Datasets on disk: netCDF (.nc, h5netcdf) or zarr (.zarr, format 2 with consolidated metadata).

Everything is written under a temporary name in the destination's directory and renamed into place, so a
failed write leaves no partial file and never clobbers an existing one. A zarr store is a directory: an
existing one is first renamed aside, the new one renamed in, and the old one deleted (the destination is
missing only between those two renames).

Attributes. netCDF and zarr only store strings, numbers and numeric arrays. Before writing, every dict, list,
tuple, bool and None attribute (global, data variable or coordinate) is JSON-encoded into a string and its
name recorded in the ``neurodcn_json_attrs`` attribute of the same object; :func:`load_dataset` decodes them
back (tuples come back as lists; numpy scalar attributes, as netCDF returns numbers, become Python
numbers). Model and solver configurations are stored as JSON strings from the start
(neurodcn.schema.stamp_provenance), so they stay strings on load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from neurodcn.io.atomic import atomic_path, move_into_place, remove, temporary_sibling
from neurodcn.io.extras import require
from neurodcn.schema import json_default, validate_dataset

__all__ = [
    "JSON_ATTRS_KEY",
    "encode_attrs",
    "decode_attrs",
    "save_dataset",
    "load_dataset",
    "ZarrStreamWriter",
]

JSON_ATTRS_KEY = "neurodcn_json_attrs"
"""Attribute listing (as a JSON list) which attributes of the same object were JSON-encoded."""

_SUFFIXES = (".nc", ".zarr")


def _needs_json(value) -> bool:
    return value is None or isinstance(value, dict | list | tuple | bool | np.bool_)


def _encode_dict(attrs: dict, where: str) -> dict:
    if JSON_ATTRS_KEY in attrs:
        raise ValueError(f"{where} attrs must not already contain the reserved key {JSON_ATTRS_KEY!r}")
    out, encoded = {}, []
    for key, value in attrs.items():
        if _needs_json(value):
            try:
                out[key] = json.dumps(value, default=json_default)
            except TypeError as exc:
                raise TypeError(f"{where} attribute {key!r}: {exc}") from exc
            encoded.append(key)
        else:
            out[key] = value
    if encoded:
        out[JSON_ATTRS_KEY] = json.dumps(encoded)
    return out


def _decode_dict(attrs: dict) -> dict:
    out = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in attrs.items()}
    keys = out.pop(JSON_ATTRS_KEY, None)
    for key in json.loads(keys) if keys is not None else []:
        out[key] = json.loads(out[key])
    return out


def encode_attrs(ds: xr.Dataset) -> xr.Dataset:
    """A shallow copy of ``ds`` whose attributes are all writable (see module docstring); data not copied."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    out = ds.copy(deep=False)
    out.attrs = _encode_dict(ds.attrs, "global")
    for name, var in out.variables.items():
        var.attrs = _encode_dict(ds.variables[name].attrs, f"variable {name!r}")
    return out


def decode_attrs(ds: xr.Dataset) -> xr.Dataset:
    """Undo :func:`encode_attrs` (a shallow copy; datasets without encoded attrs pass unchanged)."""
    out = ds.copy(deep=False)
    out.attrs = _decode_dict(ds.attrs)
    for name, var in out.variables.items():
        var.attrs = _decode_dict(ds.variables[name].attrs)
    return out


def _prepare(ds: xr.Dataset, for_zarr: bool) -> xr.Dataset:
    """Encoded attrs, no stale on-disk encodings; fixed-width strings become variable-length for zarr."""
    out = encode_attrs(ds)
    for var in out.variables.values():
        var.encoding = {}
    if for_zarr:
        fixed = [n for n, v in out.variables.items() if v.dtype.kind == "U"]
        out = out.assign({n: out[n].astype(object) for n in fixed if n in out.data_vars})
        out = out.assign_coords({n: out[n].astype(object) for n in fixed if n in out.coords})
    return out


def _check_path(path, what: str = "path") -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{what} must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if p.suffix not in _SUFFIXES:
        raise ValueError(f"{what} must end in one of {_SUFFIXES} (netCDF or zarr), got {str(path)!r}")
    return p


def save_dataset(ds: xr.Dataset, path, overwrite: bool = True, validate: bool = False) -> Path:
    """Write ``ds`` to ``path`` (.nc: netCDF4 via h5netcdf; .zarr: zarr store), atomically; returns the path.

    ``validate=True`` first checks the schema (neurodcn.schema.validate_dataset). With
    ``overwrite=False`` an existing destination raises FileExistsError.
    """
    p = _check_path(path)
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    if validate:
        validate_dataset(ds)
    if not overwrite and (p.exists() or p.is_symlink()):
        raise FileExistsError(f"path {str(p)!r} exists and overwrite=False")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"the directory of path {str(p)!r} does not exist")
    if p.suffix == ".zarr":
        require("zarr", "save_dataset to a .zarr store")
    prepared = _prepare(ds, for_zarr=p.suffix == ".zarr")
    with atomic_path(p) as tmp:
        if p.suffix == ".nc":
            prepared.to_netcdf(tmp, engine="h5netcdf")
        else:
            prepared.to_zarr(tmp, mode="w-", zarr_format=2, consolidated=True)
    return p


def load_dataset(path, decode: bool = True, lazy: bool = False) -> xr.Dataset:
    """Read a dataset written by :func:`save_dataset` (or any .nc / .zarr) and decode its JSON attributes.

    By default the data are loaded into memory and the file closed; ``lazy=True`` returns a dask-backed
    dataset that reads on demand (for recordings larger than memory).
    """
    p = _check_path(path)
    if not p.exists():
        raise FileNotFoundError(f"path {str(p)!r} does not exist")
    if lazy:
        require("dask", "load_dataset(lazy=True)")
    if p.suffix == ".nc":
        ds = xr.open_dataset(p, engine="h5netcdf", chunks={} if lazy else None)
    else:
        require("zarr", "load_dataset of a .zarr store")
        ds = xr.open_zarr(p, chunks={} if lazy else None)
    if not lazy:
        loaded = ds.load()
        ds.close()
        ds = loaded
    return decode_attrs(ds) if decode else ds


class ZarrStreamWriter:
    """Append datasets batch by batch along ``dim`` to a zarr store, then move it into place atomically.

    Memory is bounded by one batch: each :meth:`append` writes straight to a temporary store next to
    ``path``. Variables without ``dim`` (e.g. a ``channel`` coordinate) are written with the first batch and
    must be identical in every later batch. :meth:`close` (optionally updating global attrs) renames the
    store to ``path``; :meth:`abort`, or leaving a ``with`` block by an exception, deletes it.
    """

    def __init__(self, path, dim: str = "stimulus", overwrite: bool = True):
        self.path = _check_path(path)
        if self.path.suffix != ".zarr":
            raise ValueError(f"path must end in .zarr for streaming, got {str(path)!r}")
        require("zarr", "ZarrStreamWriter")
        if not isinstance(dim, str) or not dim:
            raise ValueError(f"dim must be a non-empty string, got {dim!r}")
        if not overwrite and self.path.exists():
            raise FileExistsError(f"path {str(self.path)!r} exists and overwrite=False")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"the directory of path {str(self.path)!r} does not exist")
        self.dim = dim
        self.size = 0
        self._tmp = temporary_sibling(self.path)
        self._static: xr.Dataset | None = None
        self._open = True

    def append(self, batch: xr.Dataset) -> None:
        """Write one batch (an xr.Dataset with dimension ``dim``) at the end of the store."""
        if not self._open:
            raise RuntimeError("this ZarrStreamWriter is closed")
        if not isinstance(batch, xr.Dataset):
            raise TypeError(f"batch must be an xarray.Dataset, got {type(batch).__name__}")
        if self.dim not in batch.dims:
            raise ValueError(f"batch must have dimension {self.dim!r}, got dims {tuple(batch.dims)}")
        static = [n for n, v in batch.variables.items() if self.dim not in v.dims]
        prepared = _prepare(batch, for_zarr=True)
        if self._static is None:
            prepared.to_zarr(self._tmp, mode="w-", zarr_format=2, consolidated=True)
            self._static = batch[static].copy(deep=True) if static else xr.Dataset()
        else:
            if static and not batch[static].identical(self._static):
                raise ValueError(
                    f"variables without dimension {self.dim!r} ({static}) must be identical in every "
                    "batch; this batch differs from the first"
                )
            prepared.drop_vars(static).to_zarr(self._tmp, append_dim=self.dim, consolidated=True)
        self.size += batch.sizes[self.dim]

    def close(self, attrs: dict | None = None, extra: xr.Dataset | None = None) -> Path:
        """Finish: optionally add ``extra`` variables known only at the end (they may have ``dim`` but must not
        need appending) and replace the global attrs by ``attrs``, then rename the store to ``path``."""
        if not self._open:
            raise RuntimeError("this ZarrStreamWriter is closed")
        if self._static is None:
            raise ValueError("nothing was appended: a store needs at least one batch")
        import zarr

        try:
            if extra is not None:
                if not isinstance(extra, xr.Dataset):
                    raise TypeError(f"extra must be an xarray.Dataset or None, got {type(extra).__name__}")
                _prepare(extra, for_zarr=True).to_zarr(self._tmp, mode="a", consolidated=True)
            if attrs is not None:
                if not isinstance(attrs, dict):
                    raise TypeError(f"attrs must be a dict or None, got {type(attrs).__name__}")
                group = zarr.open_group(self._tmp, mode="r+", zarr_format=2)
                group.attrs.clear()
                group.attrs.update(_encode_dict(attrs, "global"))
                zarr.consolidate_metadata(self._tmp)
            move_into_place(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._open = False
        return self.path

    def abort(self) -> None:
        """Delete the temporary store; ``path`` is left as it was."""
        self._open = False
        remove(self._tmp)

    def __enter__(self) -> ZarrStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._open:
            self.abort()
