"""Issue 27: files received from others. Loading reads only the file or store named, never blocks on a FIFO or
device, and checks declared sizes against a budget before allocating."""

import os
import threading

import h5py
import numpy as np
import pytest
import xarray as xr

from neurodcn.io.files import load_dataset, save_dataset
from neurodcn.io.limits import MAX_BYTES_ENV, BudgetError, RefusedFileError


def _ds(n=4):
    return xr.Dataset({"h": (("stimulus", "c"), np.arange(n * 2.0).reshape(n, 2))}, coords={"stimulus": np.arange(n)})


def _secret(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"private " * 16)
    return secret


def _no_hang(fn, timeout=10.0):
    """Run fn in a thread; fail (instead of hanging the suite) if it blocks."""
    box = {}

    def run():
        try:
            box["result"] = fn()
        except BaseException as err:  # noqa: BLE001
            box["error"] = err

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "the call blocked"
    return box


# ---------------------------------------------------------------------------------- reading outside the file
def test_hdf5_external_storage_is_refused(tmp_path):
    secret, path = _secret(tmp_path), tmp_path / "ext.nc"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", shape=(64,), dtype="u1", external=[(str(secret), 0, 64)])
    for lazy in (False, True):
        with pytest.raises(RefusedFileError, match="external storage.*secret.bin"):
            load_dataset(path, lazy=lazy)


def test_hdf5_external_link_and_virtual_dataset_are_refused(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["y"] = np.arange(4.0)
    link, virtual = tmp_path / "link.nc", tmp_path / "virtual.nc"
    with h5py.File(link, "w") as f:
        f["x"] = np.arange(3.0)
        f["y"] = h5py.ExternalLink(str(other), "/y")
    layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(other), "y", shape=(4,))
    with h5py.File(virtual, "w") as f:
        f.create_virtual_dataset("y", layout)
    with pytest.raises(RefusedFileError, match="external link 'y'"):
        load_dataset(link)
    with pytest.raises(RefusedFileError, match="virtual dataset 'y'"):
        load_dataset(virtual)


def test_zarr_chunk_symlink_is_refused(tmp_path):
    secret, store = _secret(tmp_path), tmp_path / "s.zarr"
    save_dataset(_ds(), store)
    chunk = next(p for p in (store / "h").iterdir() if not p.name.startswith("."))
    chunk.unlink()
    chunk.symlink_to(secret)
    with pytest.raises(RefusedFileError, match="symlink.*secret.bin"):
        load_dataset(store)


@pytest.mark.parametrize("where", ["path", "chunk", "link"])
def test_a_fifo_never_blocks(tmp_path, where):
    store = tmp_path / "s.zarr"
    if where == "path":
        target = tmp_path / "f.nc"
        os.mkfifo(target)
    elif where == "link":
        os.mkfifo(tmp_path / "fifo")
        target = tmp_path / "f.nc"
        target.symlink_to(tmp_path / "fifo")
    else:
        save_dataset(_ds(), store)
        chunk = next(p for p in (store / "h").iterdir() if not p.name.startswith("."))
        chunk.unlink()
        os.mkfifo(chunk)
        target = store
    box = _no_hang(lambda: load_dataset(target))
    assert isinstance(box.get("error"), RefusedFileError) and "FIFO" in str(box["error"])


def test_a_device_node_is_refused(tmp_path):
    target = tmp_path / "null.nc"
    target.symlink_to("/dev/zero")
    box = _no_hang(lambda: load_dataset(target))
    assert isinstance(box.get("error"), RefusedFileError) and "character device" in str(box["error"])


# -------------------------------------------------------------------------------------- declared sizes
def _huge_zarr(tmp_path):
    import zarr

    store = tmp_path / "huge.zarr"
    root = zarr.open_group(store, mode="w", zarr_format=2)
    arr = root.create_array("h", shape=(250_000_000,), chunks=(1_000_000,), dtype="f8", fill_value=0.0)
    arr.attrs["_ARRAY_DIMENSIONS"] = ["stimulus"]
    zarr.consolidate_metadata(store)
    return store


def test_a_small_zarr_store_declaring_gigabytes_is_refused_before_loading(tmp_path):
    store = _huge_zarr(tmp_path)
    assert sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) < 4000
    with pytest.raises(BudgetError, match=r"2,000,000,000 bytes.*max_bytes.*lazy=True"):
        load_dataset(store)
    lazy = load_dataset(store, lazy=True)  # lazily it opens: nothing is allocated
    assert lazy["h"].shape == (250_000_000,)


def test_netcdf_budget_is_overridable_by_argument_and_environment(tmp_path, monkeypatch):
    path = save_dataset(_ds(1000), tmp_path / "d.nc")
    with pytest.raises(BudgetError, match="24,008 bytes"):
        load_dataset(path, max_bytes=1000)
    monkeypatch.setenv(MAX_BYTES_ENV, "1000")
    with pytest.raises(BudgetError, match=MAX_BYTES_ENV):
        load_dataset(path)
    assert load_dataset(path, max_bytes=10**6)["h"].shape == (1000, 2)
    monkeypatch.setenv(MAX_BYTES_ENV, "lots")
    with pytest.raises(ValueError, match=f"{MAX_BYTES_ENV} must be a positive integer, got 'lots'"):
        load_dataset(path)
