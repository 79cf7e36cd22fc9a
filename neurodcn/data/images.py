"""Users' own images in the image-folder layout ``root/<class>/<image>.png|.jpg`` or a flat ``root/<image>``
(no classes: label -1), from a folder or a .zip.

The class of an image is the name of the folder holding it; labels number the classes in sorted order. A zip
may hold the class folders at its top or inside one top folder (as zipping a folder does). Images are decoded
with Pillow to RGB (grey and palette images are converted), scaled to [0, 1] (value / 255; 16-bit grey value /
65535; transparent pixels composited on a grey ``background``, or refused) and, when ``size`` is given, resized
one by one with :func:`neurodcn.resize` (antialiased cubic, symmetric border). Hidden files and ``__MACOSX``
entries are skipped; nothing in a file is executed, nothing outside the folder or zip is read, and declared
sizes (files, zip members, image headers) are checked against budgets before anything is decoded.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import torch
from PIL import Image

from neurodcn.io.limits import (
    RefusedFileError,
    byte_budget,
    check_archive,
    check_budget,
    check_regular,
    pixel_budget,
)
from neurodcn.nn.resize import resize_images
from neurodcn.validate import check_pair, check_path, check_real

__all__ = ["IMAGE_SUFFIXES", "ImageSet", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""File endings read as images (case-insensitive)."""


