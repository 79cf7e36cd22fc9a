"""ContinuousConv2d: a continuous kernel sampled on the projected grid of any scale (the CC paper).

The four blocks of the paper: (1) the projected grid of each axis (grid.py, Eq. 2), (2) the neighbours of each
grid point within the kernel support, (3) the weights K(offsets) from a continuous kernel (kernels.py),
(4) the weighted sum over neighbours and input channels (sampling.py: the plan, the path rule and the two
paths). Scale and output size are chosen per call and per axis.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurodcn.nn.kernels import build_kernel
from neurodcn.nn.sampling import PADDINGS, PATHS, AxisPlan, apply_plan, choose_path, plan
from neurodcn.validate import check_bool, check_choice, check_int

__all__ = ["ContinuousConv2d", "check_input"]


def check_input(x, in_channels: int | None = None, dtype=None) -> torch.Tensor:
    """Validate a feature map [B, C, H, W] of floating dtype (matching ``in_channels`` and ``dtype`` if given)."""
    if not torch.is_tensor(x) or x.dim() != 4:
        raise ValueError(f"x must be a 4-D tensor [B, C, H, W], got {type(x).__name__} of shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if min(x.shape) < 1:
        raise ValueError(f"x must have no empty dimension, got shape {tuple(x.shape)}")
    if in_channels is not None and x.shape[1] != in_channels:
        raise ValueError(f"x has {x.shape[1]} channels but in_channels is {in_channels}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"x has dtype {x.dtype} but the layer's parameters are {dtype}: call layer.to({x.dtype})")
    return x


class ContinuousConv2d(nn.Module):
    """Continuous convolution: out[n] = sum_m x[m] K(m - g_n) on the projected grid g of any scale.

    Args:
        in_channels: number of input channels.
        out_channels: number of output channels.
        kernel: "internal_net" (the CC paper's K_theta), "njet" (the DCN's N-jet kernel) or a ContinuousKernel.
        support: kernel support S in input pixels, a number or (S_y, S_x); the window holds ceil(S) taps.
        padding: "zeros", "reflect", "replicate" or "symmetric" (values outside the input).
        path: "auto" (by discrete convolutions when both scales are k / l with k, l <= max_period, otherwise
            direct), "direct" or "convs".
        chunk_size: output rows per chunk of the direct path (None: automatic from CHUNK_BYTES); chunks are
            recomputed in backward, so memory is bounded by a chunk.
        max_period: largest numerator and denominator of a scale that counts as rational.
        bias: add a learned bias per output channel (initialised like nn.Conv2d's).
        kernel_options: keyword arguments of the kernel class, e.g. {"variant": "grid"} or {"order": 2}.

    Call: layer(x, scale=None | s | (s_y, s_x), out_size=None | n | (n_y, n_x)); x [B, in_channels, H, W] ->
    [B, out_channels, H', W'] with H' = ceil(s_y H) unless out_size says otherwise (scale and out_size are
    independent per axis; with neither, scale 1).

    Examples:
        >>> import torch, neurodcn as nd
        >>> cc = nd.ContinuousConv2d(3, 8, kernel="internal_net", support=3)
        >>> x = torch.rand(2, 3, 24, 24)
        >>> tuple(cc(x, scale=2 / 3).shape)  # any scale, chosen at call time
        (2, 8, 16, 16)
        >>> tuple(cc(x, scale=(2 / 3, 5 / 4)).shape), tuple(cc(x, out_size=(20, 24)).shape)
        ((2, 8, 16, 30), (2, 8, 20, 24))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel="internal_net", support=3,
                 padding: str = "zeros", path: str = "auto", chunk_size: int | None = None, max_period: int = 10,
                 bias: bool = True, kernel_options: dict | None = None):
        super().__init__()
        self.kernel = build_kernel(kernel, in_channels, out_channels, support, kernel_options)
        self.in_channels, self.out_channels = in_channels, out_channels
        check_choice("padding", padding, PADDINGS)
        check_choice("path", path, PATHS)
        if chunk_size is not None:
            check_int("chunk_size", chunk_size, minimum=1)
        check_int("max_period", max_period, minimum=1)
        check_bool("bias", bias)
        self.padding, self.path, self.chunk_size, self.max_period = padding, path, chunk_size, max_period
        if bias:
            bound = 1.0 / math.sqrt(in_channels * self.kernel.taps[0] * self.kernel.taps[1])
            self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)

    @property
    def support(self) -> tuple[float, float]:
        return self.kernel.support

    def _dtype(self):
        param = next(self.parameters(), None)
        return None if param is None else param.dtype

    def plan(self, in_hw, scale=None, out_size=None) -> tuple[AxisPlan, AxisPlan]:
        """Grid, windows and periods for an input of spatial size in_hw = (H, W)."""
        return plan(in_hw, self.support, scale, out_size, self.max_period)

    def resolve_path(self, in_hw, scale=None, out_size=None) -> str:
        """The path a call would take: "direct" or "convs"."""
        return choose_path(self.path, *self.plan(in_hw, scale, out_size))

    def sample(self, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        """The kernel on the separable offsets dy [Ty] x dx [Tx] (pixels): weights [out, in, Ty, Tx]. At integer
        offsets -h..h this is the conv2d weight that the layer equals at scale 1."""
        return self.kernel(dy[:, None], dx[None, :]).permute(2, 3, 0, 1)

    def forward(self, x: torch.Tensor, scale=None, out_size=None) -> torch.Tensor:
        check_input(x, self.in_channels, self._dtype())
        ay, ax = self.plan(x.shape[-2:], scale, out_size)
        return apply_plan(x, self.kernel.window, ay, ax, self.padding, self.path, self.chunk_size,
                          self.out_channels, bias=self.bias)

    def extra_repr(self) -> str:
        return f"padding={self.padding!r}, path={self.path!r}, bias={self.bias is not None}"
