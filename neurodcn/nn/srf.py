"""SRFConv2d: a convolution whose filters are N-jet kernels sampled on the integer grid.

Each filter is W[o, c] = sum_f alpha[f, c, o] basis_f(sigma), with sigma = 2^s learned (pixels). The scale can
be one per layer ("shared") or one per input/output pair ("per_pair", fixed 7 x 7 as in the DCN reference),
and may depend on time t (paper Table 4): sigma = 2^(a t' + b), 2^(a2 t'^2 + a t' + b), optionally with
alpha = a_alpha t' + b_alpha, where t' = clip(t / 2, -0.25, 1.25).

Two equal ways to apply a shared-sigma filter: "direct" builds the K x K kernel and runs one convolution;
"separable" runs the separable basis (a depthwise 1-D pass per axis) and mixes with a 1 x 1 convolution.
The separable path wins for large K (its cost hardly grows with K); ``path="auto"`` picks by kernel size.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from neurodcn.nn.kernels import (
    basis_indices,
    gaussian_derivatives_1d,
    half_width,
    integer_offsets,
    njet_basis,
    num_basis,
)
from neurodcn.validate import check_choice, check_feature_map, check_int

__all__ = ["SRFConv2d", "SIGMA_MODES", "TIME_PARAMS", "SEPARABLE_MIN_SIZE"]

SIGMA_MODES = ("shared", "per_pair")
TIME_PARAMS = (None, "sigma_t", "sigma_t2", "sigma_alpha_t")
PATHS = ("auto", "direct", "separable")
SEPARABLE_MIN_SIZE = 13
"""Kernel size from which ``path="auto"`` takes the separable path (measured: benchmarks/RESULTS.md)."""


class SRFConv2d(nn.Module):
    """2-D convolution with structured receptive fields (Gaussian N-jet filters with learnable scale).

    Args:
        in_channels, out_channels: channel counts.
        order: N-jet order N (F = (N + 1)(N + 2) / 2 basis functions; 6 for N = 2).
        sigma_mode: "shared" (one sigma per layer, kernel size from the reference rule 2 ceil(2 sigma + 0.5) + 1)
            or "per_pair" (one sigma per (input, output) pair, fixed ``kernel_size``).
        time_param: None, "sigma_t", "sigma_t2" or "sigma_alpha_t" (then ``forward`` and ``kernel`` need t).
        stride: convolution stride (pixels).
        padding: "same" (half-width on each side), "valid" (none) or a number of pixels per side.
        sigma_range: (min, max) clip of sigma in pixels; the paper warns that filter sizes can explode.
        max_half_width: cap on the half-width (pixels); default: the rule's half-width at sigma_range[1].
        kernel_size: odd size of the per_pair grid (7 in the reference).
        path: "auto", "direct" or "separable" (separable needs a shared sigma).
        time_scale, time_clip: t' = clip(time_scale * t, *time_clip) for time-dependent parameters.

    Shapes: input [B, in_channels, H, W] -> output [B, out_channels, H', W'].
    """

    def __init__(self, in_channels: int, out_channels: int, order: int = 2, sigma_mode: str = "shared",
                 time_param: str | None = None, stride: int = 1, padding="same",
                 sigma_range: tuple[float, float] = (0.05, 8.0), max_half_width: int | None = None,
                 kernel_size: int = 7, path: str = "auto", time_scale: float = 0.5,
                 time_clip: tuple[float, float] = (-0.25, 1.25)):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.order = check_int("order", order, minimum=0)
        self.sigma_mode = check_choice("sigma_mode", sigma_mode, SIGMA_MODES)
        self.time_param = check_choice("time_param", time_param, TIME_PARAMS)
        self.stride = check_int("stride", stride, minimum=1)
        if not (padding in ("same", "valid") or (isinstance(padding, int) and not isinstance(padding, bool)
                                                 and padding >= 0)):
            raise ValueError(f"padding must be 'same', 'valid' or an integer >= 0, got {padding!r}")
        self.padding = padding
        lo, hi = (float(v) for v in sigma_range)
        if not (0 < lo < hi and math.isfinite(hi)):
            raise ValueError(f"sigma_range must be (min, max) with 0 < min < max < inf, got {sigma_range!r}")
        self.sigma_range = (lo, hi)
        self.max_half_width = (half_width(hi) if max_half_width is None
                               else check_int("max_half_width", max_half_width, minimum=1))
        if sigma_mode == "per_pair":
            if check_int("kernel_size", kernel_size, minimum=1) % 2 == 0:
                raise ValueError(f"kernel_size must be odd, got {kernel_size!r}")
        self.kernel_size = kernel_size
        self.path = check_choice("path", path, PATHS)
        if path == "separable" and sigma_mode != "shared":
            raise ValueError("path='separable' needs sigma_mode='shared' (a per-pair basis is not shared)")
        self.time_scale = float(time_scale)
        self.time_clip = (float(time_clip[0]), float(time_clip[1]))

        nb = num_basis(order)
        sigma_shape = () if sigma_mode == "shared" else (in_channels, out_channels)
        alpha_shape = (nb, in_channels, out_channels)
        timed = time_param is not None
        self.alpha = nn.Parameter(torch.randn(alpha_shape) * (0.05 if time_param == "sigma_alpha_t" else 0.1))
        self.log2_sigma = nn.Parameter(torch.randn(sigma_shape) * (0.1 if timed else 2.0 / 3.0))
        if timed:
            self.log2_sigma_slope = nn.Parameter(torch.randn(sigma_shape) * (2.0 / 3.0))
        if time_param == "sigma_t2":
            self.log2_sigma_curvature = nn.Parameter(torch.randn(sigma_shape) * (2.0 / 3.0))
        if time_param == "sigma_alpha_t":
            self.alpha_slope = nn.Parameter(torch.randn(alpha_shape) * 0.1)
        self._cache: dict | None = None

    # ----------------------------------------------------------------------------- parameters at time t
    def _time(self, t):
        if self.time_param is None:
            return None
        if t is None:
            raise ValueError(f"t is required: this layer's parameters depend on time ({self.time_param})")
        t = torch.as_tensor(t, dtype=self.alpha.dtype, device=self.alpha.device)
        return (self.time_scale * t).clamp(*self.time_clip)

    def log2_sigma_at(self, t=None) -> torch.Tensor:
        """log2 sigma (unclipped) at time t: shape [] (shared) or [in, out] (per_pair)."""
        tp = self._time(t)
        s = self.log2_sigma
        if tp is not None:
            s = s + self.log2_sigma_slope * tp
            if self.time_param == "sigma_t2":
                s = s + self.log2_sigma_curvature * tp * tp
        return s

    def sigma_at(self, t=None) -> torch.Tensor:
        """sigma in pixels at time t, clipped to sigma_range: shape [] (shared) or [in, out] (per_pair)."""
        lo, hi = self.sigma_range
        return torch.exp2(self.log2_sigma_at(t).clamp(math.log2(lo), math.log2(hi)))

    @property
    def sigma(self) -> torch.Tensor:
        """sigma in pixels (time-independent layers; use sigma_at(t) otherwise)."""
        return self.sigma_at(None)

    def sigma_summary(self, t=None) -> float:
        """The layer's sigma as one number, in pixels: the shared sigma, or for per-pair layers the median over
        the (input, output) pairs (torch.median: the lower of the two middle values), at model time t (None:
        t = 0 for a time-dependent layer). Training logs, receptive fields and RF size all report this."""
        if t is None and self.time_param is not None:
            t = 0.0
        with torch.no_grad():
            return float(self.sigma_at(t).median())

    def alpha_at(self, t=None) -> torch.Tensor:
        """Basis coefficients [F, in, out] at time t."""
        if self.time_param == "sigma_alpha_t":
            return self.alpha + self.alpha_slope * self._time(t)
        return self.alpha

    def half_width_at(self, t=None) -> int:
        """Half-width of the sampled kernel in pixels (reads sigma on the host for a shared sigma)."""
        if self.sigma_mode == "per_pair":
            return self.kernel_size // 2
        return half_width(float(self.sigma_at(t).detach()), self.max_half_width)

    # ----------------------------------------------------------------------------- kernels
    def _basis_1d(self, sigma, h):
        return gaussian_derivatives_1d(integer_offsets(h, self.alpha.dtype, self.alpha.device), sigma, self.order)

    def kernel(self, t=None) -> torch.Tensor:
        """The sampled filter bank W [out, in, K, K] at time t."""
        sigma, alpha, h = self.sigma_at(t), self.alpha_at(t), self.half_width_at(t)
        grid = integer_offsets(h, alpha.dtype, alpha.device)
        if self.sigma_mode == "shared":
            return torch.einsum("fco,fyx->ocyx", alpha, njet_basis(grid, grid, sigma, order=self.order))
        grid = grid.expand(self.in_channels, self.out_channels, -1)
        basis = njet_basis(grid, grid, sigma.unsqueeze(-1), order=self.order)  # [F, in, out, K, K]
        return torch.einsum("fco,fcoyx->ocyx", alpha, basis)

    @contextlib.contextmanager
    def cached_kernel(self):
        """Within this block, build the kernel once (on first use) and reuse it: for t-independent layers
        whose parameters do not change during the block, e.g. one ODE solve."""
        if self.time_param is not None:
            yield
            return
        self._cache = {}
        try:
            yield
        finally:
            self._cache = None

    def _pad(self, h):
        if self.padding == "same":
            return h
        return 0 if self.padding == "valid" else self.padding

    def resolve_path(self, h: int) -> str:
        """The path used for half-width h: 'direct' or 'separable'."""
        if self.path != "auto":
            return self.path
        if self.sigma_mode == "shared" and 2 * h + 1 >= SEPARABLE_MIN_SIZE:
            return "separable"
        return "direct"

    def _separable(self, x, t, h):
        """Rows pass (depthwise, basis_i along H), 1 x 1 mix into (out, j) channels, columns pass (basis_j along
        W, summed over j). Memory stays at (N + 1) channels per input and output channel."""
        sigma, alpha = self.sigma_at(t), self.alpha_at(t)
        b = self._basis_1d(sigma, h)  # [N + 1, K]
        n1, c, o, p, s = self.order + 1, self.in_channels, self.out_channels, self._pad(h), self.stride
        rows = F.conv2d(x, b.repeat(c, 1).view(c * n1, 1, -1, 1), stride=(s, 1), padding=(p, 0), groups=c)
        slots = torch.tensor([i * n1 + j for i, j in basis_indices(self.order)], device=x.device)
        full = alpha.new_zeros(n1 * n1, c, o).index_copy(0, slots, alpha)  # [(i, j), in, out], 0 where i + j > N
        mix = full.view(n1, n1, c, o).permute(3, 1, 2, 0).reshape(o * n1, c * n1, 1, 1)  # [(out, j), (in, i)]
        return F.conv2d(F.conv2d(rows, mix), b.repeat(o, 1).view(o, n1, 1, -1), stride=(1, s), padding=(0, p),
                        groups=o)

    def forward(self, x: torch.Tensor, t=None) -> torch.Tensor:
        check_feature_map("x", x, self.in_channels)
        h = self.half_width_at(t)
        if self.resolve_path(h) == "separable":
            return self._separable(x, t, h)
        if self._cache is not None:
            weight = self._cache.get("weight")
            if weight is None:
                weight = self._cache["weight"] = self.kernel(t)
        else:
            weight = self.kernel(t)
        return F.conv2d(x, weight, stride=self.stride, padding=self._pad(h))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, order={self.order}, sigma_mode={self.sigma_mode!r}, "
                f"time_param={self.time_param!r}, stride={self.stride}, padding={self.padding!r}")
