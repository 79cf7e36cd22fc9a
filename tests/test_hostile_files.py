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


def test_a_store_whose_writer_renames_a_temporary_file_during_the_check_is_read(tmp_path, monkeypatch):
    """A file listed by the walk but renamed away before it is examined (a concurrent writer's temporary file) is
    skipped, not an error; a symlink listed beside it is still refused."""
    store = save_dataset(_ds(), tmp_path / "s.zarr")
    real_walk = os.walk

    def walk_listing_a_vanished_file(top, **kw):
        for folder, dirs, files in real_walk(top, **kw):
            yield folder, dirs, files + ([".zattrs.0123.partial"] if folder == str(store) else [])

    monkeypatch.setattr(os, "walk", walk_listing_a_vanished_file)
    xr.testing.assert_equal(load_dataset(store), _ds())
    (store / "h" / "extra").symlink_to(_secret(tmp_path))
    with pytest.raises(RefusedFileError, match="symlink 'h/extra'"):
        load_dataset(store)


def test_zarr_metadata_naming_arrays_outside_the_store_is_refused(tmp_path):
    import json

    save_dataset(_ds(), tmp_path / "outside.zarr")
    store = save_dataset(_ds(), tmp_path / "s.zarr")
    meta = json.loads((store / ".zmetadata").read_text())
    meta["metadata"]["../outside.zarr/h/.zarray"] = meta["metadata"]["h/.zarray"]
    (store / ".zmetadata").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"s.zarr' is not a readable zarr dataset"):
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


# ------------------------------------------------------------------------------------------ image sets
def _png(path, array, mode=None):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def test_zip_member_declaring_more_than_the_budget_is_refused_before_inflating(tmp_path, monkeypatch):
    import zipfile

    from neurodcn.data.images import load_image_folder

    root = tmp_path / "bomb.zip"
    with zipfile.ZipFile(root, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("cats/a.png", b"\0" * (4 << 20))  # 4 MiB of zeros: a few kB compressed
    assert root.stat().st_size < 10_000
    monkeypatch.setenv(MAX_BYTES_ENV, str(1 << 20))
    with pytest.raises(BudgetError, match=r"uncompressed.*4,194,304 bytes.*1,048,576"):
        load_image_folder(root)


def test_large_images_are_refused_from_their_header_before_decoding(tmp_path, monkeypatch):
    import zipfile

    from PIL import ImageFile

    from neurodcn.data.images import load_image_folder

    big = _png(tmp_path / "src" / "big.png", np.zeros((1000, 1000, 3), np.uint8))
    root = tmp_path / "set.zip"
    with zipfile.ZipFile(root, "w") as z:
        for i in range(4):
            z.write(big, f"cats/{i}.png")
    decoded = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self) or load(self))
    with pytest.raises(BudgetError, match=r"1000 x 1000.*1,000,000 pixels.*max_pixels"):
        load_image_folder(root, max_pixels=999_999)
    assert decoded == []
    monkeypatch.undo()
    with pytest.raises(BudgetError, match=r"the first 4 images.*4,000,000 pixels"):  # all together
        load_image_folder(root, max_pixels=3_000_000)
    assert load_image_folder(root, size=8, max_pixels=3_000_000).images.shape == (4, 3, 8, 8)  # resized as read


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    from neurodcn.data.images import load_image_folder

    ramp = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    _png(tmp_path / "set" / "a" / "ramp.png", ramp)
    x = load_image_folder(tmp_path / "set").images[0]
    np.testing.assert_allclose(x[0].numpy(), ramp / 65535.0, atol=1e-6)
    assert int((x == 1).sum()) == 3  # only the last pixel is white, in each of the three channels


def test_transparency_is_refused_or_composited_on_the_named_background(tmp_path):
    from neurodcn.data.images import load_image_folder

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[:2, :, 3], rgba[2:, :, 3] = 255, 255, 0  # red, top half opaque, bottom transparent
    _png(tmp_path / "set" / "a" / "x.png", rgba)
    with pytest.raises(ValueError, match=r"transparent pixels \(50%\).*background="):
        load_image_folder(tmp_path / "set")
    x = load_image_folder(tmp_path / "set", background=1.0).images[0]
    assert x[:, :2].tolist() == torch_red(2) and x[:, 2:].eq(1).all()
    opaque = rgba.copy()
    opaque[..., 3] = 255
    _png(tmp_path / "ok" / "a" / "x.png", opaque)
    assert load_image_folder(tmp_path / "ok").images[0, 0].eq(1).all()  # fully opaque alpha needs no word


def torch_red(rows):
    return [[[1.0] * 4] * rows, [[0.0] * 4] * rows, [[0.0] * 4] * rows]


