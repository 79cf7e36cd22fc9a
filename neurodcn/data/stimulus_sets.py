"""Natural-image stimulus sets with labels and a stimulus table: ``nd.load_stimuli(source)``.

Sources: the name of a bundled set (:data:`STIMULUS_SETS`; "cifar10-demo", the first 128 CIFAR-10 test
images), a .npz file in the bundled format (uint8 ``images`` [N, 3, H, W], int ``labels`` [N], str
``classes``, optional int ``test_index`` [N]), a ``cifar-10-batches-py`` folder (its test split), or an image
folder or .zip in the layout ``<class>/<image>.png|.jpg`` or a flat ``<image>.png|.jpg`` (no classes: labels -1;
:mod:`neurodcn.data.images`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neurodcn.data.bundled import bundled_dir
from neurodcn.data.cifar10 import META_FILE, load_cifar10
from neurodcn.data.images import load_image_folder
from neurodcn.io.limits import check_archive
from neurodcn.nn.resize import resize_images
from neurodcn.validate import check_int, check_pair, check_path

__all__ = ["STIMULUS_SETS", "Stimuli", "load_stimuli"]

STIMULUS_SETS = {
    "cifar10-demo": {
        "file": "cifar10-test-first128.npz",
        "sha256": "1ee02e792375dcf2164989c06fa5fafa2d72189bac113eacad6f081b5488fbc0",
        "description": "the first 128 CIFAR-10 test images",
    },
}
"""Bundled stimulus sets: name -> file in the bundled stimuli folder, sha256 of its uint8 image bytes (checked
on load), description."""


@dataclasses.dataclass(frozen=True)
class Stimuli:
    """Images float32 [N, 3, H, W] in [0, 1], labels int64 [N] (-1: no class), a stimulus table (one row per
    image: a string stimulus_id unique to the set, label, class_name, and source-specific columns; units and
    long names in ``table.attrs``, ready for the ``stimulus_table=`` argument of the cortex experiments), the
    class names in label order, and a one-line description of the source."""

    images: torch.Tensor
    labels: torch.Tensor
    table: pd.DataFrame
    classes: list[str]
    source: str


def _read_npz(path: Path, verify: str | None) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(uint8 images [N, 3, H, W], int64 labels [N], class names, source indices [N]) of a stimulus .npz."""
    check_archive(path, "source")  # a .npz is a zip: its arrays' declared sizes are checked before inflating
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in ("images", "labels", "classes") if k not in f.files]
        if missing:
            raise ValueError(f"source {str(path)!r} lacks the arrays {missing} (images, labels, classes)")
        images, labels, classes = f["images"], f["labels"], [str(c) for c in f["classes"]]
        index = f["test_index"] if "test_index" in f.files else np.arange(len(labels))
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"source {str(path)!r}: images must be uint8 [N, 3, H, W], got {images.dtype} {list(images.shape)}"
        )
    if labels.shape != (images.shape[0],) or labels.dtype.kind not in "iu" or index.shape != labels.shape:
        raise ValueError(f"source {str(path)!r}: labels and test_index must be {images.shape[0]} integers")
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ValueError(f"source {str(path)!r}: labels must lie in [0, {len(classes)})")
    if verify is not None and hashlib.sha256(images.tobytes()).hexdigest() != verify:
        raise ValueError(f"{path} is not the bundled stimulus set (sha256 of its images differs)")
    return images, labels.astype(np.int64), classes, index.astype(np.int64)


def _indexed_table(prefix: str, index: np.ndarray, labels: np.ndarray, classes: list[str], what: str):
    table = pd.DataFrame(
        {
            "stimulus_id": [f"{prefix}-{i:05d}" for i in index],
            "source_index": index,
            "label": labels,
            "class_name": np.array(classes, dtype=object)[labels],
        }
    )
    table.attrs["units"] = {"source_index": "1", "label": "1"}
    table.attrs["long_names"] = {
        "stimulus_id": "stimulus identifier",
        "source_index": f"index of the image in {what}",
        "label": "true class index",
        "class_name": "true class",
    }
    return table


