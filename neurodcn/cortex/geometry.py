"""Map geometry: where each pixel of a classifier's feature maps sits on the input image, in pixels and degrees.

The model is a staged classifier (neurodcn.nn.classifier.Classifier; its ``stages()`` is the walk used here).
Every feature map is an affine resampling of the input image: map pixel j (row or column) has its centre at
input pixel u = stride * j + offset. Convolutions and pools compose as u_in = s * u_out - p + d (K - 1) / 2
(kernel K, stride s, padding p, dilation d); a continuous convolution at scale s (dcn-cc's GradualDownsample
steps) by its projected grid (CC paper Eq. 2); norms, activations and blocks keep the geometry. An image of
H x W pixels spans ``visual_degrees`` horizontally (square pixels); positions are measured from the image
centre, x to the right and y up (as in neurodcn.data.stimuli). Time-dependent SRF kernels are sized at t = 0.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
from torch import nn

from neurodcn.nn.dcn_cc import GradualDownsample
from neurodcn.nn.grid import projected_grid
from neurodcn.nn.srf import SRFConv2d

__all__ = ["MapGeometry", "model_geometry"]

_PRESERVING = (
    nn.GroupNorm,
    nn.BatchNorm2d,
    nn.InstanceNorm2d,
    nn.LayerNorm,
    nn.CELU,
    nn.ReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.LeakyReLU,
    nn.Softplus,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
)
_POOLS = (nn.MaxPool2d, nn.AvgPool2d)


@dataclasses.dataclass(frozen=True)
class MapGeometry:
    """A feature map: channels, size (px of the map) and its affine map to input pixels (per axis y, x):
    input pixel = stride * map index + offset."""

    channels: int
    height: int
    width: int
    stride: float = 1.0
    offset_y: float = 0.0
    offset_x: float = 0.0

    def conv(
        self, out_channels: int, kernel: tuple, stride: tuple, padding: tuple, dilation=(1, 1)
    ) -> MapGeometry:
        """The geometry after a convolution or pool (per-axis kernel, stride, padding, dilation)."""
        if stride[0] != stride[1]:
            raise ValueError(f"only equal strides along y and x are supported, got stride {stride}")
        size, offset = [], []
        for n, k, s, p, d, o in zip(
            (self.height, self.width),
            kernel,
            stride,
            padding,
            dilation,
            (self.offset_y, self.offset_x),
            strict=True,
        ):
            size.append((n + 2 * p - d * (k - 1) - 1) // s + 1)
            offset.append(o + self.stride * (d * (k - 1) / 2 - p))
        return MapGeometry(out_channels, size[0], size[1], self.stride * stride[0], offset[0], offset[1])

    def resample(self, out_channels: int, scale, out_size: tuple[int, int]) -> MapGeometry:
        """The geometry after a continuous convolution at scale s (equal along y and x; float or Fraction) to
        out_size (H', W'): map pixel n sits at g_n = n / s + (n_in - 1) / 2 - (n_out - 1) / (2 s) of the input
        map (the CC paper's projected grid, Eq. 2)."""
        offset = [
            o + self.stride * float(projected_grid(n, m, scale)[0])
            for n, m, o in zip((self.height, self.width), out_size, (self.offset_y, self.offset_x), strict=True)
        ]
        stride = float(Fraction(self.stride) / scale) if isinstance(scale, Fraction) else self.stride / scale
        return MapGeometry(out_channels, out_size[0], out_size[1], stride, offset[0], offset[1])

    def degrees(self, image_hw: tuple[int, int], visual_degrees: float) -> tuple[np.ndarray, np.ndarray]:
        """Map pixel centres in degrees from the image centre: (y_deg [height] (up), x_deg [width])."""
        deg_per_px = visual_degrees / image_hw[1]
        rows = self.stride * np.arange(self.height) + self.offset_y
        cols = self.stride * np.arange(self.width) + self.offset_x
        return ((image_hw[0] - 1) / 2 - rows) * deg_per_px, (cols - (image_hw[1] - 1) / 2) * deg_per_px


def layer_pair(v) -> tuple[int, int]:
    """A layer's kernel_size / stride / padding / dilation (an int or a pair) as a pair."""
    return (v, v) if isinstance(v, int) else tuple(v)


def _walk(module: nn.Module, g: MapGeometry, strides: dict) -> MapGeometry:
    if isinstance(module, SRFConv2d):
        strides[id(module)] = g.stride
        h = module.half_width_at(0.0 if module.time_param else None)
        p = h if module.padding == "same" else (0 if module.padding == "valid" else module.padding)
        return g.conv(module.out_channels, (2 * h + 1,) * 2, (module.stride,) * 2, (p, p))
    if isinstance(module, nn.Conv2d):
        k, d = layer_pair(module.kernel_size), layer_pair(module.dilation)
        if module.padding == "same":
            pad = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d, strict=True))
        else:
            pad = (0, 0) if module.padding == "valid" else layer_pair(module.padding)
        return g.conv(module.out_channels, k, layer_pair(module.stride), pad, d)
    if isinstance(module, _POOLS):
        return g.conv(
            g.channels,
            layer_pair(module.kernel_size),
            layer_pair(module.stride or module.kernel_size),
            layer_pair(module.padding),
            layer_pair(getattr(module, "dilation", 1)),
        )
    if isinstance(module, GradualDownsample):
        for conv, (s, size) in zip(module.convs, module.plan((g.height, g.width)), strict=True):
            strides[id(conv)] = g.stride
            g = g.resample(conv.out_channels, s, size)
        return g
    if isinstance(module, nn.Sequential):
        for child in module:
            g = _walk(child, g, strides)
        return g
    if isinstance(module, _PRESERVING):
        return g
    raise ValueError(
        f"cannot infer the map geometry through a {type(module).__name__}; supported: Conv2d, "
        "SRFConv2d, GradualDownsample, pools, norms, activations and nn.Sequential of them"
    )


def model_geometry(model: nn.Module, in_channels: int, image_hw: tuple[int, int]):
    """Geometry of the maps of a staged classifier fed an image of image_hw = (H, W) pixels.

    Returns (blocks, strides): blocks[i] the MapGeometry of the map that blocks[i] takes and returns; strides
    maps id(layer) -> cumulative stride (input px per map px) of the map entering each SRFConv2d and each CC
    step of a GradualDownsample.
    """
    strides: dict[int, float] = {}
    g, blocks = MapGeometry(in_channels, *image_hw), []
    for stage in model.stages():
        if stage.kind == "block":
            for layer in stage.module.modules():
                if isinstance(layer, SRFConv2d):
                    strides[id(layer)] = g.stride
            blocks.append(g)
        else:
            g = _walk(stage.module, g, strides)
    return blocks, strides
