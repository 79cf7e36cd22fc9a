"""CIFAR-10 from a local ``cifar-10-batches-py`` folder: safe reading, class subsets, validation splits, batches.

The folder holds data_batch_1 ... data_batch_5, test_batch and batches.meta: Python-2 protocol-2 pickles whose
b"data" is uint8 [N, 3072] (a row is 1024 R, then 1024 G, then 1024 B values of a 32 x 32 image, row-major) and
b"labels" N class indices. Any N is accepted, so exact subsets of the official files load unchanged. Nothing is
ever downloaded. Unpickling can run code, so the files are read by an unpickler that admits only the numpy
globals an array needs (and, for protocol-2 pickles written by Python 3, latin-1 encoding of a str to bytes)
and refuses everything else before it runs.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neurodcn.validate import check_bool, check_choice, check_int, check_path, check_real, check_str, check_type

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct

__all__ = [
    "CIFAR10", "CIFAR10Error", "ENV_VAR", "TRAIN_FILES", "TEST_FILES", "META_FILE", "OFFICIAL_MD5",
    "load_cifar10", "read_classes", "check_md5", "per_class_subset", "train_val_split",
    "epoch_generator", "num_batches", "batches",
]

ENV_VAR = "NEURODCN_CIFAR10"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"
SPLITS = {"train": TRAIN_FILES, "test": TEST_FILES}
ROWS_PER_OFFICIAL_BATCH = 10_000
IMAGE_SHAPE = (3, 32, 32)
OFFICIAL_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
"""md5 sums of the full official files (cifar-10-python.tar.gz, Krizhevsky 2009)."""

class _UnsafePickle(pickle.UnpicklingError):
    pass


def _latin1_bytes(text, encoding="latin1"):
    """What Python 3 protocol-2 pickles call (as _codecs.encode) to rebuild bytes; latin-1 of a str only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _UnsafePickle(f"refused _codecs.encode of {type(text).__name__} with encoding {encoding!r} "
                            "(only str to latin-1 bytes is allowed)")
    return text.encode("latin1")


