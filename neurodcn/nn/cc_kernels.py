"""Continuous kernels for ContinuousConv2d: functions from sub-pixel offsets to weights [C_out, C_in].

An offset (dy, dx) is the position of an input pixel relative to the sampling point, in input pixels
(m - g_n). This is the cross-correlation convention of conv layers (the CC paper's Eq. 1 writes
K(g_n - m), a true convolution: for a learned kernel the two differ only by a relabelling of its parameters,
for a symmetric kernel not at all), so a kernel sampled at integer offsets -h..h is an ordinary conv2d weight.

Every kernel offers
* ``forward(dy, dx)``: offsets of equal (broadcastable) shape [...] -> weights [..., C_out, C_in];
* ``window(dy, dx)``: the taps of sampling points, dy [..., Ty] and dx [..., Tx] (leading shapes broadcastable)
  -> weights [..., Ty, Tx, C_out, C_in]. By default the pointwise function on all pairs; the grid-only
  Internal-Net overrides it with one evaluation per sampling point.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurodcn.nn.grid import check_scale
from neurodcn.nn.kernels import gaussian_derivatives_1d, integer_offsets, njet_basis, num_basis

__all__ = ["ContinuousKernel", "InternalNet", "NJetKernel", "KERNELS", "build_kernel", "as_pair"]


def as_pair(value, name: str) -> tuple[float, float]:
    """A support (pixels) per axis from a number or a pair, validated > 0."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be a number or a pair (y, x), got {value!r}")
    return tuple(check_scale(v, name) for v in pair)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class ContinuousKernel(nn.Module):
    """Base class: a continuous kernel with ``in_channels``, ``out_channels`` and ``support`` (S_y, S_x) pixels."""

    def __init__(self, in_channels: int, out_channels: int, support=3):
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        self.support = as_pair(support, "support")

    @property
    def taps(self) -> tuple[int, int]:
        """Window length ceil(S) per axis."""
        return tuple(math.ceil(s) for s in self.support)

    def window(self, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        return self(dy.unsqueeze(-1), dx.unsqueeze(-2))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, support={self.support}"


class InternalNet(ContinuousKernel):
    """The Internal-Net K_theta of the CC paper (Appendix A): 1x1 convs 16, 16, C_final with LeakyReLU between.

    variant="neighbour": input one offset (dy, dx), C_final = C_in * C_out (one weight matrix per neighbour).
    variant="grid": input the offset of a sampling point's first tap, C_final = C_in * C_out * Ty * Tx (all its
    neighbours at once: no per-neighbour distances are kept).
    Initialisation: the last layer's bias ~ N(0, 1 / (3 fan_in)), the variance of PyTorch's default conv init
    with fan_in = C_in * Ty * Tx; its weight ~ N(0, 1 / (3 fan_in hidden)) so the offsets add variation of the
    same order.
    """

    VARIANTS = ("neighbour", "grid")

    def __init__(self, in_channels: int, out_channels: int, support=3, variant: str = "neighbour",
                 hidden: tuple[int, ...] = (16, 16), negative_slope: float = 0.01):
        super().__init__(in_channels, out_channels, support)
        if variant not in self.VARIANTS:
            raise ValueError(f"variant must be one of {list(self.VARIANTS)}, got {variant!r}")
        hidden = tuple(hidden)
        if not hidden:
            raise ValueError(f"hidden must list at least one layer width, got {hidden!r}")
        for h in hidden:
            _positive_int("hidden", h)
        self.variant = variant
        outputs = out_channels * in_channels * (self.taps[0] * self.taps[1] if variant == "grid" else 1)
        widths = (2, *hidden, outputs)
        layers = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))  # a 1x1 conv on the channel axis
            if i < len(widths) - 2:
                layers.append(nn.LeakyReLU(negative_slope))
        self.net = nn.Sequential(*layers)
        fan_in = in_channels * self.taps[0] * self.taps[1]
        var = 1.0 / (3.0 * fan_in)
        with torch.no_grad():
            self.net[-1].bias.normal_(0.0, math.sqrt(var))
            self.net[-1].weight.normal_(0.0, math.sqrt(var / hidden[-1]))

    def _eval(self, dy, dx):
        dy, dx = torch.broadcast_tensors(dy, dx)
        return self.net(torch.stack([dy, dx], dim=-1))

    def window(self, dy, dx):
        if self.variant == "neighbour":
            return super().window(dy, dx)
        ty, tx = self.taps
        if dy.shape[-1] != ty or dx.shape[-1] != tx:
            raise ValueError(f"the grid variant needs windows of {self.taps} taps, got {dy.shape[-1]}, {dx.shape[-1]}")
        out = self._eval(dy[..., 0], dx[..., 0])
        return out.view(*out.shape[:-1], ty, tx, self.out_channels, self.in_channels)

    def forward(self, dy, dx):
        if self.variant == "neighbour":
            out = self._eval(dy, dx)
            return out.view(*out.shape[:-1], self.out_channels, self.in_channels)
        # tap a holds offsets in [a - S/2, a + 1 - S/2): recover it and the first tap's offset
        ty, tx = self.taps
        dy, dx = torch.broadcast_tensors(dy, dx)
        a = torch.floor(dy + self.support[0] / 2).clamp(0, ty - 1)
        b = torch.floor(dx + self.support[1] / 2).clamp(0, tx - 1)
        out = self._eval(dy - a, dx - b).view(*dy.shape, ty * tx, self.out_channels * self.in_channels)
        index = (a * tx + b).long()[..., None, None].expand(*dy.shape, 1, out.shape[-1])
        return out.gather(-2, index).view(*dy.shape, self.out_channels, self.in_channels)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", variant={self.variant!r}"


