"""Datasets on disk: netCDF (.nc, h5netcdf) or zarr (.zarr, format 2 with consolidated metadata).

Both xarray Datasets and DataTrees (a recording: one group per block, see neurodcn.schema) are written; a
DataTree's groups become netCDF groups or zarr groups, each also holding the index coordinates it inherits (so
``xr.open_dataset(path, group="block1")`` alone is a complete dataset), and a file with groups loads back as a
DataTree.

Everything is written under a temporary name in the destination's directory and renamed into place, so a
failed write leaves no partial file and never clobbers an existing one. A zarr store is a directory: an
existing one is replaced only if neurodcn wrote it (its global attrs carry ``neurodcn_store``, or a ``source``
of "neurodcn ..."): it is renamed aside, the new one renamed in, and the old one deleted (the destination is
missing only between those two renames). Any other existing directory raises IsADirectoryError, untouched.
A zarr store is marked ``neurodcn_store = "incomplete"`` while it is being written and "complete" when it
is closed; :func:`load_dataset` warns about an incomplete store and hides the mark of a complete one. A
streamed incomplete store is read up to the rows its writer finished (``neurodcn_finished``): every group and
variable is cut there, so a writer killed part way through a batch leaves a readable store.

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
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from neurodcn.io.atomic import (
    atomic_path,
    check_destination,
    clean_stale_temporaries,
    lock,
    lock_path,
    move_into_place,
    remove,
)
from neurodcn.io.extras import require
from neurodcn.io.limits import (
    BudgetError,
    RefusedFileError,
    byte_budget,
    check_budget,
    check_hdf5,
    check_regular,
    check_store_tree,
    file_kind,
)
from neurodcn.schema import json_default, nodes, upgrade_names, validate_dataset
from neurodcn.validate import check_bool, check_path, check_str, check_type

__all__ = [
    "JSON_ATTRS_KEY",
    "encode_attrs",
    "decode_attrs",
    "save_dataset",
    "load_dataset",
    "ZarrStreamWriter",
    "STORE_ATTR",
    "FINISHED_ATTR",
    "partial_path",
    "is_neurodcn_store",
]

JSON_ATTRS_KEY = "neurodcn_json_attrs"
"""Attribute listing (as a JSON list) which attributes of the same object were JSON-encoded."""

_SUFFIXES = (".nc", ".zarr")

STORE_ATTR = "neurodcn_store"
"""Global attr of a zarr store written by neurodcn: "incomplete" while it is written, "complete" once closed."""
FINISHED_ATTR = "neurodcn_finished"
"""Global attr of an incomplete streamed store: {"dim", "size"}, the rows of its finished batches."""


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


def _json_attr(where: str, key: str, text):
    """json.loads of attribute ``key``, or a ValueError naming it."""
    if not isinstance(text, str):
        raise ValueError(f"{where} attribute {key!r} must be a JSON string, got {type(text).__name__} {text!r:.80}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{where} attribute {key!r} is not valid JSON ({type(exc).__name__}): {text!r:.80}") from None


def _decode_dict(attrs: dict, where: str) -> dict:
    out = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in attrs.items()}
    keys = out.pop(JSON_ATTRS_KEY, None)
    keys = [] if keys is None else _json_attr(where, JSON_ATTRS_KEY, keys)
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise ValueError(
            f"{where} attribute {JSON_ATTRS_KEY!r} must be a JSON list of attribute names, got {keys!r:.80}"
        )
    for key in keys:
        if key not in out:
            raise ValueError(f"{where} attribute {JSON_ATTRS_KEY!r} lists {key!r}, which is missing")
        out[key] = _json_attr(where, key, out[key])
    return out


def _map(ds, fn):
    """fn applied to every group's own Dataset of a DataTree (a new tree), or to a Dataset."""
    if isinstance(ds, xr.DataTree):
        return xr.DataTree.from_dict({path: fn(node) for path, node in nodes(ds).items()})
    if isinstance(ds, xr.Dataset):
        return fn(ds)
    raise TypeError(f"ds must be an xarray.Dataset or DataTree, got {type(ds).__name__}")