_ALLOWED_GLOBALS = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class CIFAR10Error(ValueError):
    """A CIFAR-10 folder or file is missing, truncated, corrupt or unsafe to read."""


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy globals needed to rebuild an ndarray; anything else is refused."""

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _UnsafePickle(f"refused global {module}.{name} (only numpy array globals are allowed)") from None


def _expected(root: Path) -> str:
    return (f"expected a cifar-10-batches-py folder {root} holding {', '.join(TRAIN_FILES + TEST_FILES)} and "
            f"{META_FILE} (Python-2 pickles from cifar-10-python.tar.gz; neurodcn never downloads them)")


def _read_pickle(path: Path, root: Path):
    try:
        with open(path, "rb") as f:
            return _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except _UnsafePickle as err:
        raise CIFAR10Error(f"{path} is unsafe and was not loaded: {err}; {_expected(root)}") from err
    except OSError as err:
        raise CIFAR10Error(f"cannot read {path}: {err}; {_expected(root)}") from err
    except Exception as err:  # any parse failure of a truncated or corrupt pickle
        raise CIFAR10Error(f"{path} is truncated or corrupt ({type(err).__name__}: {err}); "
                           f"{_expected(root)}") from err


def _str_keys(obj, path: Path, root: Path) -> dict:
    if not isinstance(obj, dict):
        raise CIFAR10Error(f"{path} holds a {type(obj).__name__}, not a dict; {_expected(root)}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _resolve_root(root) -> Path:
    if root is None:
        root = os.environ.get(ENV_VAR)
        if not root:
            raise ValueError(f"root is None and the {ENV_VAR} environment variable is not set; pass the "
                             f"cifar-10-batches-py folder (holding {', '.join(TRAIN_FILES + TEST_FILES)}, "
                             f"{META_FILE}) or set {ENV_VAR}")
    root = check_path("root", root)
    if not root.is_dir():
        raise CIFAR10Error(f"{root} is not a directory; {_expected(root)}")
    return root


def _require_files(root: Path, names) -> None:
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise CIFAR10Error(f"missing {', '.join(missing)} in {root}; {_expected(root)}")


def read_classes(root=None) -> tuple[str, ...]:
    """Class names from ``batches.meta`` in ``root`` (default: $NEURODCN_CIFAR10), in label order."""
    root = _resolve_root(root)
    _require_files(root, [META_FILE])
    path = root / META_FILE
    meta = _str_keys(_read_pickle(path, root), path, root)
    names = meta.get("label_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, (bytes, str)) for n in names):
        raise CIFAR10Error(f"{path} has no list of label_names; {_expected(root)}")
    return tuple(n.decode("ascii") if isinstance(n, bytes) else n for n in names)


def _read_batch(root: Path, name: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    path = root / name
    batch = _str_keys(_read_pickle(path, root), path, root)
    data, labels = batch.get("data"), batch.get("labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == math.prod(IMAGE_SHAPE)):
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CIFAR10Error(f"{path}: 'data' must be a uint8 array [N, 3072], found {found}; {_expected(root)}")
    # checked before any array is built: a pickle can share one list many times over (a few kB on disk that
    # np.asarray would expand to gigabytes)
    flat = (isinstance(labels, list) and all(type(v) is int for v in labels)) or (
        isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu")
    if not flat:
        raise CIFAR10Error(f"{path}: 'labels' must be a flat list of integers, found "
                           f"{type(labels).__name__}; {_expected(root)}")
    if len(labels) != data.shape[0]:
        raise CIFAR10Error(f"{path}: {len(labels)} labels for {data.shape[0]} images; {_expected(root)}")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise CIFAR10Error(f"{path}: labels outside 0..{num_classes - 1}; {_expected(root)}")
    return data, labels


def check_md5(root=None, names=None) -> None:
    """Check files of ``root`` against the official md5 sums (``OFFICIAL_MD5``); raise CIFAR10Error on mismatch.

    ``names`` defaults to every official file. Exact subsets of the official batches do not match by design.
    """
    root = _resolve_root(root)
    names = list(OFFICIAL_MD5) if names is None else list(names)
    unknown = [n for n in names if n not in OFFICIAL_MD5]
    if unknown:
        raise ValueError(f"names must be among {list(OFFICIAL_MD5)}, got {unknown!r}")
    _require_files(root, names)
    for name in names:
        digest = hashlib.md5()
        with open(root / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != OFFICIAL_MD5[name]:
            raise CIFAR10Error(f"{root / name} has md5 {digest.hexdigest()}, the official file has "
                               f"{OFFICIAL_MD5[name]} (a modified, truncated or partial copy)")


@dataclass(frozen=True, eq=False)
class CIFAR10:
    """Images with labels: ``images`` float32 [N, 3, 32, 32] in [0, 1], ``labels`` int64 [N] indexing ``classes``.

    ``source`` says where the images came from and how they were selected (for model cards and reports).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    source: str

    def __post_init__(self):
        if not (isinstance(self.images, torch.Tensor) and self.images.ndim == 4
                and tuple(self.images.shape[1:]) == IMAGE_SHAPE and self.images.is_floating_point()):
            found = getattr(self.images, "shape", type(self.images).__name__)
            raise ValueError(f"images must be a float tensor [N, 3, 32, 32], got {found!r}")
        if not (isinstance(self.labels, torch.Tensor) and self.labels.dtype == torch.int64
                and tuple(self.labels.shape) == (self.images.shape[0],)):
            raise ValueError(f"labels must be an int64 tensor [{self.images.shape[0]}], "
                             f"got {getattr(self.labels, 'shape', self.labels)!r}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> torch.Tensor:
        """Images per class, int64 [num_classes]."""
        return torch.bincount(self.labels.cpu(), minlength=self.num_classes)

    def subset(self, indices: torch.Tensor, note: str) -> CIFAR10:
        """The images at ``indices`` (int64 [M]); ``note`` is appended to ``source``."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return CIFAR10(self.images[indices.to(self.images.device)], self.labels[indices.to(self.labels.device)],
                       self.classes, f"{self.source}; {note}")

    def describe(self) -> dict:
        """JSON-able description for a model card: source, image count, per-class counts, class names."""
        return {"dataset": "CIFAR-10", "source": self.source, "num_images": len(self),
                "per_class": self.class_counts().tolist(), "classes": list(self.classes)}


def load_cifar10(root=None, split: str = "train", *, verify_md5: bool = False) -> CIFAR10:
    """Load one split of a local ``cifar-10-batches-py`` folder. Never downloads.

    Any number of images per batch file is accepted; the pickles are read without executing code (only numpy
    arrays are rebuilt).

    Args:
        root: the folder (data_batch_1..5, test_batch, batches.meta); default the $NEURODCN_CIFAR10
            environment variable.
        split: "train" (data_batch_1..5) or "test" (test_batch).
        verify_md5: require the full official files (see ``check_md5``).

    Returns:
        A ``CIFAR10`` with ``images`` float32 [N, 3, 32, 32] in [0, 1], ``labels`` [N] and ``classes``.

    Raises:
        CIFAR10Error: a file is missing, truncated, corrupt or unsafe.

    Examples:
        A folder in the official layout, with 4 images per batch file:

        >>> import pickle, tempfile, pathlib, numpy as np, neurodcn as nd
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        ...     batch = {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 3]}
        ...     _ = (root / name).write_bytes(pickle.dumps(batch, protocol=2))
        >>> names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        >>> _ = (root / "batches.meta").write_bytes(pickle.dumps({"label_names": names}, protocol=2))
        >>> data = nd.load_cifar10(root, "train")
        >>> tuple(data.images.shape), data.classes[3]
        ((20, 3, 32, 32), 'cat')
    """
    check_choice("split", split, SPLITS)
    check_bool("verify_md5", verify_md5)
    root = _resolve_root(root)
    files = SPLITS[split]
    _require_files(root, (*files, META_FILE))
    if verify_md5:
        check_md5(root, (*files, META_FILE))
    classes = read_classes(root)
    parts = [_read_batch(root, name, len(classes)) for name in files]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    images = torch.from_numpy(data.reshape(-1, *IMAGE_SHAPE)).to(torch.float32).div_(255.0)
    full = ROWS_PER_OFFICIAL_BATCH * len(files)
    note = "" if len(labels) == full else f"; a partial copy, {len(labels)} of the official {full:,} images"
    source = f"CIFAR-10 {split} split from {root} ({', '.join(files)}: {len(labels)} images{note})"
    return CIFAR10(images, torch.from_numpy(labels), classes, source)


def _check_seed(seed) -> int:
    return check_int("seed", seed, minimum=0)


def _check_data(data) -> CIFAR10:
    return check_type("data", data, CIFAR10, "a CIFAR10 (see load_cifar10)")


def _class_permutations(data: CIFAR10, seed: int):
    """(class index, indices of the class in a seeded random order) per class; independent of any count."""
    generator = torch.Generator().manual_seed(seed)
    labels = data.labels.cpu()
    for c in range(data.num_classes):
        idx = torch.nonzero(labels == c).flatten()
        yield c, idx[torch.randperm(len(idx), generator=generator)]


def per_class_subset(data: CIFAR10, n: int, seed: int) -> CIFAR10:
    """``n`` images of every class, drawn without replacement with ``seed``, in their original order.

    Subsets are nested: with one seed, the subset for n is contained in the subset for any larger n.
    """
    _check_data(data)
    n = check_int("n", n, minimum=1)
    chosen = []
    for c, order in _class_permutations(data, _check_seed(seed)):
        if len(order) < n:
            raise ValueError(f"n={n} images per class requested, but class {c} ({data.classes[c]}) has only "
                             f"{len(order)} in {data.source}")
        chosen.append(order[:n])
    return data.subset(torch.cat(chosen).sort().values, f"per_class_subset(n={n}, seed={seed})")


def train_val_split(data: CIFAR10, *, val_fraction: float | None = None, val_per_class: int | None = None,
                    seed: int = 0) -> tuple[CIFAR10, CIFAR10]:
    """Split ``data`` (training images) into (train, validation), stratified by class and seeded.

    Give exactly one of ``val_fraction`` (in (0, 1); per class round(fraction * count)) or ``val_per_class``.
    Every non-empty class keeps at least one image on each side. Both parts keep the original order.
    """
    _check_data(data)
    if (val_fraction is None) == (val_per_class is None):
        raise ValueError(f"give exactly one of val_fraction and val_per_class, got val_fraction={val_fraction!r}, "
                         f"val_per_class={val_per_class!r}")
    if val_fraction is not None:
        val_fraction = check_real("val_fraction", val_fraction, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    if val_per_class is not None:
        val_per_class = check_int("val_per_class", val_per_class, minimum=1)
    train, val = [], []
    for c, order in _class_permutations(data, _check_seed(seed)):
        count = len(order)
        if count == 0:
            continue
        k = val_per_class if val_per_class is not None else math.floor(val_fraction * count + 0.5)
        if not 1 <= k < count:
            raise ValueError(f"class {c} ({data.classes[c]}) has {count} images: cannot put {k} in validation "
                             f"and keep at least one on each side")
        val.append(order[:k])
        train.append(order[k:])
    how = f"val_fraction={val_fraction}" if val_fraction is not None else f"val_per_class={val_per_class}"
    note = f"train_val_split({how}, seed={seed})"
    return (data.subset(torch.cat(train).sort().values, f"{note}: train part"),
            data.subset(torch.cat(val).sort().values, f"{note}: validation part"))


def epoch_generator(seed: int, epoch: int, stream: str = "shuffle", device="cpu") -> torch.Generator:
    """A torch.Generator determined by (seed, epoch, stream) alone, so an interrupted run resumes bit-identically.

    ``stream`` names an independent random stream ("shuffle" for batch order, "augment" for augmentation, ...).
    """
    seed = _check_seed(seed)
    epoch = check_int("epoch", epoch, minimum=0)
    check_str("stream", stream)
    key = np.random.SeedSequence([seed, epoch, zlib.crc32(stream.encode())]).generate_state(1, np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(key))


def num_batches(num_items: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches of ``batch_size`` from ``num_items`` items (the last partial one dropped if drop_last)."""
    batch_size = check_int("batch_size", batch_size, minimum=1)
    check_bool("drop_last", drop_last)
    return num_items // batch_size if drop_last else -(-num_items // batch_size)