class NJetKernel(ContinuousKernel):
    """The DCN's N-jet kernel as a continuous function: K(d) = sum_f alpha[f, c, o] basis_f(d; sigma).

    sigma = 2^log2_sigma pixels (clipped to sigma_range), alpha [F, C_in, C_out], as in SRFConv2d.
    normalize="sum" divides the Gaussian by its sum over the integer taps within the support (|k| <= S/2), so
    at integer offsets with an odd support 2h + 1 the kernel equals SRFConv2d's filter of half-width h;
    "analytic" divides by sqrt(2 pi) sigma. Either way a single function of the offsets.
    """

    def __init__(self, in_channels: int, out_channels: int, support=3, order: int = 2, normalize: str = "sum",
                 sigma_range: tuple[float, float] = (0.05, 8.0)):
        super().__init__(in_channels, out_channels, support)
        if isinstance(order, bool) or not isinstance(order, int) or order < 0:
            raise ValueError(f"order must be an integer >= 0, got {order!r}")
        if normalize not in ("sum", "analytic"):
            raise ValueError(f"normalize must be 'sum' or 'analytic', got {normalize!r}")
        lo, hi = (float(v) for v in sigma_range)
        if not (0 < lo < hi and math.isfinite(hi)):
            raise ValueError(f"sigma_range must be (min, max) with 0 < min < max < inf, got {sigma_range!r}")
        self.order, self.normalize, self.sigma_range = order, normalize, (lo, hi)
        self.alpha = nn.Parameter(torch.randn(num_basis(order), in_channels, out_channels) * 0.1)
        self.log2_sigma = nn.Parameter(torch.randn(()) * (2.0 / 3.0))

    @property
    def sigma(self) -> torch.Tensor:
        """sigma in pixels, clipped to sigma_range."""
        lo, hi = self.sigma_range
        return torch.exp2(self.log2_sigma.clamp(math.log2(lo), math.log2(hi)))

    def _scale(self, sigma):
        if self.normalize == "analytic":
            return 1.0
        total = 1.0
        for s in self.support:
            taps = integer_offsets(int(math.floor(s / 2)), sigma.dtype, sigma.device)
            total = total / gaussian_derivatives_1d(taps, sigma, 0, "analytic")[0].sum()
        return total

    def _combine(self, basis, sigma):
        return torch.einsum("f...,fco->...oc", basis, self.alpha) * self._scale(sigma)

    def forward(self, dy, dx):
        dy, dx = torch.broadcast_tensors(dy, dx)
        sigma = self.sigma
        basis = njet_basis(dy[..., None], dx[..., None], sigma, order=self.order, normalize="analytic")
        return self._combine(basis[..., 0, 0], sigma)

    def window(self, dy, dx):
        lead = torch.broadcast_shapes(dy.shape[:-1], dx.shape[:-1])
        dy, dx = dy.expand(*lead, dy.shape[-1]), dx.expand(*lead, dx.shape[-1])
        sigma = self.sigma
        return self._combine(njet_basis(dy, dx, sigma, order=self.order, normalize="analytic"), sigma)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", order={self.order}, normalize={self.normalize!r}"


KERNELS = {"internal_net": InternalNet, "njet": NJetKernel}


def build_kernel(kernel, in_channels: int, out_channels: int, support, options: dict | None = None):
    """A ContinuousKernel from a name in KERNELS (with its keyword options) or an instance (returned as is)."""
    if isinstance(kernel, ContinuousKernel):
        if (kernel.in_channels, kernel.out_channels) != (in_channels, out_channels):
            raise ValueError(f"kernel maps {kernel.in_channels} -> {kernel.out_channels} channels, the layer "
                             f"{in_channels} -> {out_channels}")
        return kernel
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {list(KERNELS)} or a ContinuousKernel, got {kernel!r}")
    return KERNELS[kernel](in_channels, out_channels, support, **(options or {}))
