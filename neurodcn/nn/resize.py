"""Image and feature-map resizing: a continuous convolution with a known kernel, one axis at a time.

A client of the sampling pipeline (sampling.py), as ContinuousConv2d is: the same projected grid (Eq. 2),
plan and paths. Antialiasing (s < 1) widens the kernel:
k_s(d) = s k(s d) with support S / s. Weights are normalised to sum 1 over each output's window. Unlike the
well-known resizing library with this grid: an axis with s == 1 but another output size is resized (not
skipped), the border is padded "symmetric" by default (a constant image stays constant), and float64 works
on every path.
"""

from __future__ import annotations

import math

import torch

from neurodcn.nn.grid import resolve_sizes
from neurodcn.nn.sampling import PADDINGS, apply_plan, plan
from neurodcn.validate import check_bool

__all__ = ["resize", "resize_images", "IMAGE_RESIZE", "RESIZE_KERNELS", "box", "linear", "cubic", "lanczos3"]


def box(d: torch.Tensor) -> torch.Tensor:
    """Nearest neighbour: 1 on [-1/2, 1/2), support 1 pixel."""
    return ((d >= -0.5) & (d < 0.5)).to(d.dtype)


def linear(d: torch.Tensor) -> torch.Tensor:
    """Triangle 1 - |d| on |d| < 1, support 2 pixels."""
    return (1 - d.abs()).clamp(min=0)


def cubic(d: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel with parameter a (-0.5: Keys/MATLAB, -0.75: PyTorch/OpenCV), support 4."""
    t = d.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def lanczos3(d: torch.Tensor) -> torch.Tensor:
    """Lanczos window of order 3: sinc(d) sinc(d / 3) on |d| < 3, support 6 pixels."""
    return torch.where(d.abs() < 3, torch.sinc(d) * torch.sinc(d / 3), torch.zeros_like(d))


RESIZE_KERNELS = {"box": (box, 1.0), "linear": (linear, 2.0), "cubic": (cubic, 4.0), "lanczos3": (lanczos3, 6.0)}
"""name -> (kernel function of the offset in pixels, support in pixels)."""


def _axis_window(fn, scale: float, axis: int):
    """Window function for a 1-D pass: normalised weights along ``axis`` (0: rows, 1: columns), 1 channel."""
    def window(dy, dx):
        d = dy if axis == 0 else dx
        w = fn(scale * d) * scale
        w = w / w.sum(-1, keepdim=True)
        lead = torch.broadcast_shapes(dy.shape[:-1], dx.shape[:-1])
        w = w[..., :, None] if axis == 0 else w[..., None, :]
        return w[..., None, None].expand(*lead, dy.shape[-1], dx.shape[-1], 1, 1)
    return window


def resize(x: torch.Tensor, scale=None, out_size=None, kernel: str = "cubic", antialias: bool = True,
           padding: str = "symmetric", cubic_a: float = -0.5, path: str = "auto") -> torch.Tensor:
    """Resize the last two axes of an image batch, antialiased, on the continuous-convolution grid.

    Scale and size are independent per axis; with a scale only, the output size is ceil(s * in). With a linear
    or cubic kernel at scale >= 1 the result equals ``torch.nn.functional.interpolate`` to 1e-5.

    Args:
        x: tensor [..., H, W], float32 or float64.
        scale: s or (s_y, s_x), or None.
        out_size: n or (n_y, n_x), or None.
        kernel: "cubic" (Keys, parameter ``cubic_a``), "linear", "lanczos3" or "box".
        antialias: widen the kernel by 1 / s when s < 1.
        padding: "symmetric", "reflect", "replicate" or "zeros" (values outside the input).
        cubic_a: the Keys cubic's parameter a.
        path: "auto", "direct" or "convs" (by discrete convolutions; rational scales only).

    Returns:
        The resized tensor [..., H', W'] in x's dtype.

    Examples:
        >>> import torch, neurodcn as nd
        >>> x = torch.rand(2, 3, 24, 24)
        >>> tuple(nd.resize(x, scale=2 / 3).shape)
        (2, 3, 16, 16)
        >>> tuple(nd.resize(x, out_size=(32, 20)).shape)
        (2, 3, 32, 20)
        >>> bool(torch.allclose(nd.resize(torch.ones(1, 1, 9, 9), scale=0.5), torch.ones(1, 1, 5, 5)))
        True
    """
    if not torch.is_tensor(x) or x.dim() < 2:
        raise ValueError(f"x must be a tensor with at least 2 dimensions [..., H, W], got {type(x).__name__} "
                         f"of shape {tuple(getattr(x, 'shape', ()))}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if min(x.shape) < 1:
        raise ValueError(f"x must have no empty dimension, got shape {tuple(x.shape)}")
    if kernel not in RESIZE_KERNELS:
        raise ValueError(f"kernel must be one of {list(RESIZE_KERNELS)}, got {kernel!r}")
    antialias = check_bool("antialias", antialias)
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {list(PADDINGS)}, got {padding!r}")
    if not (isinstance(cubic_a, (int, float)) and math.isfinite(cubic_a)):
        raise ValueError(f"cubic_a must be a finite number, got {cubic_a!r}")
    fn, support = RESIZE_KERNELS[kernel]
    if kernel == "cubic":
        fn = lambda d, f=fn: f(d, cubic_a)  # noqa: E731
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    scales, sizes = resolve_sizes((h, w), scale, out_size)
    out = x.reshape(-1, 1, h, w)
    for axis in (0, 1):
        s, n_in, n_out = scales[axis], (h, w)[axis], sizes[axis]
        if s == 1 and n_out == n_in:
            continue  # the grid is the input's pixel centres: an exact identity for every kernel here
        widen = float(s) if (antialias and s < 1) else 1.0
        axis_scales, axis_sizes, axis_supports = [1.0, 1.0], list(out.shape[-2:]), [1.0, 1.0]
        axis_scales[axis], axis_sizes[axis], axis_supports[axis] = s, n_out, support / widen
        ay, ax = plan(out.shape[-2:], axis_supports, tuple(axis_scales), tuple(axis_sizes))
        out = apply_plan(out, _axis_window(fn, widen, axis), ay, ax, padding, path)
    return out.reshape(*lead, *out.shape[-2:])


IMAGE_RESIZE = "nd.resize: cubic, antialiased"
"""How :func:`resize_images` resizes, as the provenance attrs of the experiments name it."""


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Images [..., H, W] in [0, 1] as float32 of ``size`` (height, width) px: :func:`resize` (cubic,
    antialiased, symmetric border) in float64, clipped to [0, 1]. The one resize that stimulus loading and
    every experiment apply to images of another size."""
    return resize(images.to(torch.float64), out_size=size).clamp_(0.0, 1.0).to(torch.float32)
