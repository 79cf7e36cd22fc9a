"""The sampling pipeline of continuous convolution: plan -> direct (chunked) or by-convs path.

Steps, one axis at a time then both together:

1. plan: the projected grid (grid.py, Eq. 2), each output's window of ceil(S) input pixels and the rational
   period k / l of the scale (``AxisPlan``, ``plan``);
2. path rule (``choose_path``): "convs" when both scales are rational with small k, l, otherwise "direct";
3. direct: gather each output's neighbours and weight them by the kernel at their offsets (chunked rows,
   recomputed in backward); by convs: the grid repeats every k outputs, so the kernel is evaluated for one
   period only and applied as one strided convolution whose output channels are the k_y k_x phases (or, when
   the phases' windows lie too far apart for one merged window, one matrix product per phase).

Both paths take a window function ``window(dy [..., Ty], dx [..., Tx]) -> [..., Ty, Tx, C_out, C_in]`` (a
ContinuousKernel's ``window``) and compute
out[b, o, i, j] = sum_{c, a, t} x[b, c, first_y[i] + a, first_x[j] + t] K(dy[i, a], dx[j, t])[o, c]
with dy = first_y + a - g_y (input pixels), values outside the input taken from the padding. Clients:
ContinuousConv2d (cc.py) and resize (resize.py).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from neurodcn.nn.grid import neighbour_window, projected_grid, rational_scale, resolve_sizes
from neurodcn.validate import check_choice

__all__ = ["PADDINGS", "PATHS", "AxisPlan", "plan_axis", "plan", "choose_path", "pad_axis", "direct", "by_convs",
           "apply_plan", "choose_chunk_rows", "MERGE_RATIO", "CHUNK_BYTES"]

PADDINGS = ("zeros", "reflect", "replicate", "symmetric")
PATHS = ("auto", "direct", "convs")
CHUNK_BYTES = 64 * 2**20
"""Automatic chunking of the direct path: rows per chunk so that one chunk's neighbours and weights stay
under this many bytes (about; autograd keeps a few times that while a chunk is recomputed)."""
MERGE_RATIO = 2.0
"""by_convs runs all phases as one convolution when the merged window costs at most this many times the
taps of one phase (the phases' windows start at different pixels); otherwise one convolution per start."""


@dataclasses.dataclass(frozen=True)
class AxisPlan:
    """One axis: sizes (pixels), scale, grid [out] (float64), first neighbour [out] (int64), taps, period k / l."""

    in_size: int
    out_size: int
    scale: float
    grid: torch.Tensor
    first: torch.Tensor
    taps: int
    period: Fraction | None

    def offsets(self, rows=slice(None)) -> torch.Tensor:
        """Offsets m - g of the window taps, float64 [n, taps] for the outputs ``rows``. On a periodic grid they are
        read from the first period, so every path sees bit-identical offsets (ties of a box kernel included)."""
        n = torch.arange(self.out_size)[rows]
        if self.period is not None:
            n = n % self.period.numerator
        return (self.first[n, None] + torch.arange(self.taps)).double() - self.grid[n, None]


def plan_axis(in_size: int, out_size: int, scale, support: float, max_numerator: int = 10,
              max_denominator: int = 10) -> AxisPlan:
    """Grid (Eq. 2), windows and rational period (None when s is not k / l with small k, l) of one axis."""
    period = rational_scale(scale, max_numerator, max_denominator)
    grid = projected_grid(in_size, out_size, scale if period is None else period)
    first, taps = neighbour_window(grid, support)
    return AxisPlan(in_size, out_size, float(scale), grid, first, taps, period)


def padded_index(index: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Map integer positions (any range) into [0, size) by the padding rule; "zeros" maps outside to ``size``."""
    if mode == "replicate":
        return index.clamp(0, size - 1)
    if mode == "zeros":
        return torch.where((index < 0) | (index >= size), torch.full_like(index, size), index)
    if mode == "reflect":  # ... 2 1 | 0 1 2 ... (edge not repeated)
        if size == 1:
            return torch.zeros_like(index)
        r = index.remainder(2 * (size - 1))
        return torch.where(r >= size, 2 * (size - 1) - r, r)
    if mode == "symmetric":  # ... 1 0 | 0 1 2 ... (edge repeated)
        r = index.remainder(2 * size)
        return torch.where(r >= size, 2 * size - 1 - r, r)
    raise ValueError(f"padding must be one of {list(PADDINGS)}, got {mode!r}")


def _outside(x: torch.Tensor, dim: int, start: int, stop: int, mode: str) -> torch.Tensor:
    """The padding values at positions start .. stop - 1 (outside the input) of axis ``dim``."""
    if mode == "zeros":
        shape = list(x.shape)
        shape[dim] = stop - start
        return x.new_zeros(shape)
    return x.index_select(dim, padded_index(torch.arange(start, stop, device=x.device), x.shape[dim], mode))


def pad_axis(x: torch.Tensor, dim: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Pad (positive) or crop (negative) ``before``/``after`` entries of axis ``dim`` by the padding rule."""
    size = x.shape[dim]
    core = x.narrow(dim, max(0, -before), size - max(0, -before) - max(0, -after))
    if before <= 0 and after <= 0:
        return core
    pieces = [_outside(x, dim, -before, 0, mode)] if before > 0 else []
    pieces.append(core)
    if after > 0:
        pieces.append(_outside(x, dim, size, size + after, mode))
    return torch.cat(pieces, dim)


def _chunk(xt, rows, cols, dy, dx, window):
    r, w = rows.shape[0], cols.shape[0]
    patches = xt[rows[:, None, :, None], cols[None, :, None, :]]  # [r, W', Ty, Tx, C, B]
    weights = window(dy[:, None, :], dx[None, :, :])  # [r, W', Ty, Tx, O, C]
    out_ch = weights.shape[-2]
    weights = weights.permute(0, 1, 4, 2, 3, 5).reshape(r * w, out_ch, -1)  # [P, O, (Ty, Tx, C)]
    out = torch.bmm(weights, patches.reshape(r * w, -1, xt.shape[-1]))  # [P, O, B]
    return out.view(r, w, out_ch, -1).permute(3, 2, 0, 1)


def direct(x: torch.Tensor, window, ay: AxisPlan, ax: AxisPlan, padding: str, chunk_rows: int) -> torch.Tensor:
    """Gather each output's neighbours, weight them by the kernel at their offsets and sum.

    The input is laid out once as [H, W, C, B] so that each neighbour is one contiguous block; output rows are
    processed ``chunk_rows`` at a time, and when that splits the work each chunk is recomputed in backward
    (torch.utils.checkpoint), so memory holds one chunk's neighbours and weights at a time.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {list(PADDINGS)}, got {padding!r}")
    xt = x.permute(2, 3, 1, 0)
    if padding == "zeros":  # padded positions point at an appended zero row / column
        xt = F.pad(xt, (0, 0, 0, 0, 0, 1, 0, 1))
    xt = xt.contiguous()
    dev, dt = x.device, x.dtype
    rows = padded_index(ay.first[:, None] + torch.arange(ay.taps), ay.in_size, padding).to(dev)
    cols = padded_index(ax.first[:, None] + torch.arange(ax.taps), ax.in_size, padding).to(dev)
    dy, dx = ay.offsets().to(dev, dt), ax.offsets().to(dev, dt)
    if chunk_rows >= ay.out_size:
        return _chunk(xt, rows, cols, dy, dx, window)
    parts = [checkpoint(_chunk, xt, rows[i:i + chunk_rows], cols, dy[i:i + chunk_rows], dx, window,
                        use_reentrant=False) for i in range(0, ay.out_size, chunk_rows)]
    return torch.cat(parts, dim=2)


def _phase_layout(a: AxisPlan):
    """The k phases of one axis as a block of k consecutive outputs n_start + j, j = 0 .. p - 1 (p = k, or the
    output size when it is smaller). n_start in (-k, 0] is chosen so that the phases' windows start as close
    together as possible (the smallest merged window). Returns (n_start, first [p] (int64, the window start of
    block 0's phases), offsets [p, taps] (float64), blocks q)."""
    k, step = a.period.numerator, a.period.denominator
    if a.out_size < k:
        return 0, a.first[:a.out_size], a.offsets(slice(0, a.out_size)), 1
    firsts = torch.cat([a.first[:k] - step, a.first[:k]])  # window starts of outputs -k .. k - 1
    spread = [int(firsts[k - s + k - 1] - firsts[k - s]) for s in range(k)]  # n_start = -s
    shift = min(range(k), key=lambda s: (spread[s], s))
    n = torch.arange(-shift, k - shift)
    return -shift, firsts[n + k], a.offsets(n % k), -(-(a.out_size + shift) // k)


def by_convs(x: torch.Tensor, window, ay: AxisPlan, ax: AxisPlan, padding: str,
             merge_ratio: float = MERGE_RATIO, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Rational scales s = k / l: the grid repeats every k outputs, l input pixels on, so phase i of each axis is
    a discrete convolution with stride l. The kernel is evaluated once for one period (k_y k_x phase filters),
    the phase filters are placed in one merged window and run as a single strided convolution with k_y k_x C_out
    output channels (bias [C_out] added inside it), and the phases are interleaved out[..., i::k_y, j::k_x] by one
    copy of whole channel vectors (channels-last throughout; no scatter). When the merged window would cost more
    than ``merge_ratio`` times the taps of one phase, one matrix product runs per phase (``_PhaseMatmul``). The k
    phases of an axis are taken from the output offset that keeps their windows' starts closest together, which
    is what keeps the merged window small at every input size. Returns [B, C_out, H', W'] (channels-last)."""
    (ny, fy, dy, qy), (nx, fx, dx, qx) = _phase_layout(ay), _phase_layout(ax)
    ly, lx = ay.period.denominator, ax.period.denominator
    dev, dt = x.device, x.dtype
    weights = window(dy.to(dev, dt)[:, None, :], dx.to(dev, dt)[None, :, :])  # [py, px, Ty, Tx, O, C]
    py, px, _, _, out_ch, in_ch = weights.shape
    rel_y, rel_x = fy - fy[0], fx - fx[0]
    span_y, span_x = ay.taps + int(rel_y.max()), ax.taps + int(rel_x.max())
    merge = span_y * span_x <= merge_ratio * ay.taps * ax.taps
    xp, conv_pad, (sk_y, sk_x) = _padded_span(x, ay, ax, fy, fx, (span_y, span_x), (qy, qx), padding, merge)
    top, left = sk_y * py - ny, sk_x * px - nx  # skipped blocks (whole-stride padding) and the phase offset
    crop = (top, left, ay.out_size, ax.out_size)
    if merge:
        sy = _shift_matrix(rel_y, ay.taps, span_y, dt, dev)
        sx = _shift_matrix(rel_x, ax.taps, span_x, dt, dev)
        merged = torch.einsum("iAa,jBb,ijaboc->ijocAB", sy, sx, weights).reshape(-1, in_ch, span_y, span_x)
        res = _StridedConv.apply(xp, merged, None if bias is None else bias.repeat(py * px), (ly, lx), conv_pad)
        return _Interleave.apply(res, (py, px), crop)
    w = weights.permute(0, 1, 2, 3, 5, 4).reshape(py, px, -1, out_ch)
    res = _PhaseMatmul.apply(xp.permute(0, 2, 3, 1).contiguous(), w, rel_y.tolist(), rel_x.tolist(),
                             (ay.taps, ax.taps), (qy, qx), (ly, lx))
    out = res.view(py, px, x.shape[0], qy, qx, out_ch).permute(2, 3, 0, 4, 1, 5)
    if bias is not None:
        out = out + bias
    out = out.reshape(x.shape[0], qy * py, qx * px, out_ch).permute(0, 3, 1, 2)
    return out[:, :, top:top + ay.out_size, left:left + ax.out_size]


class _StridedConv(torch.autograd.Function):
    """F.conv2d(x, weight, bias, stride, padding (py, px)) whose input gradient runs as conv_transpose2d: for the
    merged phase convolution (stride l >= 2, channels-last) oneDNN's transposed convolution computes it about
    twice as fast as the convolution's own backward-data pass. The weight gradient is the convolution's own."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.layout = stride, padding, bias is not None
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, has_bias = ctx.layout
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:  # the rows and columns the forward's floor left out come back as zeros
            extra = [n + 2 * p - (q - 1) * s - k for n, p, q, s, k in
                     zip(x.shape[-2:], padding, grad.shape[-2:], stride, weight.shape[-2:], strict=True)]
            gx = F.conv_transpose2d(grad, weight, None, stride, padding, output_padding=extra)
        if ctx.needs_input_grad[1]:
            gw = torch.ops.aten.convolution_backward(grad, x, weight, None, stride, padding, (1, 1), False, (0, 0), 1,
                                                     (False, True, False))[1]
        if has_bias and ctx.needs_input_grad[2]:
            gb = grad.sum((0, 2, 3))
        return gx, gw, gb, None, None


class _Interleave(torch.autograd.Function):
    """The merged convolution's phase-major output res [B, py px O, Qy, Qx] (channels-last) -> out [B, O, h, w]
    (channels-last): out[b, o, n, m] = res[b, (i, j, o), a, c] with a py + i = n + top, c px + j = m + left.
    One copy forward; backward fills and copies twice and hands the convolution its gradient channels-last, the
    layout of its output (a gradient in another layout makes oneDNN's backward several times slower)."""

    @staticmethod
    def forward(ctx, res, phases, crop):
        (py, px), (top, left, h, w) = phases, crop
        b, c, qy, qx = res.shape
        ctx.layout = res.shape, phases, crop
        full = res.new_empty((b, qy, py, qx, px, c // (py * px)))
        full.copy_(res.unflatten(1, (py, px, -1)).permute(0, 4, 1, 5, 2, 3))
        return full.view(b, qy * py, qx * px, -1)[:, top:top + h, left:left + w].permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad):
        (b, c, qy, qx), (py, px), (top, left, h, w) = ctx.layout
        full = grad.new_zeros((b, qy * py, qx * px, c // (py * px)))
        full[:, top:top + h, left:left + w].copy_(grad.permute(0, 2, 3, 1))
        g = torch.empty((b, c, qy, qx), dtype=grad.dtype, device=grad.device, memory_format=torch.channels_last)
        g.permute(0, 2, 3, 1).view(b, qy, qx, py, px, -1).copy_(
            full.view(b, qy, py, qx, px, -1).permute(0, 1, 3, 2, 4, 5))
        return g, None, None


def _padded_span(x, ay, ax, fy, fx, spans, blocks, padding, conv_padding):
    """The input, channels-last (where oneDNN's strided convolutions run markedly faster), padded (or cropped)
    to exactly the pixels from the first block's window to the last block's; the zero padding (py, px) left to
    the convolution; and the blocks (sy, sx) its output has before block 0. With ``conv_padding`` and zero
    padding on both sides, x is only laid out channels-last: the convolution pads p = before + s l on both sides,
    with the fewest whole strides s l that reach the padding needed after, and the s extra blocks it computes
    first are cropped with the output (a few percent of the work, where a padded copy costs passes over x).
    Otherwise x is written once into a channels-last zero tensor (or padded by pad_axis)."""
    (span_y, span_x), (qy, qx) = spans, blocks
    ly, lx = ay.period.denominator, ax.period.denominator
    before_y, before_x = -int(fy[0]), -int(fx[0])
    after_y = (qy - 1) * ly + span_y - ay.in_size - before_y
    after_x = (qx - 1) * lx + span_x - ax.in_size - before_x
    if padding != "zeros":
        x = x.contiguous(memory_format=torch.channels_last)
        return pad_axis(pad_axis(x, 2, before_y, after_y, padding), 3, before_x, after_x, padding), (0, 0), (0, 0)
    if conv_padding and min(before_y, after_y, before_x, after_x) >= 0:
        skip_y, skip_x = -(-max(0, after_y - before_y) // ly), -(-max(0, after_x - before_x) // lx)
        pads = (before_y + skip_y * ly, before_x + skip_x * lx)
        return x.contiguous(memory_format=torch.channels_last), pads, (skip_y, skip_x)
    core = x[:, :, max(0, -before_y):ay.in_size - max(0, -after_y), max(0, -before_x):ax.in_size - max(0, -after_x)]
    top, left = max(0, before_y), max(0, before_x)
    xp = torch.empty((x.shape[0], x.shape[1], top + core.shape[2] + max(0, after_y),
                      left + core.shape[3] + max(0, after_x)), dtype=x.dtype, device=x.device,
                     memory_format=torch.channels_last).zero_()
    xp[:, :, top:top + core.shape[2], left:left + core.shape[3]] = core
    return xp, (0, 0), (0, 0)


def _shift_matrix(rel: torch.Tensor, taps: int, width: int, dtype, device) -> torch.Tensor:
    """One-hot [p, width, taps]: entry (i, rel_i + t, t) = 1, placing phase i's taps inside a wider window."""
    eye = torch.zeros(len(rel), width, taps, dtype=dtype)
    for i, r in enumerate(rel.tolist()):
        eye[i, r:r + taps] = torch.eye(taps, dtype=dtype)
    return eye.to(device)


def _phase_view(xp, ry, rx, taps, blocks, strides):
    """The window taps of one phase at every block, a view [B, qy, qx, Ty, Tx, C] of the padded input
    xp [B, H, W, C] (contiguous); (ry, rx): the phase's window start in block 0 (pixels)."""
    (ty, tx), (qy, qx), (ly, lx) = taps, blocks, strides
    b, h, w, c = xp.shape
    return xp.as_strided((b, qy, qx, ty, tx, c), (h * w * c, ly * w * c, lx * c, w * c, c, 1),
                         xp.storage_offset() + (ry * w + rx) * c)


class _PhaseMatmul(torch.autograd.Function):
    """One matrix product per phase: patches [B qy qx, Ty Tx C] @ weights [Ty Tx C, O] -> res [py, px, B qy qx, O].

    xp [B, H, W, C] (contiguous); weights [py, px, Ty Tx C, O]; rel_y [py], rel_x [px]: window starts in block 0.
    Each phase's patches are copied into one buffer just before its product, and again in backward (never
    kept): the temporaries stay at one phase's patches, where a tensor of all of them would cost fresh pages and
    memory traffic several times the input. The input gradient is added back through the same views."""

    @staticmethod
    def forward(ctx, xp, weights, rel_y, rel_x, taps, blocks, strides):
        ctx.save_for_backward(xp, weights)
        ctx.layout = rel_y, rel_x, taps, blocks, strides
        py, px, k, o = weights.shape
        rows = xp.shape[0] * blocks[0] * blocks[1]
        res, patches = xp.new_empty((py, px, rows, o)), xp.new_empty((rows, k))
        for i, ry in enumerate(rel_y):
            for j, rx in enumerate(rel_x):
                patches.view(xp.shape[0], *blocks, *taps, -1).copy_(_phase_view(xp, ry, rx, taps, blocks, strides))
                torch.mm(patches, weights[i, j], out=res[i, j])
        return res

    @staticmethod
    def backward(ctx, grad):
        xp, weights = ctx.saved_tensors
        rel_y, rel_x, taps, blocks, strides = ctx.layout
        need_x, need_w = ctx.needs_input_grad[:2]
        gx = torch.zeros_like(xp) if need_x else None
        gw = torch.empty_like(weights) if need_w else None
        patches = xp.new_empty(grad.shape[2], weights.shape[2]).view(xp.shape[0], *blocks, *taps, -1)
        apart = taps[0] <= strides[0] and taps[1] <= strides[1]  # the windows of one phase do not overlap
        for i, ry in enumerate(rel_y):
            for j, rx in enumerate(rel_x):
                g = grad[i, j]
                if need_w:
                    patches.copy_(_phase_view(xp, ry, rx, taps, blocks, strides))
                    torch.mm(patches.view(g.shape[0], -1).t(), g, out=gw[i, j])
                if need_x:
                    torch.mm(g, weights[i, j].t(), out=patches.view(g.shape[0], -1))
                    target = _phase_view(gx, ry, rx, taps, blocks, strides)
                    if apart:
                        target += patches
                    else:
                        for a in range(taps[0]):
                            for t in range(taps[1]):
                                target[:, :, :, a, t] += patches[:, :, :, a, t]
        return gx, gw, None, None, None, None, None


# ============================================================================== the plan and the path rule
def plan(in_hw, support, scale=None, out_size=None, max_period: int = 10) -> tuple[AxisPlan, AxisPlan]:
    """The grid, windows and rational period of both axes for an input of size in_hw = (H, W) pixels and a
    kernel support (S_y, S_x) pixels; scale and out_size as in grid.resolve_sizes."""
    scales, sizes = resolve_sizes(tuple(in_hw), scale, out_size)
    return tuple(plan_axis(i, o, s, S, max_period, max_period)
                 for i, o, s, S in zip(in_hw, sizes, scales, support, strict=True))


def choose_path(path: str, ay: AxisPlan, ax: AxisPlan) -> str:
    """The path rule: "convs" needs rational scales on both axes; "auto" takes it when it can, else "direct"."""
    check_choice("path", path, PATHS)
    rational = ay.period is not None and ax.period is not None
    if path == "convs" and not rational:
        raise ValueError(f"path='convs' needs rational scales k/l with small k, l; got {ay.scale}, {ax.scale}")
    if path == "auto":
        return "convs" if rational else "direct"
    return path


def choose_chunk_rows(x, ay: AxisPlan, ax: AxisPlan, out_channels: int, budget: int = CHUNK_BYTES) -> int:
    """Output rows per chunk so that neighbours [B, C, r, Ty, W', Tx] and weights [r, W', Ty, Tx, O, C] fit."""
    per_row = ax.out_size * ay.taps * ax.taps * x.shape[1] * (x.shape[0] + out_channels) * x.element_size()
    return max(1, budget // max(per_row, 1))


def apply_plan(x, window, ay: AxisPlan, ax: AxisPlan, padding: str = "zeros", path: str = "auto",
               chunk_rows: int | None = None, out_channels: int | None = None,
               merge_ratio: float = MERGE_RATIO, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Run a window function over a planned grid on the path ``choose_path`` gives, plus bias [C_out] if given.
    chunk_rows: output rows per direct chunk (None: from CHUNK_BYTES; >= out height: one chunk); merge_ratio:
    see MERGE_RATIO."""
    check_choice("padding", padding, PADDINGS)
    if choose_path(path, ay, ax) == "convs":
        return by_convs(x, window, ay, ax, padding, merge_ratio, bias)
    if chunk_rows is None:
        chunk_rows = choose_chunk_rows(x, ay, ax, out_channels or x.shape[1])
    out = direct(x, window, ay, ax, padding, chunk_rows)
    return out if bias is None else out + bias.view(1, -1, 1, 1)