def batches(*tensors: torch.Tensor, batch_size: int, seed: int | None = None, epoch: int = 0,
            generator: torch.Generator | None = None, shuffle: bool = True, drop_last: bool = False,
            start_batch: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield tuples of mini-batches of ``tensors`` (all sharing their first dimension N).

    With ``shuffle`` the order is ``torch.randperm(N)`` from ``generator``, or, by default, from
    ``epoch_generator(seed, epoch)`` so epoch e's order depends on (seed, epoch) alone. ``start_batch`` skips
    the first batches of that order (to resume mid-epoch). ``drop_last`` drops a final partial batch.
    """
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("batches needs one or more tensors")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"tensors must share their first dimension, got {[tuple(t.shape) for t in tensors]}")
    check_bool("shuffle", shuffle)
    total = num_batches(n, batch_size, drop_last)
    start_batch = check_int("start_batch", start_batch, minimum=0, maximum=total)
    if shuffle:
        if generator is None:
            if seed is None:
                raise ValueError("shuffle=True needs a seed (with epoch) or a generator")
            generator = epoch_generator(seed, epoch)
        elif seed is not None:
            raise ValueError("give a seed or a generator, not both")
        order = torch.randperm(n, generator=generator, device=generator.device)
    else:
        order = torch.arange(n)
    for b in range(start_batch, total):
        idx = order[b * batch_size:(b + 1) * batch_size]
        yield tuple(t[idx.to(t.device)] for t in tensors)
