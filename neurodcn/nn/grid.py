"""The projected grid of the CC paper (Eq. 2), the output-size rule, neighbour windows and rational periods.

All coordinates are in input pixels, pixel centres at 0, 1, ..., in_size - 1. One axis at a time: a 2-D layer
calls these per axis with that axis' own scale and output size (the two are independent inputs).

* output size:  out_size = ceil(s * in_size)
* grid (Eq. 2): g_n = n / s + (in_size - 1) / 2 - (out_size - 1) / (2 s),  n = 0 .. out_size - 1
* window:       the ceil(S) input pixels first_n, first_n + 1, ... with first_n = ceil(g_n - S / 2)
* period:       for s = k / l the grid repeats after k outputs, shifted by l input pixels
* sequence (Eq. 4): layer j of a sequence of scales s_1 .. s_m outputs ceil(in_size * s_1 * ... * s_j)
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from neurodcn.validate import check_int, check_real

__all__ = ["DEFAULT_TOLERANCE", "MAX_OUTPUT_SIZE", "check_scale", "output_size", "projected_grid", "neighbour_window",
           "rational_scale", "phase_counts", "resolve_sizes", "sequence_sizes"]

DEFAULT_TOLERANCE = 1e-9
"""Relative slack for float scales: s * in_size within this of an integer counts as that integer, and a float
within this of a small fraction counts as that fraction (2/3 typed as 0.6666666666666666)."""


def check_scale(scale, name: str = "scale") -> float:
    """A scale factor (any real, Fractions included) as a float, validated to be finite and > 0."""
    return check_real(name, scale, lo=0, lo_open=True)


def _check_size(value, name: str) -> int:
    return check_int(name, value, minimum=1)


MAX_OUTPUT_SIZE = 16384
"""The largest output (pixels per axis) of a resampling; larger scales or out_size are refused up front."""


def _check_output(product, scale, in_size: int) -> None:
    if not product <= MAX_OUTPUT_SIZE:
        raise ValueError(f"scale must give an output of at most {MAX_OUTPUT_SIZE} px per axis; scale {scale!r} on "
                         f"{in_size} px gives {float(product):.6g} px")


def output_size(in_size: int, scale) -> int:
    """Default output size ceil(s * in_size) (pixels); a product within DEFAULT_TOLERANCE of an integer is it.
    At most MAX_OUTPUT_SIZE, else ValueError naming the scale and the resulting size."""
    in_size = _check_size(in_size, "in_size")
    if isinstance(scale, Fraction):
        _check_output(scale * in_size, scale, in_size)
        return max(1, math.ceil(scale * in_size))
    product = check_scale(scale) * in_size
    _check_output(product, scale, in_size)
    nearest = round(product)
    if abs(product - nearest) <= DEFAULT_TOLERANCE * max(1.0, product):
        return max(1, nearest)
    return max(1, math.ceil(product))


def projected_grid(in_size: int, out_size: int, scale, dtype=torch.float64, device=None) -> torch.Tensor:
    """Eq. 2: the input coordinate g_n (pixels) of each output pixel n, a tensor [out_size].

    Computed in float64 (exactly, then rounded once, when the scale is a Fraction) and cast to ``dtype``.
    """
    in_size, out_size = _check_size(in_size, "in_size"), _check_size(out_size, "out_size")
    s = check_scale(scale)
    if isinstance(scale, Fraction):
        grid = [float(n / scale + Fraction(in_size - 1, 2) - (out_size - 1) / (2 * scale)) for n in range(out_size)]
        return torch.tensor(grid, dtype=torch.float64, device=device).to(dtype)
    n = torch.arange(out_size, dtype=torch.float64, device=device)
    grid = n / s + (in_size - 1) / 2 - (out_size - 1) / (2 * s)
    return grid.to(dtype)


def neighbour_window(grid: torch.Tensor, support: float) -> tuple[torch.Tensor, int]:
    """The input pixels within a kernel support S (pixels) of each grid point.

    Returns (first, taps): first = ceil(g - S / 2) as int64 [out_size] and taps = ceil(S); the neighbours of g_n
    are first_n + t for t = 0 .. taps - 1 (they may lie outside the input: padding decides their values).
    """
    support = check_scale(support, "support")
    if not torch.is_tensor(grid) or not grid.is_floating_point():
        raise ValueError(f"grid must be a floating-point tensor, got {grid!r}")
    return torch.ceil(grid.double() - support / 2).long(), math.ceil(support)


def rational_scale(scale, max_numerator: int = 10, max_denominator: int = 10,
                   tolerance: float = DEFAULT_TOLERANCE) -> Fraction | None:
    """The scale as a fraction k / l with k <= max_numerator and l <= max_denominator, or None.

    A float counts as k / l when |s - k / l| <= tolerance * s (Fraction.limit_denominator finds the candidate).
    """
    if isinstance(scale, Fraction):
        frac = scale
    else:
        s = check_scale(scale)
        frac = Fraction(s).limit_denominator(max_denominator)
        if abs(float(frac) - s) > tolerance * s:
            return None
    if frac.numerator > max_numerator or frac.denominator > max_denominator or frac <= 0:
        return None
    return frac


def phase_counts(out_size: int, period: int) -> list[int]:
    """Number of outputs n = i, i + k, i + 2k, ... below out_size for each phase i = 0 .. k - 1."""
    out_size, period = _check_size(out_size, "out_size"), _check_size(period, "period")
    return [max(0, -(-(out_size - i) // period)) for i in range(period)]


def _pair(value, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a pair (y, x), got {value!r}")
        return tuple(value)
    return value, value


def resolve_sizes(in_hw: tuple[int, int], scale=None, out_size=None) -> tuple[tuple, tuple[int, int]]:
    """Per-axis (scale, out_size) from what the caller gave.

    scale: None, s or (s_y, s_x); out_size: None, n or (n_y, n_x). With only a scale, out_size = ceil(s * in);
    with only an out_size, s = out / in; with neither, s = 1 and out = in; with both, both are kept as given.
    Returns ((s_y, s_x), (out_y, out_x)); a scale keeps its type (float or Fraction).
    """
    if scale is None and out_size is None:
        return (1.0, 1.0), tuple(in_hw)
    sizes = _pair(out_size, "out_size") if out_size is not None else (None, None)
    sizes = tuple(None if v is None else _check_size(v, "out_size") for v in sizes)
    if any(v is not None and v > MAX_OUTPUT_SIZE for v in sizes):
        raise ValueError(f"out_size must be at most {MAX_OUTPUT_SIZE} px per axis (the output size), got {out_size!r}")
    if scale is None:
        scales = tuple(Fraction(o, i) for o, i in zip(sizes, in_hw, strict=True))
    else:
        scales = _pair(scale, "scale")
        for s in scales:
            check_scale(s)
        scales = tuple(s if isinstance(s, Fraction) else float(s) for s in scales)
    sizes = tuple(output_size(i, s) if o is None else o for i, o, s in zip(in_hw, sizes, scales, strict=True))
    return scales, sizes


def sequence_sizes(in_hw, scales) -> list[tuple[int, int]]:
    """Eq. 4 of the CC paper: the output size (H_j, W_j) of each layer j of a sequence with scales s_1 .. s_m,
    H_j = ceil(H s_1 ... s_j) per axis (not the rounded sizes of the layer before), so the last size is exactly
    H times the product when that is an integer.

    in_hw: H or (H, W) pixels; scales: one s or (s_y, s_x) per layer (Fractions keep the products exact; a float
    product within DEFAULT_TOLERANCE of an integer counts as it).
    """
    hw = tuple(_check_size(v, "in_hw") for v in _pair(in_hw, "in_hw"))
    if not isinstance(scales, (list, tuple)):
        raise ValueError(f"scales must be a list of scale factors or (s_y, s_x) pairs, got {scales!r}")
    sizes, cumulative = [], [Fraction(1), Fraction(1)]
    for pair in scales:
        pair = _pair(pair, "scales")
        for s in pair:
            check_scale(s, "scales")
        cumulative = [c * s if isinstance(s, Fraction) and isinstance(c, Fraction) else float(c) * float(s)
                      for c, s in zip(cumulative, pair, strict=True)]
        sizes.append(tuple(output_size(n, c) for n, c in zip(hw, cumulative, strict=True)))
    return sizes
