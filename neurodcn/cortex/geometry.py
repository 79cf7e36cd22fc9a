"""Map geometry: where each pixel of a classifier's feature maps sits on the input image, in pixels and degrees.

A staged classifier (neurodcn.nn.classifier.Classifier) is walked through its ``stages()``; any other model
along the torch.fx graph of its forward (traced_geometry), and where that graph cannot be walked a map is
assumed to tile the image centre on centre (centred_geometry).
Every feature map is an affine resampling of the input image: map pixel j (row or column) has its centre at
input pixel u = stride * j + offset. Convolutions and pools compose as u_in = s * u_out - p + d (K - 1) / 2
(kernel K, stride s, padding p, dilation d); a continuous convolution at scale s (dcn-cc's GradualDownsample
steps) by its projected grid (CC paper Eq. 2); norms, activations and blocks keep the geometry. An image of
H x W pixels spans ``visual_degrees`` horizontally (square pixels); positions are measured from the image
centre, x to the right and y up (as in neurodcn.data.stimuli). Time-dependent SRF kernels are sized at t = 0.
"""

from __future__ import annotations

import dataclasses
import operator
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from neurodcn.nn.dcn_cc import GradualDownsample
from neurodcn.nn.grid import projected_grid
from neurodcn.nn.srf import SRFConv2d

__all__ = ["MapGeometry", "stage_geometry", "model_geometry", "traced_geometry", "centred_geometry"]

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


def stage_geometry(model: nn.Module, in_channels: int, image_hw: tuple[int, int]) -> tuple[dict, dict]:
    """Geometry of the map every stage of a staged classifier returns, fed an image of image_hw = (H, W) px.

    Returns (maps, strides): maps[path] the MapGeometry after the stage with that module path ("stem",
    "blocks.i", "transitions.i"; a block takes and returns the same geometry); strides maps id(layer) ->
    cumulative stride (input px per map px) of the map entering each SRFConv2d and each CC step of a
    GradualDownsample.
    """
    strides: dict[int, float] = {}
    g, maps = MapGeometry(in_channels, *image_hw), {}
    for stage in model.stages():
        if stage.kind == "block":
            for layer in stage.module.modules():
                if isinstance(layer, SRFConv2d):
                    strides[id(layer)] = g.stride
        else:
            g = _walk(stage.module, g, strides)
        maps[stage.path] = g
    return maps, strides


def model_geometry(model: nn.Module, in_channels: int, image_hw: tuple[int, int]):
    """(blocks, strides) of a staged classifier (see stage_geometry): blocks[i] the MapGeometry of the map that
    blocks[i] takes and returns."""
    maps, strides = stage_geometry(model, in_channels, image_hw)
    return [maps[f"blocks.{i}"] for i in range(len(model.blocks))], strides


_ELEMENTWISE = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul,
                torch.relu, torch.tanh, torch.sigmoid, torch.clamp, F.relu, F.elu, F.celu, F.gelu, F.silu,
                F.leaky_relu, F.softplus, F.dropout}
_ELEMENTWISE_METHODS = {"relu", "tanh", "sigmoid", "clamp", "add", "sub", "mul", "contiguous"}


class _Tracer(fx.Tracer):
    """torch.fx tracer that keeps the named modules, the shape-preserving ones and the layers _walk knows
    (SRFConv2d, GradualDownsample) as single calls."""

    def __init__(self, leaves, preserves):
        super().__init__()
        self.leaves, self.preserves = set(leaves), preserves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return (qualname in self.leaves or self.preserves(m) or isinstance(m, SRFConv2d | GradualDownsample)
                or super().is_leaf_module(m, qualname))


def _module_geometry(m: nn.Module, g: MapGeometry, strides: dict, preserves) -> MapGeometry | None:
    if preserves(m):
        return g
    try:
        return _walk(m, g, strides)
    except ValueError:
        pass
    try:
        return _graph_geometry(m, g, strides, preserves)[1]
    except Exception:  # a module torch.fx cannot trace has no walkable geometry
        return None


def _graph_geometry(module: nn.Module, g0: MapGeometry, strides: dict, preserves, wanted=()) -> tuple[dict, object]:
    """({name: geometry of the output of each module in ``wanted`` called once}, geometry of the output)."""
    graph = _Tracer(wanted, preserves).trace(module)
    subs = dict(module.named_modules())
    geo: dict = {}
    found: dict = {}
    calls: dict[str, int] = {}
    out = first = None
    for node in graph.nodes:
        g = None
        if node.op == "placeholder" and first is None:
            g = first = g0
        elif node.op == "call_module":
            src = geo.get(node.args[0]) if node.args else None
            g = None if src is None else _module_geometry(subs[node.target], src, strides, preserves)
            calls[node.target] = calls.get(node.target, 0) + 1
            found[node.target] = g
        elif (node.op == "call_function" and node.target in _ELEMENTWISE) or (
            node.op == "call_method" and node.target in _ELEMENTWISE_METHODS
        ):
            known = {geo.get(a) for a in node.args if isinstance(a, fx.Node)}
            g = known.pop() if len(known) == 1 else None
        elif node.op == "output":
            out = geo.get(node.args[0]) if isinstance(node.args[0], fx.Node) else None
        geo[node] = g
    return {n: found[n] for n in wanted if calls.get(n) == 1 and found[n] is not None}, out


def traced_geometry(model: nn.Module, layers, in_channels: int, image_hw: tuple[int, int], preserves):
    """Geometry of the outputs of the named layers of any model, walked along the torch.fx graph of its forward.

    From the input image (the forward's first argument), Conv2d, SRFConv2d, pools, norms, activations and
    elementwise functions compose as in the module docstring; a module for which ``preserves(module)`` is
    true (a continuous block: h(t) has h(0)'s shape) keeps it; other modules are traced into. Returns
    (maps, strides): maps[name] for every layer reached this way (none where the model cannot be traced, or a
    layer is reached through anything else), strides as in stage_geometry.
    """
    strides: dict[int, float] = {}
    try:
        maps, _ = _graph_geometry(model, MapGeometry(in_channels, *image_hw), strides, preserves, tuple(layers))
    except Exception:  # torch.fx cannot trace data-dependent control flow
        return {}, strides
    return maps, strides


def centred_geometry(channels: int, size: tuple[int, int], image_hw: tuple[int, int]) -> MapGeometry:
    """The geometry a map of size (H', W') has if it tiles the image evenly, centre on centre (stride W / W'
    input px per map px): exact for continuous convolutions (their projected grid, CC paper Eq. 2) and
    "same"-padded stride-1 convolutions; the assumption where a model's graph cannot be walked."""
    stride = image_hw[1] / size[1]
    off = [(n - 1) / 2 - stride * (m - 1) / 2 for n, m in zip(image_hw, size, strict=True)]
    return MapGeometry(channels, size[0], size[1], stride, off[0], off[1])
