"""Shared fixtures: one torch thread for the whole session; synthetic CIFAR-10 folders written in the official
Python-2 pickle format."""

import pickle
import struct
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the checkout's analyses/ scripts are imported as the package ``analyses``
    sys.path.insert(0, str(REPO))

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The tests use small tensors: one intra-op thread is as fast, and never oversubscribes a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler writing str and bytes as Python-2 byte strings (BINSTRING), as cPickle did."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_string(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = _save_py2_string
    dispatch[bytes] = _save_py2_string


def dump_py2(obj, path):
    """Write ``obj`` to ``path`` as a Python-2 style protocol-2 pickle."""
    with open(path, "wb") as f:
        _Py2Pickler(f, protocol=2).dump(obj)


def _write_synthetic(root, rows, seed):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in BATCHES:
        data = rng.integers(0, 256, size=(rows, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.permutation(np.arange(rows) % 10)]  # rows // 10 of each class (+ rest)
        dump_py2({b"batch_label": name.encode(), b"labels": labels, b"data": data}, root / name)
        batches[name] = (data, np.array(labels))
    dump_py2({b"num_cases_per_batch": 10000, b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072},
             root / "batches.meta")
    return SimpleNamespace(root=root, batches=batches, classes=CLASSES)


@pytest.fixture
def synthetic_cifar(tmp_path):
    """A cifar-10-batches-py folder with 40 random images per batch, 4 of each class per batch."""
    return _write_synthetic(tmp_path / "cifar-10-batches-py", rows=40, seed=0)


@pytest.fixture
def py2_pickle():
    """The writer of Python-2 style protocol-2 pickles: py2_pickle(obj, path)."""
    return dump_py2
