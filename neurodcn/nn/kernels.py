"""The continuous kernels: functions from sub-pixel offsets (dy, dx) in pixels to filter weights.

* The Gaussian N-jet basis (functions below) and the N-jet kernel :class:`NJet`: weights
  W[o, c] = sum_f alpha[f, c, o] basis_f(sigma), sigma = 2^s pixels, one sigma per layer ("shared") or per
  input/output pair ("per_pair"), optionally depending on time t (DCN paper Table 4). SRFConv2d samples it on the
  integer grid (srf.py); :class:`NJetKernel` is the same kernel as a continuous function for ContinuousConv2d.
* The Internal-Net of the CC paper (:class:`InternalNet`), for ContinuousConv2d.

N-jet conventions (the DCN reference):

* the 1-D Gaussian g(x) = exp(-x^2 / (2 sigma^2)) is renormalised to sum 1 over the taps it is sampled on
  (``normalize="sum"``), or divided by sqrt(2 pi) sigma (``normalize="analytic"``);
* the derivative of order n is scale-normalised by sigma^n:
  basis_n(x) = (-1/sqrt 2)^n H_n(x / (sqrt 2 sigma)) g(x), with physicists' Hermite polynomials H_n;
* the 2-D basis is the outer product basis_i(rows) x basis_j(cols) for i + j <= N, ordered by i ascending
  and, within i, j descending: (0,2), (0,1), (0,0), (1,1), (1,0), (2,0) for N = 2.

Offsets of a continuous kernel are the position of an input pixel relative to the sampling point (m - g_n), the
cross-correlation convention of conv layers (the CC paper's Eq. 1 writes K(g_n - m), a true convolution: for a
learned kernel the two differ only by a relabelling of its parameters), so a kernel sampled at integer offsets
-h..h is an ordinary conv2d weight. Everything is built from tensors already on the device (no host read), and
is differentiable in the parameters.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import nn

from neurodcn.nn.grid import check_scale
from neurodcn.validate import check_choice, check_int

__all__ = [
    "NJet",
    "SIGMA_MODES",
    "TIME_PARAMS",
    "ContinuousKernel",
    "NJetKernel",
    "InternalNet",
    "KERNELS",
    "build_kernel",
    "as_pair",
    "SIZE_FACTOR",
    "hermite_coefficients",
    "basis_indices",
    "num_basis",
    "half_width",
    "integer_offsets",
    "gaussian_derivatives_1d",
    "njet_basis",
]

SIZE_FACTOR = 2.0
"""The reference size rule: half-width h = ceil(SIZE_FACTOR * sigma + 0.5), kernel size 2h + 1."""


@cache
def _hermite_table(order: int) -> tuple[tuple[float, ...], ...]:
    rows = [[1.0] + [0.0] * order]
    if order >= 1:
        rows.append([0.0, 2.0] + [0.0] * (order - 1))
    for n in range(1, order):  # H_{n+1} = 2u H_n - 2n H_{n-1}
        nxt = [0.0] * (order + 1)
        for p in range(order + 1):
            if p >= 1:
                nxt[p] += 2.0 * rows[n][p - 1]
            nxt[p] -= 2.0 * n * rows[n - 1][p]
        rows.append(nxt)
    return tuple(tuple(r) for r in rows)


def hermite_coefficients(order: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """Coefficients of the physicists' Hermite polynomials H_0..H_order.

    Returns a tensor [order + 1, order + 1] whose row n holds the coefficients of H_n in powers u^0..u^order.
    """
    return torch.tensor(_hermite_table(check_int("order", order, minimum=0)), dtype=dtype, device=device)


def basis_indices(order: int) -> list[tuple[int, int]]:
    """(i, j) derivative orders of the 2-D basis in reference order: i along rows (H), j along columns (W)."""
    order = check_int("order", order, minimum=0)
    return [(i, j) for i in range(order + 1) for j in range(order - i, -1, -1)]


def num_basis(order: int) -> int:
    """Number of 2-D N-jet functions of order N: (N + 1)(N + 2) / 2."""
    order = check_int("order", order, minimum=0)
    return (order + 1) * (order + 2) // 2


def half_width(sigma: float, max_half_width: int | None = None) -> int:
    """Reference half-width ceil(2 sigma + 0.5) in pixels for a scale sigma (pixels), capped at max_half_width."""
    sigma = float(sigma)
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    h = math.ceil(SIZE_FACTOR * sigma + 0.5)
    return h if max_half_width is None else min(h, int(max_half_width))


def integer_offsets(h: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The integer grid -h..h (pixels) as a tensor [2h + 1]."""
    h = check_int("h", h, minimum=0)
    return torch.arange(-h, h + 1, dtype=dtype, device=device)