def test_image_folder_refuses_symlinks_and_fifos(tmp_path):
    from neurodcn.data.images import load_image_folder

    _png(tmp_path / "secret.png", np.zeros((2, 2, 3), np.uint8))
    _png(tmp_path / "set" / "a" / "x.png", np.zeros((2, 2, 3), np.uint8))
    (tmp_path / "set" / "a" / "y.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(RefusedFileError, match="symlink 'a/y.png'"):
        load_image_folder(tmp_path / "set")
    (tmp_path / "set" / "a" / "y.png").unlink()
    os.mkfifo(tmp_path / "set" / "a" / "z.png")
    box = _no_hang(lambda: load_image_folder(tmp_path / "set"))
    assert isinstance(box.get("error"), RefusedFileError) and "FIFO" in str(box["error"])


# ------------------------------------------------------------------------------------------------- CIFAR
def test_cifar_labels_shared_by_reference_are_refused_before_any_array(tmp_path, py2_pickle):
    from conftest import _write_synthetic

    from neurodcn.data.cifar10 import CIFAR10Error, load_cifar10

    root = _write_synthetic(tmp_path / "cifar-10-batches-py", rows=10, seed=0).root
    inner = [0] * 1000
    py2_pickle({b"data": np.zeros((10, 3072), np.uint8), b"labels": [[inner] * 1000] * 10}, root / "test_batch")
    assert (root / "test_batch").stat().st_size < 100_000  # a billion labels, by reference
    with pytest.raises(CIFAR10Error, match="'labels' must be a flat list of integers"):
        load_cifar10(root, "test")


# ------------------------------------------------------------------------------ valid-looking garbage
def _rdm_da(full, ids_a, ids_b):
    return xr.DataArray(full[None], dims=("rdm", "stimulus_a", "stimulus_b"),
                        coords={"stimulus_a": ids_a, "stimulus_b": ids_b})


def test_rdm_with_stimulus_b_in_another_order_is_reordered_by_label():
    from scipy.spatial.distance import pdist, squareform

    from neurodcn.analysis.compare import brain_rdms

    rng = np.random.default_rng(0)
    ids = np.array([f"s{i}" for i in range(8)])
    full = squareform(pdist(rng.normal(size=(8, 5)), "correlation"))
    perm = rng.permutation(8)
    relabelled = _rdm_da(full[:, perm], ids, ids[perm])  # columns shuffled, correctly labelled
    np.testing.assert_allclose(brain_rdms(relabelled, ids)["brain"].rdms[0, 0], squareform(full), atol=1e-12)


def test_negative_dissimilarities_are_refused():
    from neurodcn.analysis.compare import brain_rdms

    sim = np.corrcoef(np.random.default_rng(1).normal(size=(6, 20)))  # similarities, not dissimilarities
    np.fill_diagonal(sim, 0)
    for form in (sim, _rdm_da(sim, np.arange(6), np.arange(6))):
        with pytest.raises(ValueError, match=r"dissimilarities >= 0, got \d+ negative.*1 - r"):
            brain_rdms(form, np.arange(6))


def test_constant_responses_give_a_reason_not_silent_nan():
    pytest.importorskip("sklearn")
    from neurodcn.analysis.compare import predictivity_over_time

    rng = np.random.default_rng(2)
    n = 30
    feats = {1: rng.normal(size=(2, n, 4))}
    feats[1][1] = 1.0  # constant features at the second time
    resp = rng.normal(size=(n, 3))
    resp[:, 0] = 5.0  # one silent neuron
    da = xr.DataArray(resp, dims=("presentation", "neuroid"), coords={"stimulus_id": ("presentation", np.arange(n))})
    with pytest.warns(UserWarning, match="1 neuron.*constant.*block 1 at time 1"):
        p = predictivity_over_time(feats, [0.0, 1.0], {"V1": da}, np.arange(n), n_boot=2, progress=False)
    assert "constant" in p.attrs["nan_note"] and np.isnan(p["r"].values[0, 0, 0])
    with pytest.raises(ValueError, match=r"region\(s\) \['V1'\] are constant.*every neuron"):
        predictivity_over_time(feats, [0.0, 1.0], {"V1": da * 0}, np.arange(n), n_boot=2, progress=False)


# ------------------------------------------------------------------------------------ compressed members
def test_npz_stimulus_set_declaring_more_than_the_budget_is_refused_before_inflating(tmp_path, monkeypatch):
    from neurodcn.data.stimulus_sets import load_stimuli

    path = tmp_path / "set.npz"
    np.savez_compressed(path, images=np.zeros((200, 3, 64, 64), np.uint8), labels=np.zeros(200, np.int64),
                        classes=np.array(["a"]))
    assert path.stat().st_size < 50_000  # 2.4 MB once inflated
    monkeypatch.setenv(MAX_BYTES_ENV, "1000000")
    with pytest.raises(BudgetError, match=r"source .*set.npz.*uncompressed.*2,45\d,\d{3} bytes"):
        load_stimuli(path)
    monkeypatch.delenv(MAX_BYTES_ENV)
    assert load_stimuli(path).images.shape == (200, 3, 64, 64)


def test_gzip_rdms_are_read_within_the_budget(tmp_path, monkeypatch):
    import gzip

    from neurodcn.data.recordings import load_algonauts2019_rdms

    for region in ("EVC", "IT"):
        with gzip.open(tmp_path / f"92images_fmri_{region}_RDMs.gzip", "wt") as f:
            f.write('{"data": [' + "0.0, " * 200_000 + '0.0], "shape": [1, 1, 200001]}')
    monkeypatch.setenv(MAX_BYTES_ENV, "100000")
    with pytest.raises(BudgetError, match="decompressed.*100,001 bytes"):
        load_algonauts2019_rdms(tmp_path)


def test_nwb_with_an_external_link_is_refused(tmp_path):
    pytest.importorskip("pynwb")
    from cortex_fixtures import make_record_dataset

    from neurodcn.io.nwb import read_nwb, to_nwb

    path = to_nwb(make_record_dataset(n_stimuli=2, n_times=3, blocks=((2, 2, 2),)), tmp_path / "s.nwb")
    assert read_nwb(path)  # what to_nwb writes reads back
    with h5py.File(path, "a") as f:
        f["stolen"] = h5py.ExternalLink(str(_secret(tmp_path)), "/")
    with pytest.raises(RefusedFileError, match="external link 'stolen'"):
        read_nwb(path)
