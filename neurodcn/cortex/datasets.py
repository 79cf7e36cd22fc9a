"""What every virtual-cortex experiment shares: input checks, map geometry, coordinates and global attrs.

Geometry. The model is a staged classifier (stem -> blocks interleaved with transitions -> head; see
neurodcn.nn.models.Classifier). Every feature map is an affine resampling of the input image: map pixel j
(row or column) has its centre at input pixel u = stride * j + offset. Convolutions and pools compose as
u_in = s * u_out - p + d (K - 1) / 2 (kernel K, stride s, padding p, dilation d); a continuous convolution
at scale s (dcn-cc's GradualDownsample steps) by its projected grid (CC paper Eq. 2); norms, activations
and blocks keep the geometry. An image of H x W pixels spans ``visual_degrees`` horizontally (square pixels);
positions are measured from the image centre, x to the right and y up (as in neurodcn.data.stimuli).

Time. Model time t (units "1") maps to milliseconds as time_ms = onset_ms + ms_per_unit_time * t.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from neurodcn.data.stimuli import stimulus_coords as _table_coords
from neurodcn.io.files import stamp_provenance
from neurodcn.nn.dcn_cc import GradualDownsample
from neurodcn.nn.dynamics import ODEBlock
from neurodcn.nn.grid import projected_grid
from neurodcn.nn.srf import SRFConv2d

__all__ = [
    "MapGeometry",
    "model_geometry",
    "check_images",
    "check_labels",
    "check_times",
    "time_coords",
    "stimulus_coords",
    "block_dims",
    "block_coords",
    "batch_slices",
    "stamp",
    "ode_block_indices",
]

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


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _walk(module: nn.Module, g: MapGeometry, strides: dict) -> MapGeometry:
    if isinstance(module, SRFConv2d):
        strides[id(module)] = g.stride
        h = module.half_width_at(0.0 if module.time_param else None)
        p = h if module.padding == "same" else (0 if module.padding == "valid" else module.padding)
        return g.conv(module.out_channels, (2 * h + 1,) * 2, (module.stride,) * 2, (p, p))
    if isinstance(module, nn.Conv2d):
        k, d = _pair(module.kernel_size), _pair(module.dilation)
        if module.padding == "same":
            pad = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d, strict=True))
        else:
            pad = (0, 0) if module.padding == "valid" else _pair(module.padding)
        return g.conv(module.out_channels, k, _pair(module.stride), pad, d)
    if isinstance(module, _POOLS):
        return g.conv(
            g.channels,
            _pair(module.kernel_size),
            _pair(module.stride or module.kernel_size),
            _pair(module.padding),
            _pair(getattr(module, "dilation", 1)),
        )
    if isinstance(module, GradualDownsample):
        for conv, (s, size) in zip(module.convs, module.plan((g.height, g.width)), strict=True):
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
    maps id(layer) -> cumulative stride (input px per map px) of the map entering each SRFConv2d.
    """
    strides: dict[int, float] = {}
    g = _walk(model.stem, MapGeometry(in_channels, *image_hw), strides)
    blocks = []
    for i, block in enumerate(model.blocks):
        for layer in block.modules():
            if isinstance(layer, SRFConv2d):
                strides[id(layer)] = g.stride
        blocks.append(g)
        if i < len(model.transitions):
            g = _walk(model.transitions[i], g, strides)
    return blocks, strides


ROUNDING = 4 * float(np.finfo(np.float32).eps)
"""How far images may overshoot [0, 1] by float rounding (4 float32 epsilons, ~4.8e-7); such values are clipped."""