def gaussian_derivatives_1d(x: torch.Tensor, sigma, order: int, normalize: str = "sum") -> torch.Tensor:
    """Scale-normalised 1-D Gaussian derivatives of orders 0..order.

    Args:
        x: offsets in pixels, [..., K]; the last axis holds the taps a Gaussian is normalised over.
        sigma: scale in pixels, a float or a tensor broadcastable against x[..., :1] (e.g. [..., 1]).
        order: highest derivative order N >= 0.
        normalize: "sum" renormalises g to sum 1 over the last axis (the reference), "analytic" divides by
            sqrt(2 pi) sigma.

    Returns:
        [order + 1, ..., K]: entry n is (-1/sqrt 2)^n H_n(x / (sqrt 2 sigma)) g(x).
    """
    order = check_int("order", order, minimum=0)
    if normalize not in ("sum", "analytic"):
        raise ValueError(f"normalize must be 'sum' or 'analytic', got {normalize!r}")
    if not torch.is_tensor(x) or x.dim() < 1 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor with at least one dimension, got {x!r}")
    if not torch.is_tensor(sigma):
        sigma = float(sigma)
        if not math.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
        sigma = torch.tensor(sigma, dtype=x.dtype, device=x.device)
    u = x / (math.sqrt(2.0) * sigma)
    g = torch.exp(-u * u)
    if normalize == "sum":
        g = g / g.sum(dim=-1, keepdim=True)
    else:
        g = g / (math.sqrt(2.0 * math.pi) * sigma)
    coeffs = hermite_coefficients(order, dtype=x.dtype, device=x.device)
    powers = torch.stack([u**p for p in range(order + 1)])  # [P, ..., K]
    hermite = torch.tensordot(coeffs, powers, dims=([1], [0]))  # [N + 1, ..., K]
    signs = torch.tensor([(-1.0 / math.sqrt(2.0)) ** n for n in range(order + 1)], dtype=x.dtype,
                         device=x.device)
    return signs.view(-1, *([1] * x.dim())) * hermite * g


def njet_basis(dy: torch.Tensor, dx: torch.Tensor, sigma_y, sigma_x=None, order: int = 2,
               normalize: str = "sum") -> torch.Tensor:
    """2-D N-jet basis on a separable set of offsets.

    Args:
        dy: row offsets in pixels, [..., Ky]; dx: column offsets in pixels, [..., Kx] (same leading shape).
        sigma_y, sigma_x: scales in pixels along rows and columns (sigma_x defaults to sigma_y: isotropic);
            floats or tensors broadcastable against [..., 1].
        order: basis order N.

    Returns:
        [F, ..., Ky, Kx] with F = (N + 1)(N + 2) / 2 in the order of :func:`basis_indices`.
    """
    if sigma_x is None:
        sigma_x = sigma_y
    rows = gaussian_derivatives_1d(dy, sigma_y, order, normalize)  # [N + 1, ..., Ky]
    cols = gaussian_derivatives_1d(dx, sigma_x, order, normalize)  # [N + 1, ..., Kx]
    return torch.stack([rows[i].unsqueeze(-1) * cols[j].unsqueeze(-2) for i, j in basis_indices(order)])


