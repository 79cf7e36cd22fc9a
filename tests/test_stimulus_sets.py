"""nd.load_stimuli and image folders: the bundled set against its raw .npz (and the CIFAR-10 subset it comes
from), seeded draws, CIFAR-10 folders, .npz files, and image folders or zips written here with Pillow."""

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import neurodcn as nd
from neurodcn.data.bundled import bundled_checkpoints, bundled_dir
from neurodcn.data.images import load_image_folder
from neurodcn.data.stimulus_sets import STIMULUS_SETS

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-subset"  # the bundled images' source


def test_bundled_set_is_the_raw_npz_and_matches_cifar10():
    stim = nd.load_stimuli("cifar10-demo")
    path = bundled_dir("stimuli") / STIMULUS_SETS["cifar10-demo"]["file"]
    with np.load(path, allow_pickle=False) as f:
        raw, labels, classes = f["images"], f["labels"], f["classes"]
    assert stim.images.shape == (128, 3, 32, 32) and stim.images.dtype == torch.float32
    np.testing.assert_array_equal(stim.images.numpy(), raw.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(stim.labels.numpy(), labels)
    assert list(stim.table["stimulus_id"])[:2] == ["cifar10-test-00000", "cifar10-test-00001"]
    assert stim.table["stimulus_id"].is_unique and list(stim.table["source_index"]) == list(range(128))
    assert list(stim.table["class_name"]) == [str(classes[k]) for k in labels] and stim.classes == list(classes)
    assert path.stat().st_size < 1_000_000
    if SHARED.is_dir():  # the first 128 images of the official test batch
        test = nd.load_cifar10(SHARED, "test")
        torch.testing.assert_close(stim.images, test.images[:128], rtol=0, atol=0)
        torch.testing.assert_close(stim.labels, test.labels[:128], rtol=0, atol=0)


def test_bundled_checkpoints_are_found_by_name():
    import json

    from neurodcn.data.bundled import bundled_checkpoint, bundled_name

    names = bundled_checkpoints()
    assert {"dcn-ode-subset", "odenet-subset"} <= set(names)
    for name, path in names.items():
        assert (path.parent / f"{name}.card.json").is_file() and (path.parent / f"{name}.metrics.csv").is_file()
        subset = "subset" in json.loads((path.parent / f"{name}.card.json").read_text())["dataset"]
        assert name.endswith("-subset") == subset  # the name says what the model learned from
    # a plain name without a model of its own stands for its subset model; a full-data model keeps its name
    assert "odenet" not in names and bundled_name("odenet") == "odenet-subset"
    assert bundled_checkpoint("odenet") == names["odenet-subset"]
    assert nd.VirtualCortex.pretrained("odenet", progress=False).name == "odenet-subset"
    assert bundled_name("dcn-ode-subset") == "dcn-ode-subset" and bundled_name(3) is None
    with pytest.raises(ValueError, match="bundled checkpoint"):
        nd.VirtualCortex.pretrained("no-such-model")


def test_drawn_subsets_are_seeded_and_in_source_order(tmp_path):
    a, b, c = (nd.load_stimuli("cifar10-demo", num_images=10, seed=s) for s in (3, 3, 4))
    idx = a.table["source_index"].to_numpy()
    assert np.array_equal(idx, b.table["source_index"].to_numpy())
    assert not np.array_equal(idx, c.table["source_index"].to_numpy())
    assert np.all(np.diff(idx) > 0) and idx.size == 10
    assert a.table.attrs["units"]["label"] == "1"  # the table's attrs survive the draw
    full = nd.load_stimuli()
    torch.testing.assert_close(a.images, full.images[torch.tensor(idx)], rtol=0, atol=0)
    with pytest.raises(ValueError, match="num_images must be at most 128"):
        nd.load_stimuli(num_images=129)
    with pytest.raises(ValueError, match="source must be"):
        nd.load_stimuli(tmp_path / "nothing-here.txt")


def test_stimuli_from_a_cifar_folder_and_a_npz(synthetic_cifar, tmp_path):
    stim = nd.load_stimuli(synthetic_cifar.root, num_images=5, seed=0)
    data, labels = synthetic_cifar.batches["test_batch"]
    idx = stim.table["source_index"].to_numpy()
    expected = data[idx].reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(stim.images.numpy(), expected)
    np.testing.assert_array_equal(stim.labels.numpy(), labels[idx])
    path = tmp_path / "mine.npz"
    classes = np.array(synthetic_cifar.classes)
    np.savez(path, images=data[:4].reshape(-1, 3, 32, 32), labels=labels[:4], classes=classes)
    mine = nd.load_stimuli(path)
    np.testing.assert_array_equal(mine.images.numpy(), data[:4].reshape(-1, 3, 32, 32).astype(np.float32) / 255)
    np.testing.assert_array_equal(mine.labels.numpy(), labels[:4])
    assert list(mine.table["stimulus_id"]) == [f"mine-{i:05d}" for i in range(4)]
    np.savez(path, images=data[:4].reshape(-1, 3, 32, 32).astype(np.float32), labels=labels[:4], classes=classes)
    with pytest.raises(ValueError, match="uint8"):
        nd.load_stimuli(path)


def _write_folder(root: Path, size=(12, 10)) -> dict:
    """Two class folders of RGB and greyscale PNGs and a hidden file; returns {class/file: uint8 RGB}."""
    rng = np.random.default_rng(0)
    written = {}
    for cls, n in (("dog", 2), ("cat", 3)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            if i == 0:  # a greyscale image: Pillow converts it to RGB by replicating the channel
                grey = rgb[..., 0]
                Image.fromarray(grey, mode="L").save(root / cls / f"{i}.png")
                rgb = np.repeat(grey[..., None], 3, axis=2)
            else:
                Image.fromarray(rgb).save(root / cls / f"{i}.png")
            written[f"{cls}/{i}.png"] = rgb
    (root / ".DS_Store").write_bytes(b"junk")
    return written


def test_image_folder_and_zip_give_the_same_images_labels_and_table(tmp_path):
    written = _write_folder(tmp_path / "pets")
    from_dir = nd.load_stimuli(tmp_path / "pets")
    order = sorted(written)  # cat/0, cat/1, cat/2, dog/0, dog/1
    assert list(from_dir.table["file"]) == order and from_dir.classes == ["cat", "dog"]
    assert list(from_dir.labels.numpy()) == [0, 0, 0, 1, 1]
    assert list(from_dir.table["stimulus_id"]) == [f"pets/{p}" for p in order]
    expected = np.stack([written[p].transpose(2, 0, 1) for p in order]).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(from_dir.images.numpy(), expected)
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as z:  # zipped as a folder: one top folder holding the classes
        for p in order:
            z.write(tmp_path / "pets" / p, f"pets/{p}")
        z.writestr("__MACOSX/pets/._cat", b"junk")
    from_zip = nd.load_stimuli(archive)
    torch.testing.assert_close(from_zip.images, from_dir.images, rtol=0, atol=0)
    assert from_zip.table.equals(from_dir.table)
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as z:  # classes at the top of the zip
        for p in order:
            z.write(tmp_path / "pets" / p, p)
    assert list(nd.load_stimuli(flat).table["file"]) == order


def test_image_folder_sizes_and_layout_errors(tmp_path):
    _write_folder(tmp_path / "a", size=(12, 10))
    Image.fromarray(np.full((20, 16, 3), 200, np.uint8)).save(tmp_path / "a" / "cat" / "big.png")
    with pytest.raises(ValueError, match="size must be given"):
        nd.load_stimuli(tmp_path / "a")
    s = load_image_folder(tmp_path / "a", size=(12, 10))
    big = s.table.index[s.table["file"] == "cat/big.png"][0]
    assert s.images.shape == (6, 3, 12, 10) and s.table.loc[big, "original_height"] == 20
    torch.testing.assert_close(s.images[big], torch.full((3, 12, 10), 200 / 255))  # a flat image stays flat
    _write_folder(tmp_path / "b")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "b" / "loose.png")
    with pytest.raises(ValueError, match=r"<class>/<image> .* or <image> .*, not both"):
        load_image_folder(tmp_path / "b")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .png"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "c" / "x").mkdir(parents=True)
    (tmp_path / "c" / "x" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="could not be decoded"):
        load_image_folder(tmp_path / "c")
    with pytest.raises(ValueError, match="size must be"):
        load_image_folder(tmp_path / "a", size=0)


def test_a_flat_folder_loads_without_classes(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    pics = {f"{n}.png": np.full((6, 8, 3), v, np.uint8) for n, v in (("b", 30), ("a", 200), ("c", 90))}
    for name, rgb in pics.items():
        Image.fromarray(rgb).save(root / name)
    stim = nd.load_stimuli(root)
    assert list(stim.table["file"]) == ["a.png", "b.png", "c.png"] and stim.classes == []
    assert list(stim.table["stimulus_id"]) == ["mine/a.png", "mine/b.png", "mine/c.png"]
    assert stim.labels.tolist() == [-1, -1, -1] and list(stim.table["class_name"]) == ["", "", ""]
    torch.testing.assert_close(stim.images[:, 0, 0, 0], torch.tensor([200, 30, 90]) / 255.0)
    vc = nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0), image_size=16, progress=False)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):  # no classes, no accuracy
        vc.contrast_sweep(stim.images, stim.labels, contrasts=[1.0])


def test_load_stimuli_size_resizes_every_source_the_same_way(tmp_path):
    demo = nd.load_stimuli("cifar10-demo", num_images=4, size=16)
    full = nd.load_stimuli("cifar10-demo", num_images=4)
    assert demo.images.shape == (4, 3, 16, 16) and demo.images.dtype == torch.float32
    # what every experiment does to other sizes: nd.resize (cubic, antialiased) in float64, clipped to [0, 1]
    want = nd.resize(full.images.double(), out_size=(16, 16)).clamp(0, 1).float()
    torch.testing.assert_close(demo.images, want, rtol=0, atol=0)
    assert demo.source.endswith("; 4 drawn with seed 0; at 16 x 16 px")
    _write_folder(tmp_path / "pets", size=(12, 10))
    pets = nd.load_stimuli(tmp_path / "pets", size=(6, 5))
    raw = nd.load_stimuli(tmp_path / "pets")
    torch.testing.assert_close(pets.images, nd.resize(raw.images.double(), out_size=(6, 5)).clamp(0, 1).float())
    with pytest.raises(ValueError, match="size must be"):
        nd.load_stimuli("cifar10-demo", size=(0, 4))