class ImageSet:
    """Images float32 [N, 3, H, W] in [0, 1], labels int64 [N], class names (label order) and a stimulus table
    (stimulus_id "<set>/<class>/<file>", label, class_name, file, original_height, original_width); a flat
    folder's images have label -1 and class_name "", and classes is empty."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str], table: pd.DataFrame):
        self.images, self.labels, self.classes, self.table = images, labels, classes, table


def _skipped(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _layout(names: list[PurePosixPath], where: str) -> dict[PurePosixPath, PurePosixPath]:
    """{class/file or file: stored path} of the images among ``names`` (class folders, or a flat folder
    without classes), dropping one shared top folder (a zipped folder); ValueError for any other layout."""
    images = [p for p in names if p.suffix.lower() in IMAGE_SUFFIXES and not _skipped(p.parts)]
    strip = bool(images) and all(len(p.parts) == 3 for p in images) and len({p.parts[0] for p in images}) == 1
    layout = {PurePosixPath(*p.parts[1:]) if strip else p: p for p in images}
    depths = {len(p.parts) for p in layout}
    if depths - {1, 2} or len(depths) > 1:
        wrong = [next(str(p) for p in layout if len(p.parts) == d) for d in sorted(depths)]
        raise ValueError(
            f"root {where!r} must hold images as <class>/<image> (one folder per class) or <image> (a flat "
            f"folder, no classes), not both or deeper, got {wrong}"
        )
    if not layout:
        raise ValueError(f"root {where!r} holds no {'/'.join(IMAGE_SUFFIXES)} images in class folders")
    return dict(sorted(layout.items()))


def _pixels(im: Image.Image, name: str, background: float | None) -> torch.Tensor:
    """float32 [3, H, W] in [0, 1]: 16-bit grey scaled by 65535, 8-bit by 255; transparency composited on
    ``background`` (a grey level) or refused."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        grey = np.asarray(im, dtype=np.float64)
        if grey.size and (grey.min() < 0 or grey.max() > 65535):
            raise ValueError(f"image {name!r}: integer pixels must lie in [0, 65535], got "
                             f"[{grey.min():g}, {grey.max():g}]")
        return torch.from_numpy(np.repeat((grey / 65535.0)[None], 3, 0).astype(np.float32))
    if "A" in im.getbands() or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:]
        if np.any(alpha < 1):
            if background is None:
                raise ValueError(f"image {name!r} has transparent pixels ({np.mean(alpha < 1):.0%}); pass "
                                 "background= (a grey level in [0, 1], e.g. 1.0 for white) to composite it")
            rgba[..., :3] = rgba[..., :3] * alpha + background * (1 - alpha)
        return torch.from_numpy(rgba[..., :3]).permute(2, 0, 1).contiguous()
    return torch.from_numpy(np.array(im.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1).to(torch.float32) / 255.0


def _decode(data: bytes, name: str, max_pixels: int, background: float | None) -> torch.Tensor:
    """One image as float32 [3, H, W] in [0, 1]; its size is read from the header and checked against
    ``max_pixels`` before it is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            check_budget(f"image {name!r} ({im.width} x {im.height})", im.width * im.height, max_pixels, "pixels")
            return _pixels(im, name, background)
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"image {name!r} could not be decoded: {err}") from None


def _read(root: Path, max_bytes: int) -> tuple[list[PurePosixPath], Iterator[tuple[str, bytes]], str]:
    """(class/file paths, an iterator of (name, encoded bytes) in that order, set name) of a folder or zip;
    the files' declared sizes are checked against ``max_bytes`` (together) before any is read."""
    if root.is_dir():
        names = []
        for p in sorted(root.rglob("*")):
            rel = PurePosixPath(p.relative_to(root).as_posix())
            if p.is_symlink() and not _skipped(rel.parts):
                raise RefusedFileError(f"root {str(root)!r} holds a symlink {str(rel)!r}; a folder is read only "
                                       "from inside itself")
            if not p.is_dir():
                names.append(rel)
        layout = _layout(names, str(root))
        sizes = {p: check_regular(root / p, "image").st_size for p in layout.values()}
        check_budget(f"root {str(root)!r}", sum(sizes.values()), max_bytes,
                     hint="read fewer images at a time or raise the budget")
        return list(layout), ((str(p), (root / p).read_bytes()) for p in layout.values()), root.name
    if root.is_file() and root.suffix.lower() == ".zip":
        members = check_archive(root, "root", max_bytes)
        infos = {PurePosixPath(name): i for name, i in members.items() if not i.is_dir()}
        layout = _layout(list(infos), str(root))

        def members():
            with zipfile.ZipFile(root) as z:
                for p in layout.values():
                    with z.open(infos[p]) as f:
                        yield str(p), f.read(infos[p].file_size)

        return list(layout), members(), root.stem
    raise ValueError(f"root must be a folder or a .zip file of class folders, got {str(root)!r}")


def _size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    return check_pair("size", size, minimum=1)


def load_image_folder(root, size=None, background: float | None = None, max_pixels: int | None = None,
                      max_bytes: int | None = None) -> ImageSet:
    """Read the images of folder or zip ``root`` (layout ``<class>/<image>``, or ``<image>``: a flat folder,
    whose images have label -1 and class_name "").

    size: None (every image must have the same size) or the output size in px, int or (height, width); images
    of another size are resized. background: None refuses images with transparent pixels; a grey level in
    [0, 1] composites them on it. Budgets (neurodcn.io.limits), checked before decoding: each image and all
    output images together at most ``max_pixels`` (default $NEURODCN_MAX_PIXELS, else 2**25), the image files
    together at most ``max_bytes`` (default $NEURODCN_MAX_BYTES, else 1 GiB; a zip's uncompressed sizes).
    Symlinks inside a folder are refused. Returns an :class:`ImageSet` in sorted class/file order."""
    root = check_path("root", root)
    out = _size(size)
    if background is not None:
        background = check_real("background", background, 0.0, 1.0)
    pixels, max_bytes = pixel_budget(max_pixels), byte_budget(max_bytes)
    rel, files, set_name = _read(root, max_bytes)
    images, shapes, total = [], [], 0
    for name, data in files:
        x = _decode(data, name, pixels, background)
        shapes.append(tuple(x.shape[1:]))
        if out is None and shapes[0] != shapes[-1]:
            raise ValueError(
                f"size must be given when the images differ in size (root {str(root)!r} has sizes "
                f"{sorted(set(shapes))[:4]})"
            )
        if out is not None and tuple(x.shape[1:]) != out:
            x = resize_images(x, out)
        total += x.shape[1] * x.shape[2]
        check_budget(f"root {str(root)!r} (the first {len(shapes)} images)", total, pixels, "pixels",
                     hint="pass a smaller size= or read fewer images")
        images.append(x)
    named = [p.parts[0] if len(p.parts) == 2 else "" for p in rel]  # a flat folder: no classes, label -1
    classes = sorted(set(named) - {""})
    labels = np.array([classes.index(c) if c else -1 for c in named], dtype=np.int64)
    table = pd.DataFrame(
        {
            "stimulus_id": [f"{set_name}/{p}" for p in rel],
            "label": labels,
            "class_name": named,
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
