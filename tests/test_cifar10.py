"""The CIFAR-10 loader: layout, safety, subsets, splits and seeded batches."""

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from neurodcn.data.cifar10 import (
    CIFAR10,
    ENV_VAR,
    CIFAR10Error,
    batches,
    check_md5,
    epoch_generator,
    load_cifar10,
    num_batches,
    per_class_subset,
    read_classes,
    train_val_split,
)

SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-subset"


def _planes(data):
    """Images [N, 3, 32, 32] built plane by plane from the documented row layout (1024 R, 1024 G, 1024 B)."""
    return np.stack([data[:, 1024 * c:1024 * (c + 1)].reshape(-1, 32, 32) for c in range(3)], axis=1)


def test_train_split_matches_row_layout(synthetic_cifar):
    d = load_cifar10(synthetic_cifar.root, "train")
    names = [f"data_batch_{i}" for i in range(1, 6)]
    data = np.concatenate([synthetic_cifar.batches[n][0] for n in names])
    labels = np.concatenate([synthetic_cifar.batches[n][1] for n in names])
    assert d.images.shape == (200, 3, 32, 32) and d.images.dtype == torch.float32
    assert d.labels.dtype == torch.int64 and d.labels.tolist() == labels.tolist()
    assert d.classes == synthetic_cifar.classes
    np.testing.assert_array_equal(d.images.numpy(), _planes(data).astype(np.float32) / np.float32(255))
    # one pixel by hand: image 7, green, row 3, column 5 is byte 1024 + 3 * 32 + 5 of row 7
    assert d.images[7, 1, 3, 5].item() == pytest.approx(data[7, 1024 + 101] / 255)
    assert 0.0 <= d.images.min() and d.images.max() <= 1.0
    assert "partial copy, 200 of the official 50,000" in d.source


def test_test_split_and_env_var(synthetic_cifar, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(synthetic_cifar.root))
    d = load_cifar10(split="test")
    assert d.labels.tolist() == synthetic_cifar.batches["test_batch"][1].tolist()
    assert d.class_counts().tolist() == [4] * 10
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(ValueError, match=ENV_VAR):
        load_cifar10(split="test")