def _encode_dataset(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy(deep=False)
    out.attrs = _encode_dict(ds.attrs, "global")
    for name, var in out.variables.items():
        var.attrs = _encode_dict(ds.variables[name].attrs, f"variable {name!r}")
    return out


def _decode_dataset(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy(deep=False)
    out.attrs = _decode_dict(ds.attrs, "global")
    for name, var in out.variables.items():
        var.attrs = _decode_dict(ds.variables[name].attrs, f"variable {name!r}")
    return out


def encode_attrs(ds):
    """A shallow copy of a Dataset or DataTree whose attributes are all writable (see module docstring)."""
    return _map(ds, _encode_dataset)


def decode_attrs(ds):
    """Undo :func:`encode_attrs` (a shallow copy; objects without encoded attrs pass unchanged)."""
    return _map(ds, _decode_dataset)


def _prepare_dataset(ds: xr.Dataset, for_zarr: bool) -> xr.Dataset:
    out = _encode_dataset(ds)
    for var in out.variables.values():
        var.encoding = {}
    if for_zarr:
        fixed = [n for n, v in out.variables.items() if v.dtype.kind == "U"]
        out = out.assign({n: out[n].astype(object) for n in fixed if n in out.data_vars})
        out = out.assign_coords({n: out[n].astype(object) for n in fixed if n in out.coords})
    return out


def _prepare(ds, for_zarr: bool):
    """Encoded attrs, no stale on-disk encodings; fixed-width strings become variable-length for zarr."""
    return _map(ds, lambda node: _prepare_dataset(node, for_zarr))


def _check_path(path, what: str = "path") -> Path:
    return check_path(what, path, _SUFFIXES)


def is_neurodcn_store(path) -> bool:
    """Whether directory ``path`` is a zarr store that neurodcn wrote (see the module docstring)."""
    try:
        attrs = json.loads((Path(path) / ".zattrs").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(attrs, dict):
        return False
    source = attrs.get("source")
    return STORE_ATTR in attrs or (isinstance(source, str) and source.startswith("neurodcn"))


def save_dataset(ds, path, overwrite: bool = False, validate: bool = False) -> Path:
    """Write a Dataset or a recording (DataTree) to netCDF or zarr, atomically.

    The file is written under a temporary name beside the target and renamed into place; an existing
    directory is replaced only when it is a zarr store neurodcn wrote. JSON-able attributes (dicts, lists)
    are encoded as JSON strings and decoded again by ``load_dataset``.

    Args:
        ds: an ``xarray.Dataset`` or ``xarray.DataTree``.
        path: ``.nc`` (netCDF-4 via h5netcdf) or ``.zarr`` (a zarr store; needs ``neurodcn[zarr]``).
        overwrite: replace an existing file; with False (the default, as ``to_nwb``) an existing destination
            raises FileExistsError.
        validate: first check the schema (``neurodcn.schema.validate_dataset``).

    Returns:
        The path written.

    Examples:
        >>> import tempfile, pathlib, numpy as np, xarray as xr, neurodcn as nd
        >>> ds = xr.Dataset({"rate": ("time", np.arange(3.0))}, coords={"time": [0.0, 1.0, 2.0]},
        ...                 attrs={"settings": {"T": 2.0}})
        >>> path = nd.save_dataset(ds, pathlib.Path(tempfile.mkdtemp()) / "rate.nc")
        >>> back = nd.load_dataset(path)
        >>> back.rate.values.tolist(), back.attrs["settings"]
        ([0.0, 1.0, 2.0], {'T': 2.0})
    """
    p = _check_path(path)
    check_type("ds", ds, (xr.Dataset, xr.DataTree), "an xarray.Dataset or DataTree")
    check_bool("overwrite", overwrite)
    check_bool("validate", validate)
    if validate:
        validate_dataset(ds)
    check_destination(p, overwrite, is_neurodcn_store)
    if p.suffix == ".zarr":
        require("zarr", "save_dataset to a .zarr store")
    prepared = _prepare(ds, for_zarr=p.suffix == ".zarr")
    tree = {"write_inherited_coords": True} if isinstance(prepared, xr.DataTree) else {}
    with atomic_path(p, replace_dir=is_neurodcn_store) as tmp:
        if p.suffix == ".nc":
            prepared.to_netcdf(tmp, engine="h5netcdf", **tree)
        else:
            prepared.attrs[STORE_ATTR] = "complete"
            prepared.to_zarr(tmp, mode="w-", zarr_format=2, consolidated=True, **tree)
    return p


def _finished_rows(p: Path) -> tuple[str, int] | None:
    """(dim, rows) of the finished batches of an incomplete streamed zarr store ``p`` (its ``neurodcn_finished``
    mark), else None."""
    try:
        attrs = json.loads((p / ".zattrs").read_text())
    except (OSError, ValueError):
        return None
    done = attrs.get(FINISHED_ATTR) if isinstance(attrs, dict) and attrs.get(STORE_ATTR) == "incomplete" else None
    if isinstance(done, dict) and isinstance(done.get("dim"), str) and type(done.get("size")) is int:
        return done["dim"], max(done["size"], 0)
    return None


def _store_mark(ds, p: Path, rows: tuple[str, int] | None, dropped: int):
    """Hide the mark of a complete store; warn about an incomplete one (its mark stays), saying how many rows
    were read (``rows``) and how many were dropped after them."""
    mark = ds.attrs.get(STORE_ATTR)
    if mark == "complete":
        ds.attrs.pop(STORE_ATTR)
    elif mark is not None:
        said = ""
        if rows is not None:
            said = f"; its {rows[1]} finished {rows[0]} rows are read"
            if dropped:
                said += f" and the rest ({dropped} rows of an unfinished batch) is dropped"
        warnings.warn(f"{str(p)!r} is an incomplete zarr store (its writer did not finish{said})", stacklevel=3)
    return ds


def _zarr_bytes(p: Path) -> int:
    """The declared size in bytes of every array of zarr store ``p``."""
    import zarr

    members = zarr.open_group(p, mode="r").members(max_depth=None)
    return sum(a.nbytes for _, a in members if isinstance(a, zarr.Array))


def _check_readable(p: Path, lazy: bool, max_bytes) -> None:
    """Refuse what would read outside ``p`` or block (neurodcn.io.limits), and, unless ``lazy``, declared data
    over the byte budget, before anything is read."""
    if p.suffix == ".nc":
        check_regular(p)
        declared = check_hdf5(p)
    else:
        if not p.is_dir():
            raise RefusedFileError(f"path {str(p)!r} is a {file_kind(p.stat().st_mode)}, not a zarr store "
                                   "(a directory)")
        check_store_tree(p)
        declared = _zarr_bytes(p)
    if not lazy:
        check_budget(f"path {str(p)!r}", declared, byte_budget(max_bytes),
                     hint="load it with lazy=True (read on demand) or raise the budget")


def _zarr_store(p: Path, pinned: bool, rows: tuple[str, int] | None):
    """A read-only zarr store of directory ``p``.

    ``pinned``: it refuses to read once ``p`` has been replaced (a lazily opened store must not silently return
    another recording's data). ``rows`` = (dim, n): every array with dimension ``dim`` shows only its first n
    rows along it, so a streamed store whose writer was killed in the middle of a batch (some groups or variables
    already longer than others) reads as its finished batches; ``dropped`` is then the most rows an array had
    beyond them.
    """
    from zarr.core.buffer import default_buffer_prototype
    from zarr.storage import LocalStore

    class Store(LocalStore):
        def __init__(self, root):
            super().__init__(root, read_only=True)
            st = os.stat(root)
            self.identity = (st.st_dev, st.st_ino)
            self.dropped = 0

        async def get(self, key, prototype=None, byte_range=None):
            if pinned:
                try:
                    st = os.stat(self.root)
                    same = (st.st_dev, st.st_ino) == self.identity
                except OSError:
                    same = False
                if not same:
                    raise RuntimeError(f"zarr store {str(self.root)!r} was replaced or removed after it was opened "
                                       "lazily; load it again to read what is there now")
            found = await super().get(key, prototype, byte_range)
            if rows is None or found is None or not key.endswith(".zarray"):
                return found
            attrs = await super().get(key.removesuffix(".zarray") + ".zattrs", prototype)
            dims = json.loads(attrs.to_bytes()).get("_ARRAY_DIMENSIONS", []) if attrs is not None else []
            if rows[0] not in dims:
                return found
            meta, axis = json.loads(found.to_bytes()), dims.index(rows[0])
            self.dropped = max(self.dropped, meta["shape"][axis] - rows[1])
            meta["shape"][axis] = min(meta["shape"][axis], rows[1])
            return (prototype or default_buffer_prototype()).buffer.from_bytes(json.dumps(meta).encode())

    return Store(p)


def load_dataset(path, decode: bool = True, lazy: bool = False, max_bytes: int | None = None):
    """Read a file written by ``save_dataset`` (or any .nc / .zarr) and decode its JSON attributes.

    Only the file or store named is read (external links, external storage, virtual datasets and symlinks in a
    store are refused; so are FIFOs and devices).

    Args:
        path: a ``.nc`` file or ``.zarr`` store.
        decode: decode the JSON-encoded attributes back into dicts and lists.
        lazy: return dask-backed data read on demand (for recordings larger than memory; needs
            ``neurodcn[zarr]``) instead of loading everything and closing the file.
        max_bytes: an eager load whose declared data exceed it raises BudgetError before anything is
            allocated (default: $NEURODCN_MAX_BYTES, else 1 GiB; ``neurodcn.io.limits``).

    Returns:
        A DataTree when the file has groups (a recording), else a Dataset. An incomplete streamed zarr store
        (see :class:`ZarrStreamWriter`) gives its finished rows only, with a warning saying how many were read
        and how many dropped.

    Examples:
        >>> import tempfile, pathlib, numpy as np, xarray as xr, neurodcn as nd
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "h.nc"
        >>> tree = xr.DataTree.from_dict({"/block1": xr.Dataset({"h": ("stimulus", np.ones(2))})})
        >>> _ = nd.save_dataset(tree, path)
        >>> type(nd.load_dataset(path)).__name__, list(nd.load_dataset(path).children)
        ('DataTree', ['block1'])
    """
    p = _check_path(path)
    check_bool("decode", decode)
    check_bool("lazy", lazy)
    if lazy:
        require("dask", "load_dataset(lazy=True)")
    if p.suffix == ".zarr":
        require("zarr", "load_dataset of a .zarr store")
    kind = "netCDF-4" if p.suffix == ".nc" else "zarr"
    if not (p.exists() or p.is_symlink()):
        raise FileNotFoundError(f"path {str(p)!r} does not exist")
    try:
        _check_readable(p, lazy, max_bytes)
        rows = _finished_rows(p) if p.suffix == ".zarr" else None
        source = _zarr_store(p, lazy, rows) if p.suffix == ".zarr" and (lazy or rows) else p
        # a partial store is read without its consolidated metadata, which may predate its last batches
        opened = {"consolidated": False} if rows else {}
        ds = xr.open_datatree(source, engine="h5netcdf" if p.suffix == ".nc" else "zarr", chunks={} if lazy else None,
                              **opened)
        if not ds.children:
            ds = ds.to_dataset()
        if not lazy:
            loaded = ds.load()
            ds.close()
            ds = loaded
    except (BudgetError, RefusedFileError):
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(
            f"path {str(p)!r} is not a readable {kind} dataset (foreign, truncated or corrupt): "
            f"{type(exc).__name__}: {first}"
        ) from exc
    ds = upgrade_names(_store_mark(ds, p, rows, source.dropped if rows else 0))
    return decode_attrs(ds) if decode else ds


def partial_path(path) -> Path:
    """Where a :class:`ZarrStreamWriter` to ``path`` keeps its finished batches until it closes:
    ``<stem>.partial.zarr`` beside ``path``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _own_groups(batch) -> dict[str, xr.Dataset]:
    """{group path: Dataset} of a Dataset or DataTree, each group with the index coords it inherits (as a streamed
    store holds them) but not the other inherited coords."""
    groups = nodes(batch)
    if isinstance(batch, xr.DataTree):
        for path in groups:
            full = batch[path].to_dataset()
            extra = [n for n in full.coords if n not in groups[path] and n not in full.xindexes]
            groups[path] = full.drop_vars(extra)
    return groups


def _resize(group, dim: str, size: int) -> None:
    """Every array of zarr ``group`` and its subgroups with dimension ``dim`` resized to ``size`` along it."""
    import zarr

    for _, arr in group.members(max_depth=None):
        dims = arr.attrs.get("_ARRAY_DIMENSIONS", []) if isinstance(arr, zarr.Array) else []
        if dim in dims:
            arr.resize(tuple(size if d == dim else n for d, n in zip(dims, arr.shape, strict=True)))


class ZarrStreamWriter:
    """Append datasets (or DataTrees) batch by batch along ``dim`` to a zarr store, then move it into place
    atomically.

    Memory is bounded by one batch: each :meth:`append` writes straight to the store :func:`partial_path`
    beside ``path`` (a DataTree's groups to zarr groups), marked incomplete with the number of rows finished
    (global attr ``neurodcn_finished``, rewritten with every write of the root's attrs and updated once a batch
    is wholly written), so a writer killed at any point, even part way through a batch, leaves a store that
    :func:`load_dataset` reads up to its last finished batch, with a warning. Variables without ``dim`` (e.g. a
    ``channel`` coordinate) are written with the first batch and must be identical in every later batch; along
    the dims named in ``pad`` (float variables only, e.g. ragged step times) batches may differ in length: the
    store takes the longest, the shorter rows are NaN-padded.
    :meth:`close` (optionally replacing the global attrs) renames the store to ``path``; :meth:`abort`, or leaving
    a ``with`` block by an exception, deletes it; :meth:`keep`, or leaving a ``with`` block by KeyboardInterrupt,
    keeps it.
    A lock file (neurodcn.io.atomic.lock) keeps a second writer to the same ``path`` out until then. An
    existing ``path`` or partial store is replaced only with ``overwrite=True``. With ``resume=True`` the partial
    store of an interrupted writer is continued instead (FileNotFoundError if there is none): cut back to its
    finished rows (:attr:`size`; :attr:`finished` is them, lazily opened), its variables without ``dim`` fixed as if
    this writer had written them.
    """

    def __init__(self, path, dim: str = "stimulus", overwrite: bool = True, pad: tuple[str, ...] = (),
                 resume: bool = False):
        path = check_path("path", path, (".zarr",))
        require("zarr", "ZarrStreamWriter")
        check_str("dim", dim)
        check_bool("resume", resume)
        self.path = check_destination(path, check_bool("overwrite", overwrite), is_neurodcn_store)
        self.partial = partial_path(self.path)
        self.dim, self.pad, self.size = dim, tuple(pad), 0
        self._torn = False
        self._static: dict[str, xr.Dataset] | None = None
        self.finished = None  # resume: the rows kept, lazily opened
        self._lock = lock(lock_path(self.path), f"path {str(path)!r}")
        self._lock.__enter__()
        try:
            found = self.partial.exists() or self.partial.is_symlink()
            if resume:
                self._reopen(found)
            elif found:
                if not overwrite:
                    raise FileExistsError(
                        f"a partial store of an interrupted write to path {str(path)!r} is kept at "
                        f"{str(self.partial)!r}; load it with load_dataset, continue it (record: resume=True), move "
                        "it away, or pass overwrite=True"
                    )
                check_destination(self.partial, True, is_neurodcn_store)
                remove(self.partial)
            clean_stale_temporaries(self.path)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self._open = True

    def _reopen(self, found: bool) -> None:
        """Continue the partial store: the static variables, coords and padded widths of its groups remembered, its
        arrays cut back to the finished rows, its consolidated metadata (stale once appended to) removed."""
        import zarr

        rows = _finished_rows(self.partial) if found else None
        if rows is None or rows[0] != self.dim:
            raise FileNotFoundError(f"no partial store of an interrupted write along {self.dim!r} to resume at "
                                    f"{str(self.partial)!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # that it is incomplete
            self.finished = load_dataset(self.partial, lazy=True)  # also refuses a hostile store
        self._remember(_own_groups(self.finished))
        self.size = rows[1]
        (self.partial / ".zmetadata").unlink(missing_ok=True)
        _resize(zarr.open_group(self.partial, mode="r+", zarr_format=2), self.dim, self.size)  # drops a torn batch

    def _static_of(self, node: xr.Dataset) -> xr.Dataset:
        """The variables of ``node`` without ``dim`` (not the group's attrs: every batch rewrites them)."""
        return node[[n for n, v in node.variables.items() if self.dim not in v.dims]].drop_attrs(deep=False)

    def _remember(self, groups: dict[str, xr.Dataset]) -> None:
        """Fix the groups, their static variables, non-index coords and padded widths (those of the first batch)."""
        self._static, self._coords, self._widths = {}, {}, {}
        for path, node in groups.items():
            self._static[path] = self._static_of(node).copy(deep=True).load()
            self._coords[path] = sorted(str(n) for n in node.coords if n not in node.xindexes)
            self._widths[path] = {d: node.sizes[d] for d in self.pad if d in node.dims}

    def _check_usable(self) -> None:
        if not self._open:
            raise RuntimeError("this ZarrStreamWriter is closed")
        if self._torn:
            raise RuntimeError(f"an append failed part way (its arrays now differ in length); the store keeps its "
                               f"{self.size} finished {self.dim} rows: call keep() or abort()")

    def _widen(self, path: str, node: xr.Dataset) -> xr.Dataset:
        """``node`` NaN-padded to the store's width along each ``pad`` dim; the store widened first to a longer
        ``node``."""
        import zarr

        widths = self._widths[path]
        for d, have in widths.items():
            need = node.sizes.get(d, have)
            if need > have:
                _resize(zarr.open_group(self.partial, mode="r+", zarr_format=2, path=path.lstrip("/")), d, need)
                widths[d] = need
            node = node.pad({d: (0, widths[d] - need)}) if need < widths[d] else node
        return node

    def append(self, batch) -> None:
        """Write one batch (a Dataset or DataTree with dimension ``dim``) at the end of the store. A batch that
        is refused (other groups, changed static variables) writes nothing; one whose writing fails part way
        leaves the writer usable only for :meth:`keep` and :meth:`abort`."""
        self._check_usable()
        groups = _own_groups(batch)
        sizes = [node.sizes[self.dim] for node in groups.values() if self.dim in node.dims]
        if not sizes:
            raise ValueError(f"batch must have dimension {self.dim!r}, got dims {tuple(batch.dims)}")
        first = self._static is None
        if not first and set(groups) != set(self._static):
            raise ValueError(f"batch groups {sorted(groups)} differ from the first batch's {sorted(self._static)}")
        static = {p: list(self._static_of(node).variables) for p, node in groups.items()}
        if not first and any(not self._static_of(groups[p]).identical(self._static[p]) for p in groups):
            raise ValueError(f"variables without dimension {self.dim!r} ({sorted(set().union(*static.values()))}) "
                             "must be identical in every batch; this batch differs from the first")
        if first:
            self._remember(groups)
        self._torn = True  # until every group is written and the mark updated
        for path, node in groups.items():
            prepared = _prepare_dataset(node if first else self._widen(path, node), for_zarr=True)
            group = None if path == "/" else path.lstrip("/")
            if group is None:  # a write replaces the root's attrs: they keep the mark of the rows finished so far
                prepared.attrs.update(self._mark(self.size))
            if first:
                prepared.to_zarr(self.partial, mode="w-" if group is None else "a", group=group, zarr_format=2,
                                 consolidated=False)
            else:
                prepared.drop_vars(static[path]).to_zarr(self.partial, append_dim=self.dim, group=group,
                                                         consolidated=False)
        import zarr

        finished = self.size + sizes[0]
        zarr.open_group(self.partial, mode="r+", zarr_format=2).attrs.update(self._mark(finished))
        self.size, self._torn = finished, False

    def _mark(self, rows: int) -> dict:
        """The root attrs marking the store incomplete, with ``rows`` finished."""
        return {STORE_ATTR: "incomplete", FINISHED_ATTR: {"dim": self.dim, "size": rows}}

    def close(self, attrs: dict | None = None) -> Path:
        """Finish: replace the global attrs by ``attrs`` (None: keep those of the batches), then rename the store to
        ``path``."""
        self._check_usable()
        if self._static is None:
            raise ValueError("nothing was appended: a store needs at least one batch")
        import zarr

        if attrs is not None:
            check_type("attrs", attrs, dict, "a dict or None")
        try:
            root = zarr.open_group(self.partial, mode="r+", zarr_format=2)
            final = _encode_dict(attrs, "global") if attrs is not None else dict(root.attrs)
            for path, names in self._coords.items():  # CF: the non-index coords, as the first batch had them
                group_attrs = final if path == "/" else zarr.open_group(
                    self.partial, mode="r+", zarr_format=2, path=path.lstrip("/")).attrs
                group_attrs["coordinates"] = " ".join(names)
            final.pop(FINISHED_ATTR, None)
            root.attrs.put({**final, STORE_ATTR: "complete"})  # one write: the store is never left unmarked
            zarr.consolidate_metadata(self.partial)
            move_into_place(self.partial, self.path, replace_dir=is_neurodcn_store)
        except BaseException as err:
            self.stop_after(err)
            raise
        self._release()
        return self.path

    def _release(self) -> None:
        if self._open:
            self._open = False
            self._lock.__exit__(None, None, None)

    def abort(self) -> None:
        """Delete the partial store; ``path`` is left as it was."""
        remove(self.partial)
        self._release()

    def keep(self) -> Path:
        """Stop, keeping the batches appended so far in the partial store (marked incomplete); returns its path."""
        import zarr

        zarr.consolidate_metadata(self.partial)
        self._release()
        return self.partial

    def stop_after(self, err: BaseException) -> Path | None:
        """After ``err``: keep the finished batches on an interrupt (returns the partial store), else delete them
        (returns None)."""
        if isinstance(err, KeyboardInterrupt) and self.size:
            return self.keep()
        self.abort()
        return None

    def __enter__(self) -> ZarrStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._open:
            self.stop_after(exc)
