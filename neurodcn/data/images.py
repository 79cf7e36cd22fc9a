"""Users' own images in the image-folder layout ``root/<class>/<image>.png|.jpg``, from a folder or a .zip.

The class of an image is the name of the folder holding it; labels number the classes in sorted order. A zip
may hold the class folders at its top or inside one top folder (as zipping a folder does). Images are decoded
with Pillow to RGB (grey and palette images are converted), scaled to [0, 1] (value / 255) and, when ``size``
is given, resized with :func:`neurodcn.resize` (antialiased cubic, symmetric border). Hidden files and
``__MACOSX`` entries are skipped; nothing in a file is executed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import torch
from PIL import Image

from neurodcn.nn.resize import resize
from neurodcn.validate import check_pair, check_path

__all__ = ["IMAGE_SUFFIXES", "ImageSet", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""File endings read as images (case-insensitive)."""


class ImageSet:
    """Images float32 [N, 3, H, W] in [0, 1], labels int64 [N], class names (label order) and a stimulus table
    (stimulus_id "<set>/<class>/<file>", label, class_name, file, original_height, original_width)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str], table: pd.DataFrame):
        self.images, self.labels, self.classes, self.table = images, labels, classes, table


def _skipped(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _layout(names: list[PurePosixPath], where: str) -> dict[PurePosixPath, PurePosixPath]:
    """{class/file: stored path} of the images among ``names``, dropping one shared top folder (a zipped
    folder); ValueError for any other layout."""
    images = [p for p in names if p.suffix.lower() in IMAGE_SUFFIXES and not _skipped(p.parts)]
    strip = bool(images) and all(len(p.parts) == 3 for p in images) and len({p.parts[0] for p in images}) == 1
    layout = {PurePosixPath(*p.parts[1:]) if strip else p: p for p in images}
    wrong = [str(p) for p in layout if len(p.parts) != 2]
    if wrong:
        raise ValueError(
            f"root {where!r} must hold images as <class>/<image> (one folder per class), got {wrong[:3]}"
        )
    if not layout:
        raise ValueError(f"root {where!r} holds no {'/'.join(IMAGE_SUFFIXES)} images in class folders")
    return dict(sorted(layout.items()))


def _decode(data: bytes, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"image {name!r} could not be decoded: {err}") from None


def _read(root: Path) -> tuple[list[PurePosixPath], list[np.ndarray], str]:
    """(class/file paths, decoded arrays [H, W, 3], set name) of a folder or zip."""
    if root.is_dir():
        names = [PurePosixPath(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file()]
        layout = _layout(names, str(root))
        return list(layout), [_decode((root / p).read_bytes(), str(p)) for p in layout.values()], root.name
    if root.is_file() and root.suffix.lower() == ".zip":
        with zipfile.ZipFile(root) as z:
            infos = {PurePosixPath(i.filename): i for i in z.infolist() if not i.is_dir()}
            layout = _layout(list(infos), str(root))
            arrays = [_decode(z.read(infos[p]), str(p)) for p in layout.values()]
        return list(layout), arrays, root.stem
    raise ValueError(f"root must be a folder or a .zip file of class folders, got {str(root)!r}")


def _size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    return check_pair("size", size, minimum=1)


def load_image_folder(root, size=None) -> ImageSet:
    """Read the images of folder or zip ``root`` (layout ``<class>/<image>``).

    size: None (every image must have the same size) or the output size in px, int or (height, width); images
    of another size are resized. Returns an :class:`ImageSet` in sorted class/file order."""
    root = check_path("root", root)
    out = _size(size)
    rel, arrays, set_name = _read(root)
    shapes = [a.shape[:2] for a in arrays]
    if out is None and len(set(shapes)) > 1:
        raise ValueError(
            f"size must be given when the images differ in size (root {str(root)!r} has sizes "
            f"{sorted(set(shapes))[:4]})"
        )
    images = []
    for a in arrays:
        x = torch.from_numpy(a).permute(2, 0, 1).to(torch.float32) / 255.0
        if out is not None and tuple(x.shape[1:]) != out:
            x = resize(x, out_size=out).clamp_(0.0, 1.0)
        images.append(x)
    classes = sorted({p.parts[0] for p in rel})
    labels = np.array([classes.index(p.parts[0]) for p in rel], dtype=np.int64)
    table = pd.DataFrame(
        {
            "stimulus_id": [f"{set_name}/{p}" for p in rel],
            "label": labels,
            "class_name": [p.parts[0] for p in rel],
            "file": [str(p) for p in rel],
            "original_height": [s[0] for s in shapes],
            "original_width": [s[1] for s in shapes],
        }
    )
    table.attrs["units"] = {"label": "1", "original_height": "pixel", "original_width": "pixel"}
    table.attrs["long_names"] = {
        "stimulus_id": "stimulus identifier (set/class/file)",
        "label": "class index (sorted class folders)",
        "class_name": "class (folder name)",
        "file": "image file (class/file)",
        "original_height": "image height before resizing",
        "original_width": "image width before resizing",
    }
    return ImageSet(torch.stack(images).contiguous(), torch.from_numpy(labels), classes, table)