def test_bad_arguments(synthetic_cifar, tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_cifar10(synthetic_cifar.root, "validation")
    with pytest.raises(TypeError, match="root"):
        load_cifar10(42)
    with pytest.raises(CIFAR10Error, match="not a directory") as err:
        load_cifar10(tmp_path / "nowhere")
    assert "data_batch_1" in str(err.value) and "batches.meta" in str(err.value)


def test_missing_file_names_directory_and_files(synthetic_cifar):
    (synthetic_cifar.root / "data_batch_3").unlink()
    load_cifar10(synthetic_cifar.root, "test")  # the test split does not need it
    with pytest.raises(CIFAR10Error) as err:
        load_cifar10(synthetic_cifar.root, "train")
    msg = str(err.value)
    assert "missing data_batch_3" in msg and str(synthetic_cifar.root) in msg and "test_batch" in msg


@pytest.mark.parametrize("damage", ["truncate", "garbage", "float_data", "label_range", "not_dict"])
def test_damaged_batches_are_reported(synthetic_cifar, py2_pickle, damage):
    path = synthetic_cifar.root / "data_batch_2"
    data, labels = synthetic_cifar.batches["data_batch_2"]
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    elif damage == "float_data":
        py2_pickle({b"data": data.astype(np.float64), b"labels": labels.tolist()}, path)
    elif damage == "label_range":
        py2_pickle({b"data": data, b"labels": [10] * len(labels)}, path)
    else:
        py2_pickle([1, 2, 3], path)
    with pytest.raises(CIFAR10Error) as err:
        load_cifar10(synthetic_cifar.root)
    assert str(path) in str(err.value) and "data_batch_5" in str(err.value)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("where", ["top", "inside_dict"])
def test_malicious_pickle_is_refused_without_running(synthetic_cifar, py2_pickle, tmp_path, where):
    marker = tmp_path / "pwned"
    payload = _Payload(marker) if where == "top" else {b"data": _Payload(marker), b"labels": []}
    path = synthetic_cifar.root / "data_batch_1"
    py2_pickle(payload, path)
    with open(path, "rb") as f:
        pickle.load(f, encoding="bytes")  # the payload is live: a plain unpickler runs it
    assert marker.is_dir()
    marker.rmdir()
    with pytest.raises(CIFAR10Error, match=r"unsafe.*mkdir"):
        load_cifar10(synthetic_cifar.root)
    assert not marker.exists()


def test_md5_verification(synthetic_cifar):
    with pytest.raises(CIFAR10Error, match="data_batch_1 has md5"):
        load_cifar10(synthetic_cifar.root, verify_md5=True)
    with pytest.raises(ValueError, match="names"):
        check_md5(synthetic_cifar.root, ["readme.txt"])


def _row_keys(d):
    return [hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in d.images]


def test_per_class_subset(synthetic_cifar):
    d = load_cifar10(synthetic_cifar.root)  # 20 images of each class
    s = per_class_subset(d, 7, seed=3)
    assert s.class_counts().tolist() == [7] * 10
    keys, all_keys = _row_keys(s), _row_keys(d)
    assert len(set(keys)) == 70 and set(keys) <= set(all_keys)  # without replacement, from d
    positions = [all_keys.index(k) for k in keys]
    assert positions == sorted(positions)  # original order kept
    assert torch.equal(s.labels, d.labels[positions])
    assert torch.equal(per_class_subset(d, 7, seed=3).images, s.images)
    assert set(_row_keys(per_class_subset(d, 7, seed=4))) != set(keys)
    assert set(_row_keys(per_class_subset(d, 3, seed=3))) <= set(keys)  # nested in n
    assert "per_class_subset(n=7, seed=3)" in s.source
    with pytest.raises(ValueError, match="has only 20"):
        per_class_subset(d, 21, seed=0)
    with pytest.raises(ValueError, match="seed"):
        per_class_subset(d, 2, seed=-1)
    with pytest.raises(TypeError, match="data"):
        per_class_subset(d.images, 2, seed=0)


def test_train_val_split(synthetic_cifar):
    d = load_cifar10(synthetic_cifar.root)
    train, val = train_val_split(d, val_fraction=0.25, seed=1)
    assert val.class_counts().tolist() == [5] * 10 and train.class_counts().tolist() == [15] * 10
    t, v, a = set(_row_keys(train)), set(_row_keys(val)), set(_row_keys(d))
    assert not t & v and t | v == a
    train2, val2 = train_val_split(d, val_per_class=5, seed=1)  # same per-class count, same seed: same split
    assert torch.equal(val2.images, val.images) and torch.equal(train2.images, train.images)
    assert set(_row_keys(train_val_split(d, val_per_class=5, seed=2)[1])) != v
    with pytest.raises(ValueError, match="exactly one"):
        train_val_split(d, val_fraction=0.1, val_per_class=2)
    with pytest.raises(ValueError, match="exactly one"):
        train_val_split(d)
    with pytest.raises(ValueError, match="at least one"):
        train_val_split(d, val_per_class=20)
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(d, val_fraction=1.5)


def test_dataset_validates_shapes():
    with pytest.raises(ValueError, match="images"):
        CIFAR10(torch.zeros(2, 3, 28, 28), torch.zeros(2, dtype=torch.int64), ("a",), "x")
    with pytest.raises(ValueError, match="labels"):
        CIFAR10(torch.zeros(2, 3, 32, 32), torch.zeros(3, dtype=torch.int64), ("a",), "x")


def test_epoch_order_depends_on_seed_and_epoch_only():
    first = [torch.randperm(50, generator=epoch_generator(7, e)) for e in range(4)]
    torch.rand(100)  # unrelated global draws change nothing
    again = torch.randperm(50, generator=epoch_generator(7, 3))
    assert torch.equal(first[3], again)
    assert not torch.equal(first[2], first[3])
    assert not torch.equal(first[3], torch.randperm(50, generator=epoch_generator(8, 3)))
    assert not torch.equal(first[3], torch.randperm(50, generator=epoch_generator(7, 3, "augment")))
    with pytest.raises(ValueError, match="epoch"):
        epoch_generator(7, -1)


def test_batches_cover_once_drop_last_and_resume():
    x = torch.arange(23) * 10
    y = torch.arange(23)
    full = list(batches(x, y, batch_size=5, seed=1, epoch=2))
    assert [len(b[1]) for b in full] == [5, 5, 5, 5, 3] and num_batches(23, 5) == 5
    order = torch.cat([b[1] for b in full])
    assert sorted(order.tolist()) == list(range(23))
    assert torch.equal(order, torch.randperm(23, generator=epoch_generator(1, 2)))
    assert all(torch.equal(bx, by * 10) for bx, by in full)  # tensors stay paired
    dropped = list(batches(x, y, batch_size=5, seed=1, epoch=2, drop_last=True))
    assert len(dropped) == num_batches(23, 5, drop_last=True) == 4
    assert all(torch.equal(a[1], b[1]) for a, b in zip(dropped, full[:4], strict=True))
    resumed = list(batches(x, y, batch_size=5, seed=1, epoch=2, start_batch=3))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(resumed, full[3:], strict=True))
    via_gen = list(batches(y, batch_size=5, generator=torch.Generator().manual_seed(0)))
    expected = torch.randperm(23, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([b[0] for b in via_gen]), expected)
    assert torch.equal(torch.cat([b[0] for b in batches(y, batch_size=4, shuffle=False)]), y)
    with pytest.raises(ValueError, match="seed"):
        list(batches(y, batch_size=4))
    with pytest.raises(ValueError, match="first dimension"):
        list(batches(x, y[:3], batch_size=4, seed=0))
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(y, batch_size=0, seed=0))