def _load_all(source, size) -> tuple[torch.Tensor, torch.Tensor, pd.DataFrame, list[str], str]:
    if isinstance(source, str) and source in STIMULUS_SETS:
        entry = STIMULUS_SETS[source]
        raw, labels, classes, index = _read_npz(bundled_dir("stimuli") / entry["file"], entry["sha256"])
        table = _indexed_table("cifar10-test", index, labels, classes, "the CIFAR-10 test batch")
        what = f"the bundled stimulus set {source!r} ({entry['description']})"
        return torch.from_numpy(raw).float() / 255.0, torch.from_numpy(labels), table, classes, what
    path = check_path("source", source)
    if path.suffix == ".npz" and path.is_file():
        raw, labels, classes, index = _read_npz(path, None)
        table = _indexed_table(path.stem, index, labels, classes, path.name)
        what = f"{path.name} ({len(labels)} images)"
        return torch.from_numpy(raw).float() / 255.0, torch.from_numpy(labels), table, classes, what
    if path.is_dir() and (path / META_FILE).is_file():
        data = load_cifar10(path, "test")
        labels = data.labels.numpy().astype(np.int64)
        table = _indexed_table("cifar10-test", np.arange(len(labels)), labels, list(data.classes), "the test batch")
        return data.images, data.labels.long(), table, list(data.classes), f"CIFAR-10 test split of {path.name}"
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
        s = load_image_folder(path, size=size)
        return s.images, s.labels, s.table, s.classes, f"image folder {path.name} ({len(s.labels)} images)"
    raise ValueError(
        f"source must be one of the bundled sets {list(STIMULUS_SETS)}, a .npz file, a cifar-10-batches-py "
        f"folder, or an image folder or .zip (<class>/<image> or <image>), got {source!r}"
    )


def load_stimuli(source="cifar10-demo", num_images: int | None = None, seed: int = 0, size=None) -> Stimuli:
    """Images with labels and a stimulus table, from a bundled set or your own images. Never downloads.

    Args:
        source: the name of a bundled set ("cifar10-demo": the first 128 CIFAR-10 test images), a .npz file in
            the bundled format (uint8 ``images`` [N, 3, H, W], int ``labels`` [N], str ``classes``, optional
            int ``test_index`` [N]), a ``cifar-10-batches-py`` folder (its test split), or an image folder or
            .zip laid out as ``<class>/<image>.png|.jpg`` (labels from the folder names) or flat as
            ``<image>.png|.jpg`` (no classes: labels -1).
        num_images: draw this many without replacement (a torch.Generator seeded with ``seed``), kept in
            source order; None takes all.
        seed: the seed of the draw.
        size: None (as stored; the images of a folder must then share one size) or the output size in px,
            int or (height, width): images of another size are resized by
            ``neurodcn.nn.resize.resize_images``, as every experiment resizes them.

    Returns:
        A ``Stimuli``: ``images`` float32 [N, 3, H, W] in [0, 1], ``labels`` int64 [N], ``table`` (a
        DataFrame, one row per image: ``stimulus_id``, ``label``, ``class_name`` and source-specific columns;
        pass it as ``stimulus_table=`` to the experiments) and ``classes``.

    Examples:
        >>> import neurodcn as nd
        >>> stim = nd.load_stimuli("cifar10-demo", num_images=4)
        >>> tuple(stim.images.shape), stim.labels.tolist()
        ((4, 3, 32, 32), [7, 0, 4, 3])
        >>> stim.table[["stimulus_id", "class_name"]].iloc[0].tolist()
        ['cifar10-test-00013', 'horse']
    """
    if num_images is not None:
        num_images = check_int("num_images", num_images, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if size is not None:
        size = check_pair("size", size, minimum=1)
    images, labels, table, classes, what = _load_all(source, size)
    n = len(labels)
    if num_images is not None and num_images > n:
        raise ValueError(f"num_images must be at most {n} (the images in the source), got {num_images}")
    if num_images is not None and num_images < n:
        g = torch.Generator().manual_seed(seed)
        pick = torch.randperm(n, generator=g)[:num_images].sort().values
        attrs = table.attrs
        table = table.iloc[pick.numpy()].reset_index(drop=True)
        table.attrs = attrs
        images, labels = images[pick], labels[pick]
        what += f"; {num_images} drawn with seed {seed}"
    if size is not None:
        images = images if tuple(images.shape[2:]) == size else resize_images(images, size)
        what += f"; at {size[0]} x {size[1]} px"
    return Stimuli(images.contiguous(), labels, table, classes, what)