# ============================================================================== the N-jet kernel
SIGMA_MODES = ("shared", "per_pair")
TIME_PARAMS = (None, "sigma_t", "sigma_t2", "sigma_alpha_t")


class NJet(nn.Module):
    """The N-jet kernel's parameters and their time meta-parametrisation (one definition for every layer).

    alpha [F, in, out] basis coefficients; log2_sigma [] ("shared") or [in, out] ("per_pair"); with a
    ``time_param`` (DCN paper Table 4): sigma = 2^(a t' + b) ("sigma_t"), 2^(a2 t'^2 + a t' + b) ("sigma_t2"),
    or 2^(a t' + b) with alpha = a_alpha t' + b_alpha ("sigma_alpha_t"), where t' = clip(time_scale t, *time_clip).
    sigma is clipped to sigma_range (pixels). Parameter names (state-dict keys): alpha, log2_sigma,
    log2_sigma_slope, log2_sigma_curvature, alpha_slope.
    """

    def __init__(self, in_channels: int, out_channels: int, order: int = 2, sigma_mode: str = "shared",
                 time_param: str | None = None, sigma_range: tuple[float, float] = (0.05, 8.0),
                 time_scale: float = 0.5, time_clip: tuple[float, float] = (-0.25, 1.25)):
        nn.Module.__init__(self)
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.order = check_int("order", order, minimum=0)
        self.sigma_mode = check_choice("sigma_mode", sigma_mode, SIGMA_MODES)
        self.time_param = check_choice("time_param", time_param, TIME_PARAMS)
        lo, hi = (float(v) for v in sigma_range)
        if not (0 < lo < hi and math.isfinite(hi)):
            raise ValueError(f"sigma_range must be (min, max) with 0 < min < max < inf, got {sigma_range!r}")
        self.sigma_range = (lo, hi)
        self.time_scale = float(time_scale)
        self.time_clip = (float(time_clip[0]), float(time_clip[1]))
        sigma_shape = () if sigma_mode == "shared" else (in_channels, out_channels)
        alpha_shape = (num_basis(order), in_channels, out_channels)
        timed = time_param is not None
        self.alpha = nn.Parameter(torch.randn(alpha_shape) * (0.05 if time_param == "sigma_alpha_t" else 0.1))
        self.log2_sigma = nn.Parameter(torch.randn(sigma_shape) * (0.1 if timed else 2.0 / 3.0))
        if timed:
            self.log2_sigma_slope = nn.Parameter(torch.randn(sigma_shape) * (2.0 / 3.0))
        if time_param == "sigma_t2":
            self.log2_sigma_curvature = nn.Parameter(torch.randn(sigma_shape) * (2.0 / 3.0))
        if time_param == "sigma_alpha_t":
            self.alpha_slope = nn.Parameter(torch.randn(alpha_shape) * 0.1)

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
        """sigma in pixels (time-independent kernels; use sigma_at(t) otherwise)."""
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

    def weights(self, dy: torch.Tensor, dx: torch.Tensor, t=None, normalize: str = "sum") -> torch.Tensor:
        """The kernel on separable offsets dy [..., Ky], dx [..., Kx] (pixels, leading shapes broadcastable):
        weights [..., Ky, Kx, out, in]. normalize as in :func:`gaussian_derivatives_1d` (per window)."""
        sigma, alpha = self.sigma_at(t), self.alpha_at(t)
        lead = torch.broadcast_shapes(dy.shape[:-1], dx.shape[:-1])
        dy, dx = dy.expand(*lead, dy.shape[-1]), dx.expand(*lead, dx.shape[-1])
        if self.sigma_mode == "shared":
            basis = njet_basis(dy, dx, sigma, order=self.order, normalize=normalize)  # [F, ..., Ky, Kx]
            return torch.einsum("f...,fco->...oc", basis, alpha)
        pair = (1,) * (len(lead) + 1)  # [..., Ky or Kx] -> [in, out, ..., K]
        basis = njet_basis(dy.expand(*sigma.shape, *dy.shape), dx.expand(*sigma.shape, *dx.shape),
                           sigma.view(*sigma.shape, *pair), order=self.order, normalize=normalize)
        return torch.einsum("fco...,fco->...oc", basis, alpha)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, order={self.order}, sigma_mode={self.sigma_mode!r}, "
                f"time_param={self.time_param!r}")