def check_images(images, in_channels: int, image_hw: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """images [N, in_channels, H, W] (torch or numpy), floats in [0, 1], (H, W) = image_hw; returned with the
    dtype and device of ``like`` (a model parameter). Values within ROUNDING outside [0, 1] are clipped."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not torch.is_tensor(images):
        raise TypeError(f"images must be a torch.Tensor or numpy array, got {type(images).__name__}")
    shape = tuple(images.shape)
    if images.dim() != 4 or shape[0] < 1 or shape[1] != in_channels or shape[2:] != tuple(image_hw):
        raise ValueError(
            f"images must have shape [N >= 1, {in_channels}, {image_hw[0]}, {image_hw[1]}] "
            f"(N, channels, height, width), got {list(shape)}"
        )
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point with values in [0, 1], got dtype {images.dtype}")
    lo, hi = float(images.min()), float(images.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < -ROUNDING or hi > 1 + ROUNDING:
        raise ValueError(f"images must hold finite values in [0, 1], got min {lo!r}, max {hi!r}")
    if lo < 0 or hi > 1:  # float rounding only (e.g. an antialiased resize): clip
        images = images.clamp(0.0, 1.0)
    return images.to(dtype=like.dtype, device=like.device)


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
    arr = np.atleast_1d(np.asarray(times.cpu() if torch.is_tensor(times) else times, dtype=np.float64))
    if (
        arr.ndim != 1
        or arr.size == 0
        or not np.all(np.isfinite(arr))
        or np.any(np.diff(arr) <= 0)
        or arr[0] < 0
        or arr[-1] > T
    ):
        raise ValueError(
            f"times must be a non-empty, strictly increasing sequence of model times within "
            f"[0, {T:g}] (the blocks' integration interval), got {arr.tolist()}"
        )
    return arr


def time_coords(times: np.ndarray, ms_per_unit_time: float, onset_ms: float, dim: str = "time") -> dict:
    """Coords ``time`` (model time, "1") and ``time_ms`` (onset_ms + ms_per_unit_time * time, "ms") on dim."""
    return {
        "time": (dim, np.asarray(times, dtype=np.float64), {"long_name": "model time", "units": "1"}),
        "time_ms": (
            dim,
            onset_ms + ms_per_unit_time * np.asarray(times, dtype=np.float64),
            {"long_name": "time after stimulus onset", "units": "ms"},
        ),
    }


def stimulus_coords(n: int, table: pd.DataFrame | None = None) -> dict:
    """Coords on dim ``stimulus``: stimulus_id = 0..n-1, or every column of a stimulus table of n rows
    (it must hold stimulus_id; see neurodcn.data.stimuli)."""
    if table is None:
        return {"stimulus_id": ("stimulus", np.arange(n), {"long_name": "stimulus identifier", "units": "1"})}
    if not isinstance(table, pd.DataFrame) or len(table) != n:
        raise ValueError(
            f"stimulus_table must be a pandas DataFrame with one row per image ({n}), got "
            f"{type(table).__name__} of length {len(table) if hasattr(table, '__len__') else '?'}"
        )
    return _table_coords(table.reset_index(drop=True), "stimulus")


def block_dims(k: int) -> tuple[str, str, str]:
    """Per-block dims (channel_block{k}, y_block{k}, x_block{k}); k = 1..B."""
    return f"channel_block{k}", f"y_block{k}", f"x_block{k}"


def block_coords(k: int, g: MapGeometry, image_hw: tuple[int, int], visual_degrees: float) -> dict:
    """Coords of block k's map: channel, row and column indices and the pixel centres in degrees."""
    c, y, x = block_dims(k)
    y_deg, x_deg = g.degrees(image_hw, visual_degrees)
    return {
        c: (c, np.arange(g.channels), {"long_name": f"channel of block {k}", "units": "1"}),
        y: (y, np.arange(g.height), {"long_name": f"feature-map row of block {k}", "units": "1"}),
        x: (x, np.arange(g.width), {"long_name": f"feature-map column of block {k}", "units": "1"}),
        f"y_deg_block{k}": (
            y,
            y_deg,
            {
                "long_name": "vertical position of the map pixel centre from the image centre (up)",
                "units": "deg",
            },
        ),
        f"x_deg_block{k}": (
            x,
            x_deg,
            {
                "long_name": "horizontal position of the map pixel centre from the image centre (right)",
                "units": "deg",
            },
        ),
    }


def batch_slices(n: int, batch_size: int, progress: bool, desc: str, repeat: int = 1):
    """Yield (r, slice) for r in range(repeat) and consecutive batches of n items, with one tqdm bar."""
    starts = range(0, n, batch_size)
    with tqdm(total=repeat * len(starts), desc=desc, disable=not progress, leave=False) as bar:
        for r in range(repeat):
            for s in starts:
                yield r, slice(s, min(s + batch_size, n))
                bar.update()


def stamp(ds: xr.Dataset, vc, experiment: str, title: str | None = None) -> xr.Dataset:
    """Provenance attrs (neurodcn.io.files.stamp_provenance) plus the cortex's visual_degrees (deg),
    ms_per_unit_time (ms), onset_ms (ms) and image_size ([H, W] px)."""
    out = stamp_provenance(
        ds, experiment, vc.name, model_config=vc.model_config, solver_config=vc.solver_config, title=title
    )
    out.attrs.update(
        visual_degrees=float(vc.visual_degrees),
        ms_per_unit_time=float(vc.ms_per_unit_time),
        onset_ms=float(vc.onset_ms),
        image_size=list(vc.image_size),
    )
    return out


def ode_block_indices(model: nn.Module) -> list[int]:
    """Indices (0-based, in model.blocks) of the ODE blocks."""
    return [i for i, b in enumerate(model.blocks) if isinstance(b, ODEBlock)]
