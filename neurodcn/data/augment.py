"""Training augmentation of the DCN reference: random crop (zero padding, then crop back) and horizontal flip.

Batched, in torch, on the device of the images; randomness from a torch.Generator. No torchvision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neurodcn.validate import check_bool, check_int

__all__ = ["crop_flip", "random_crop_flip"]


def _check_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor [B, C, H, W], got {getattr(images, 'shape', type(images))!r}")
    return images


def _check_padding(padding) -> int:
    return check_int("padding", padding, minimum=0)


def crop_flip(images: torch.Tensor, offsets_y: torch.Tensor, offsets_x: torch.Tensor, flips: torch.Tensor,
              padding: int = 4) -> torch.Tensor:
    """Zero-pad ``images`` [B, C, H, W] by ``padding`` pixels per side, crop H x W at the given offsets, flip.

    Image b becomes padded[b, :, oy:oy + H, ox:ox + W] with (oy, ox) = (offsets_y[b], offsets_x[b]) in
    [0, 2 * padding], then mirrored left-right where flips[b] is true. Offsets: int [B]; flips: bool [B].
    Returns [B, C, H, W] on the device and dtype of ``images``.
    """
    images = _check_images(images)
    padding = _check_padding(padding)
    b, c, h, w = images.shape
    offsets_y, offsets_x, flips = (torch.as_tensor(v, device=images.device) for v in (offsets_y, offsets_x, flips))
    for name, v in (("offsets_y", offsets_y), ("offsets_x", offsets_x), ("flips", flips)):
        if tuple(v.shape) != (b,):
            raise ValueError(f"{name} must have shape [{b}], got {tuple(v.shape)}")
    for name, v in (("offsets_y", offsets_y), ("offsets_x", offsets_x)):
        if v.is_floating_point() or v.dtype == torch.bool or (b and not (0 <= v.min() and v.max() <= 2 * padding)):
            raise ValueError(f"{name} must be integers in [0, {2 * padding}], got {v.tolist()}")
    padded = F.pad(images, (padding, padding, padding, padding))
    rows = offsets_y.long()[:, None] + torch.arange(h, device=images.device)  # [B, H]
    cols = offsets_x.long()[:, None] + torch.arange(w, device=images.device)  # [B, W]
    cols = torch.where(flips.bool()[:, None], cols.flip(-1), cols)
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def random_crop_flip(images: torch.Tensor, padding: int = 4, flip: bool = True,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop with zero ``padding`` (pixels per side) and, if ``flip``, random horizontal flip (p = 1/2).

    Draws, in this order from ``generator`` (torch's global generator if None), ``offsets_y`` and ``offsets_x``
    uniform in {0, ..., 2 * padding} [B] and flips as randint(0, 2) [B], then applies ``crop_flip``.
    images: [B, C, H, W] -> [B, C, H, W]. With padding 0 and flip False it returns the images unchanged.
    """
    images = _check_images(images)
    padding = _check_padding(padding)
    check_bool("flip", flip)
    b = images.shape[0]
    device = generator.device if generator is not None else torch.device("cpu")
    offsets_y = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=device)
    offsets_x = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=device)
    flips = torch.randint(0, 2, (b,), generator=generator, device=device).bool()
    if not flip:
        flips = torch.zeros_like(flips)
    return crop_flip(images, offsets_y, offsets_x, flips, padding)