@pytest.mark.skipif(not SUBSET.is_dir(), reason="shared CIFAR-10 subset not present")
def test_shared_subset_matches_its_readme():
    sha = {
        "data_batch_1": "71d6cc94f50cce852686c3c036cbaa3d6c83e4f4f53e9932fcecfd66cb3521f2",
        "data_batch_2": "b96ef6e1b66a13516deb913117a9d9e92156464fbf7239647dfc4d27b7e49ccc",
        "data_batch_3": "fbbbc13287b59abd847850cf8ae7ba402dc9515f5a27cc9824c8d7278d36066e",
        "data_batch_4": "f86ccb6ba37c244f152d8ec9d28059785fa3f913f68eb80d431c6a33689d022c",
        "data_batch_5": "11f2f62dd4d2bffc0b776dced8162232f29cc10de8c21b2e0780d908916c49e2",
        "test_batch": "1fb17e7b328d1b70bc48438a8f1de95c3845cb1558b26c13367a1547b14f8bee",
    }
    for name, digest in sha.items():
        assert hashlib.sha256((SUBSET / name).read_bytes()).hexdigest() == digest, name
    check_md5(SUBSET, ["batches.meta"])  # the official meta file
    with pytest.raises(CIFAR10Error, match="md5"):
        check_md5(SUBSET, ["data_batch_1"])  # a subset, not the official batch
    assert read_classes(SUBSET) == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                    "ship", "truck")
    train, test = load_cifar10(SUBSET, "train"), load_cifar10(SUBSET, "test")
    assert len(train) == 5 * 932 and len(test) == 932
    assert train.labels[:932].bincount(minlength=10).tolist() == [96, 103, 93, 85, 89, 77, 102, 94, 94, 99]
    assert test.class_counts().tolist() == [97, 78, 94, 95, 85, 84, 105, 96, 98, 100]
    with open(SUBSET / "test_batch", "rb") as f:  # the trusted shared file, read by the standard unpickler
        ref = pickle.load(f, encoding="bytes")
    np.testing.assert_array_equal(test.images.numpy(), _planes(ref[b"data"]).astype(np.float32) / np.float32(255))


@pytest.mark.parametrize("keys", ["bytes", "str"])
def test_python3_protocol2_pickles_load(synthetic_cifar, keys):
    key = (lambda k: k.encode()) if keys == "bytes" else (lambda k: k)
    expected = {}
    for name, (data, labels) in synthetic_cifar.batches.items():
        with open(synthetic_cifar.root / name, "wb") as f:  # Python 3's own pickler: bytes via _codecs.encode
            pickle.dump({key("batch_label"): name.encode(), key("labels"): labels.tolist(), key("data"): data}, f,
                        protocol=2)
        expected[name] = (data, labels)
    with open(synthetic_cifar.root / "batches.meta", "wb") as f:
        pickle.dump({key("label_names"): [c.encode() for c in synthetic_cifar.classes]}, f, protocol=2)
    assert b"_codecs" in (synthetic_cifar.root / "batches.meta").read_bytes()
    test = load_cifar10(synthetic_cifar.root, "test")
    data, labels = expected["test_batch"]
    assert torch.equal(test.images, torch.from_numpy(data.reshape(-1, 3, 32, 32)).float() / 255)
    assert test.labels.tolist() == labels.tolist() and test.classes == tuple(synthetic_cifar.classes)


class _CodecPayload:
    def __reduce__(self):
        import codecs

        return (codecs.encode, (b"x", "zlib_codec"))


@pytest.mark.parametrize("payload", [_CodecPayload(), {b"data": _CodecPayload(), b"labels": []}])
def test_codecs_other_than_latin1_of_a_str_are_refused(synthetic_cifar, payload):
    with open(synthetic_cifar.root / "data_batch_1", "wb") as f:
        pickle.dump(payload, f, protocol=2)
    with pytest.raises(CIFAR10Error, match=r"unsafe.*_codecs.encode of bytes with encoding 'zlib_codec'"):
        load_cifar10(synthetic_cifar.root)
