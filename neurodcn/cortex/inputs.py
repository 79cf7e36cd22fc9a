"""Inputs of the virtual-cortex experiments: image, label, time and number checks, and batching."""

from __future__ import annotations

import math

import numpy as np
import torch

from neurodcn.nn.resize import IMAGE_RESIZE, resize_images
from neurodcn.progress import tqdm
from neurodcn.validate import check_increasing

__all__ = ["ROUNDING", "check_images", "resize_attrs", "check_labels", "check_times", "batch_slices"]


ROUNDING = 4 * float(np.finfo(np.float32).eps)
"""How far images may overshoot [0, 1] by float rounding (4 float32 epsilons, ~4.8e-7); such values are clipped."""


def check_images(images, in_channels: int, image_hw: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """images [N, in_channels, H, W] (torch or numpy), floats in [0, 1], any H x W; returned resized to
    image_hw (neurodcn.nn.resize.resize_images, when H x W differs; :func:`resize_attrs` records it) with the
    dtype and device of ``like`` (a model parameter). Values within ROUNDING outside [0, 1] are clipped."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not torch.is_tensor(images):
        raise TypeError(f"images must be a torch.Tensor or numpy array, got {type(images).__name__}")
    shape = tuple(images.shape)
    if images.dim() != 4 or shape[0] < 1 or shape[1] != in_channels or min(shape[2:]) < 1:
        raise ValueError(
            f"images must have shape [N >= 1, {in_channels}, H, W] (N, channels, height, width; any other "
            f"H x W than {image_hw[0]} x {image_hw[1]} is resized to it), got {list(shape)}"
        )
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point with values in [0, 1], got dtype {images.dtype}")
    lo, hi = float(images.min()), float(images.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < -ROUNDING or hi > 1 + ROUNDING:
        raise ValueError(f"images must hold finite values in [0, 1], got min {lo!r}, max {hi!r}")
    if shape[2:] != tuple(image_hw):
        images = resize_images(images, image_hw)
    elif lo < 0 or hi > 1:  # float rounding only (e.g. an antialiased resize): clip
        images = images.clamp(0.0, 1.0)
    return images.to(dtype=like.dtype, device=like.device)


def resize_attrs(size_px, image_hw: tuple[int, int]) -> dict:
    """Provenance attrs of images given at size_px (H, W) to a model input of image_hw px (:func:`check_images`):
    stimulus_size_px ([H, W] px as given) and stimulus_resize ("none", or from what size to what, and how)."""
    h, w = (int(v) for v in size_px)
    done = "none" if (h, w) == tuple(image_hw) else (
        f"resized from {h} x {w} px to {image_hw[0]} x {image_hw[1]} px ({IMAGE_RESIZE})"
    )
    return {"stimulus_size_px": [h, w], "stimulus_resize": done}


def check_labels(labels, n: int, num_classes: int | None) -> torch.Tensor:
    """Integer class labels [n] in [0, num_classes) as a CPU int64 tensor."""
    arr = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be {n} integers (one per image), got shape {arr.shape}, dtype {arr.dtype}"
        )
    if arr.size and (arr.min() < 0 or (num_classes is not None and arr.max() >= num_classes)):
        raise ValueError(f"labels must lie in [0, {num_classes}), got min {arr.min()}, max {arr.max()}")
    return torch.as_tensor(arr, dtype=torch.int64)


def check_times(times, T: float) -> np.ndarray:
    """Model times: 1-D (a scalar becomes one time), finite, strictly increasing, within [0, T]."""
    return check_increasing("times", times, 0.0, T, what="(model times in the blocks' integration interval)")


def batch_slices(n: int, batch_size: int, progress: bool, desc: str, repeat: int = 1):
    """Yield (r, slice) for r in range(repeat) and consecutive batches of n items, with one tqdm bar."""
    starts = range(0, n, batch_size)
    with tqdm(total=repeat * len(starts), desc=desc, disable=not progress, leave=False) as bar:
        for r in range(repeat):
            for s in starts:
                yield r, slice(s, min(s + batch_size, n))
                bar.update()
