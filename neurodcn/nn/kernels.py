"""Continuous kernels: the Gaussian N-jet basis evaluated on any offsets.

A continuous kernel is a function from sub-pixel offsets (dy, dx), in pixels, to filter weights. The N-jet
basis here follows the DCN reference conventions:

* the 1-D Gaussian g(x) = exp(-x^2 / (2 sigma^2)) is renormalised to sum 1 over the taps it is sampled on
  (``normalize="sum"``), or divided by sqrt(2 pi) sigma (``normalize="analytic"``);
* the derivative of order n is scale-normalised by sigma^n:
  basis_n(x) = (-1/sqrt 2)^n H_n(x / (sqrt 2 sigma)) g(x), with physicists' Hermite polynomials H_n;
* the 2-D basis is the outer product basis_i(rows) x basis_j(cols) for i + j <= N, ordered by i ascending
  and, within i, j descending: (0,2), (0,1), (0,0), (1,1), (1,0), (2,0) for N = 2.

Everything is built from tensors already on the device (no host read), and is differentiable in sigma.
"""

from __future__ import annotations

import math
from functools import cache

import torch

__all__ = [
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


def _check_order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ValueError(f"order must be an integer >= 0, got {order!r}")
    return order


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
    return torch.tensor(_hermite_table(_check_order(order)), dtype=dtype, device=device)


def basis_indices(order: int) -> list[tuple[int, int]]:
    """(i, j) derivative orders of the 2-D basis in reference order: i along rows (H), j along columns (W)."""
    order = _check_order(order)
    return [(i, j) for i in range(order + 1) for j in range(order - i, -1, -1)]


def num_basis(order: int) -> int:
    """Number of 2-D N-jet functions of order N: (N + 1)(N + 2) / 2."""
    order = _check_order(order)
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
    if isinstance(h, bool) or not isinstance(h, int) or h < 0:
        raise ValueError(f"half-width h must be an integer >= 0, got {h!r}")
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
    order = _check_order(order)
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