# ============================================================================== continuous kernels for CC layers
def as_pair(value, name: str) -> tuple[float, float]:
    """A support (pixels) per axis from a number or a pair, validated > 0."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be a number or a pair (y, x), got {value!r}")
    return tuple(check_scale(v, name) for v in pair)


class ContinuousKernel(nn.Module):
    """Interface of the kernels ContinuousConv2d samples: ``in_channels``, ``out_channels``, ``support``
    (S_y, S_x) pixels, and

    * ``forward(dy, dx)``: offsets of equal (broadcastable) shape [...] -> weights [..., C_out, C_in];
    * ``window(dy, dx)``: the taps of sampling points, dy [..., Ty] and dx [..., Tx] (leading shapes
      broadcastable) -> weights [..., Ty, Tx, C_out, C_in]. By default the pointwise function on all pairs.

    """

    def __init__(self, in_channels: int, out_channels: int, support=3):
        super().__init__()
        self._set_shape(in_channels, out_channels, support)

    def _set_shape(self, in_channels: int, out_channels: int, support=3) -> None:
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.support = as_pair(support, "support")

    @property
    def taps(self) -> tuple[int, int]:
        """Window length ceil(S) per axis."""
        return tuple(math.ceil(s) for s in self.support)

    def window(self, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
        return self(dy.unsqueeze(-1), dx.unsqueeze(-2))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, support={self.support}"


class NJetKernel(NJet, ContinuousKernel):
    """The N-jet kernel (:class:`NJet`, shared or per-pair sigma) as a continuous function of the offsets.

    normalize="sum" divides the Gaussian by its sum over the integer taps within the support (|k| <= S/2), so
    at integer offsets with an odd support 2h + 1 the kernel equals SRFConv2d's filter of half-width h;
    "analytic" divides by sqrt(2 pi) sigma. Either way a single function of the offsets.
    """

    def __init__(self, in_channels: int, out_channels: int, support=3, order: int = 2, normalize: str = "sum",
                 sigma_range: tuple[float, float] = (0.05, 8.0), sigma_mode: str = "shared"):
        NJet.__init__(self, in_channels, out_channels, order, sigma_mode, None, sigma_range)
        self._set_shape(in_channels, out_channels, support)
        self.normalize = check_choice("normalize", normalize, ("sum", "analytic"))

    def _scale(self, sigma):
        """1 / (Z_y Z_x): Z the Gaussian's sum over the integer taps within the support ("sum"), else 1."""
        if self.normalize == "analytic":
            return 1.0
        total = 1.0
        for s in self.support:
            taps = integer_offsets(int(math.floor(s / 2)), sigma.dtype, sigma.device)
            shape = sigma.shape
            z = gaussian_derivatives_1d(taps.expand(*shape, -1), sigma.unsqueeze(-1), 0, "analytic")[0].sum(-1)
            total = total / z
        return total if self.sigma_mode == "shared" else total.t()  # [out, in]

    def forward(self, dy, dx):
        dy, dx = torch.broadcast_tensors(dy, dx)
        return self.weights(dy[..., None], dx[..., None], normalize="analytic")[..., 0, 0, :, :] \
            * self._scale(self.sigma)

    def window(self, dy, dx):
        return self.weights(dy, dx, normalize="analytic") * self._scale(self.sigma)

    def extra_repr(self) -> str:
        return ContinuousKernel.extra_repr(self) + f", order={self.order}, normalize={self.normalize!r}"


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
        self.variant = check_choice("variant", variant, self.VARIANTS)
        hidden = tuple(hidden)
        if not hidden:
            raise ValueError(f"hidden must list at least one layer width, got {hidden!r}")
        for h in hidden:
            check_int("hidden", h, minimum=1)
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
