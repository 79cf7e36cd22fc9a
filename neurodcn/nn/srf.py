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

import torch
import torch.nn.functional as F

from neurodcn.nn.kernels import (
    SIGMA_MODES,
    TIME_PARAMS,
    NJet,
    basis_indices,
    gaussian_derivatives_1d,
    half_width,
    integer_offsets,
)
from neurodcn.validate import check_choice, check_feature_map, check_int, is_int

__all__ = ["SRFConv2d", "SIGMA_MODES", "TIME_PARAMS", "SEPARABLE_MIN_SIZE"]

PATHS = ("auto", "direct", "separable")
SEPARABLE_MIN_SIZE = 13
"""Kernel size from which ``path="auto"`` takes the separable path (measured: benchmarks/RESULTS.md)."""


class SRFConv2d(NJet):
    """2-D convolution with structured receptive fields (Gaussian N-jet filters with learnable scale): the N-jet
    kernel (:class:`neurodcn.nn.kernels.NJet`, its parameters and time meta-parametrisation) sampled on the
    integer grid.

    Args:
        in_channels: number of input channels.
        out_channels: number of output channels.
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
        time_scale: t' = clip(time_scale * t, *time_clip) for time-dependent parameters.
        time_clip: (low, high) clip of the scaled time t'.

    Shapes: input [B, in_channels, H, W] -> output [B, out_channels, H', W'].

    Examples:
        >>> import math, torch, neurodcn as nd
        >>> layer = nd.SRFConv2d(64, 64, order=2)  # 6 basis functions x 64 x 64 weights, plus one sigma
        >>> sum(p.numel() for p in layer.parameters())
        24577
        >>> tuple(layer(torch.rand(2, 64, 32, 32)).shape)  # "same" padding
        (2, 64, 32, 32)
        >>> size = layer.kernel().shape[-1]  # the kernel size follows sigma: 2 ceil(2 sigma + 0.5) + 1
        >>> size == 2 * math.ceil(2 * layer.sigma.item() + 0.5) + 1
        True
    """

    def __init__(self, in_channels: int, out_channels: int, order: int = 2, sigma_mode: str = "shared",
                 time_param: str | None = None, stride: int = 1, padding="same",
                 sigma_range: tuple[float, float] = (0.05, 8.0), max_half_width: int | None = None,
                 kernel_size: int = 7, path: str = "auto", time_scale: float = 0.5,
                 time_clip: tuple[float, float] = (-0.25, 1.25)):
        check_int("stride", stride, minimum=1)
        if not (padding in ("same", "valid") or (is_int(padding) and padding >= 0)):
            raise ValueError(f"padding must be 'same', 'valid' or an integer >= 0, got {padding!r}")
        if sigma_mode == "per_pair":
            if check_int("kernel_size", kernel_size, minimum=1) % 2 == 0:
                raise ValueError(f"kernel_size must be odd, got {kernel_size!r}")
        check_choice("path", path, PATHS)
        if path == "separable" and sigma_mode != "shared":
            raise ValueError("path='separable' needs sigma_mode='shared' (a per-pair basis is not shared)")
        super().__init__(in_channels, out_channels, order, sigma_mode, time_param, sigma_range, time_scale,
                         time_clip)
        self.stride, self.padding, self.kernel_size, self.path = stride, padding, kernel_size, path
        hi = self.sigma_range[1]
        self.max_half_width = (half_width(hi) if max_half_width is None
                               else check_int("max_half_width", max_half_width, minimum=1))
        self._cache: dict | None = None

    def half_width_at(self, t=None) -> int:
        """Half-width of the sampled kernel in pixels (reads sigma on the host for a shared sigma)."""
        if self.sigma_mode == "per_pair":
            return self.kernel_size // 2
        return half_width(float(self.sigma_at(t).detach()), self.max_half_width)

    # ----------------------------------------------------------------------------- kernels
    def _basis_1d(self, sigma, h):
        return gaussian_derivatives_1d(integer_offsets(h, self.alpha.dtype, self.alpha.device), sigma, self.order)

    def kernel(self, t=None) -> torch.Tensor:
        """The sampled filter bank W [out, in, K, K] at time t: the N-jet on the integer grid -h..h."""
        grid = integer_offsets(self.half_width_at(t), self.alpha.dtype, self.alpha.device)
        return self.weights(grid, grid, t).permute(2, 3, 0, 1)

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
