"""ContinuousConv2d against F.conv2d, SRFConv2d, a hand-written Eq. 1 loop, and its own paths."""

import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from neurodcn.nn.cc import ContinuousConv2d
from neurodcn.nn.sampling import apply_plan
from neurodcn.nn.srf import SRFConv2d

SCALES = [2 / 3, 3 / 4, 1 / 2, 3 / 2, (2 / 3, 5 / 4), (5 / 6, 4 / 5)]
KERNELS = [("internal_net", {}), ("internal_net", {"variant": "grid"}), ("njet", {})]


def layer(kernel="internal_net", options=None, seed=0, **kw):
    torch.manual_seed(seed)
    return ContinuousConv2d(3, 4, kernel=kernel, kernel_options=options, **kw).double()


def eq1_loop(x, m, scale):
    """Eq. 1 written out in exact arithmetic: out[n] = sum_m x[m] K(m - g_n), zeros outside (a reference)."""
    (h, w), (sy, sx) = x.shape[-2:], scale
    oy, ox = math.ceil(sy * h), math.ceil(sx * w)
    gy = [n / sy + Fraction(h - 1, 2) - (oy - 1) / (2 * sy) for n in range(oy)]
    gx = [n / sx + Fraction(w - 1, 2) - (ox - 1) / (2 * sx) for n in range(ox)]
    (sup_y, sup_x) = (Fraction(v) for v in m.support)
    out = torch.zeros(x.shape[0], m.out_channels, oy, ox, dtype=x.dtype)
    for i in range(oy):
        for j in range(ox):
            for yy in range(math.ceil(gy[i] - sup_y / 2), math.ceil(gy[i] - sup_y / 2) + math.ceil(sup_y)):
                for xx in range(math.ceil(gx[j] - sup_x / 2), math.ceil(gx[j] - sup_x / 2) + math.ceil(sup_x)):
                    if 0 <= yy < h and 0 <= xx < w:
                        wgt = m.kernel(torch.tensor(float(yy - gy[i]), dtype=x.dtype),
                                       torch.tensor(float(xx - gx[j]), dtype=x.dtype))
                        out[:, :, i, j] += x[:, :, yy, xx] @ wgt.T
    return out + m.bias.view(1, -1, 1, 1)


@pytest.mark.parametrize("kernel,options", KERNELS)
def test_scale_one_odd_support_equals_conv2d(kernel, options):
    m = layer(kernel, options, support=5)
    x = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    taps = torch.arange(-2.0, 3.0, dtype=torch.float64)
    ref = F.conv2d(x, m.sample(taps, taps), m.bias, padding=2)
    for path in ("direct", "convs"):
        m.path = path
        torch.testing.assert_close(m(x), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kernel,options", KERNELS)
def test_direct_path_matches_eq1_loop(kernel, options):
    m = layer(kernel, options, path="direct")
    x = torch.randn(1, 3, 5, 6, dtype=torch.float64)
    for scale in ((Fraction(7, 10), Fraction(7, 10)), (Fraction(13, 10), Fraction(11, 20))):
        torch.testing.assert_close(m(x, scale=scale), eq1_loop(x, m, scale), rtol=0, atol=1e-12)


def test_njet_kernel_at_scale_one_equals_srfconv2d():
    srf = SRFConv2d(3, 4, order=2).double()
    h = srf.half_width_at()
    m = ContinuousConv2d(3, 4, kernel="njet", support=2 * h + 1, bias=False).double()
    with torch.no_grad():
        m.kernel.alpha.copy_(srf.alpha)
        m.kernel.log2_sigma.copy_(srf.log2_sigma)
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    torch.testing.assert_close(m(x), srf(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("padding", ["zeros", "reflect", "replicate", "symmetric"])
def test_by_convs_equals_direct(scale, padding):
    m = layer(padding=padding)
    x = torch.randn(2, 3, 13, 11, dtype=torch.float64)
    assert m.resolve_path(x.shape[-2:], scale) == "convs"
    ay, ax = m.plan(x.shape[-2:], scale)
    ref = apply_plan(x, m.kernel.window, ay, ax, padding, "direct")
    for merge in (0.0, 100.0):  # one convolution per window start, and all phases merged into one
        out = apply_plan(x, m.kernel.window, ay, ax, padding, "convs", merge_ratio=merge)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("scale", [2 / 3, 0.71])
def test_float32_agrees_with_float64(scale):
    m64 = layer(support=4)
    m32 = layer(support=4).float()
    x = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    a, b = m64(x, scale=scale), m32(x.float(), scale=scale)
    assert a.dtype == torch.float64 and b.dtype == torch.float32 and a.shape == b.shape
    assert a.shape[-2:] == (7, 7) if scale == 2 / 3 else (8, 8)
    torch.testing.assert_close(b.double(), a, rtol=0, atol=1e-5)


def test_chunked_direct_equals_unchunked_values_and_gradients():
    m = layer(path="direct")
    x = torch.randn(2, 3, 11, 9, dtype=torch.float64, requires_grad=True)
    outs, grads = [], []
    for chunk in (10**6, 2):
        m.chunk_size = chunk
        out = m(x, scale=0.77)
        outs.append(out)
        grads.append(torch.autograd.grad((out ** 2).sum(), [x, *m.parameters()]))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-12)
    for g0, g1 in zip(*grads, strict=True):
        torch.testing.assert_close(g0, g1, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kernel,options", KERNELS)
@pytest.mark.parametrize("path,scale,chunk", [("direct", 0.8, None), ("direct", 0.8, 2), ("convs", 2 / 3, None)])
def test_gradients_reach_input_and_kernel(kernel, options, path, scale, chunk):
    m = layer(kernel, options, path=path, chunk_size=chunk)
    x = torch.randn(1, 3, 7, 8, dtype=torch.float64, requires_grad=True)
    params = [p for p in m.kernel.parameters()]
    assert torch.autograd.gradcheck(lambda inp, *ps: m(inp, scale=scale), (x, *params), eps=1e-6, atol=1e-6,
                                    fast_mode=True)


@pytest.mark.parametrize("scale", [2 / 3, 3 / 2, (5 / 6, 4 / 5)])
def test_phase_matmul_gradients(scale):
    """by convs with one matrix product per phase (merge_ratio 0), windows apart (2/3) and overlapping (3/2)."""
    m = layer(support=3)
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64, requires_grad=True)
    ay, ax = m.plan(x.shape[-2:], scale)
    params = list(m.kernel.parameters())
    assert torch.autograd.gradcheck(lambda inp, *ps: apply_plan(inp, m.kernel.window, ay, ax, "zeros", "convs",
                                                                merge_ratio=0.0), (x, *params), eps=1e-6, atol=1e-6)


def test_out_size_independent_of_scale():
    m = layer()
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    assert m(x, scale=(1, 0.5), out_size=(10, 3)).shape == (1, 4, 10, 3)
    assert m(x, out_size=6).shape == (1, 4, 6, 6)
    assert m(x, scale=(0.5, 1.5)).shape == (1, 4, 4, 12)


def test_validation():
    m = layer()
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="4-D"):
        m(x[0])
    with pytest.raises(ValueError, match="channels"):
        m(torch.randn(1, 2, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="scale"):
        m(x, scale=-1)
    with pytest.raises(ValueError, match="out_size"):
        m(x, out_size=(0, 3))
    with pytest.raises(TypeError, match="dtype"):
        m(x.float())
    with pytest.raises(ValueError, match="convs"):
        ContinuousConv2d(3, 4, path="convs").double()(x, scale=0.25 ** (1 / 7))
    for kwargs in ({"kernel": "gauss"}, {"padding": "circular"}, {"path": "fast"}, {"support": 0},
                   {"chunk_size": 0}, {"kernel_options": {"variant": "x"}}):
        with pytest.raises(ValueError):
            ContinuousConv2d(3, 4, **kwargs)


def test_internal_net_init_variance_matches_conv_init():
    torch.manual_seed(0)
    m = ContinuousConv2d(64, 64, support=3)
    taps = torch.arange(-1.0, 2.0)
    w = m.sample(taps, taps)
    conv_var = 1.0 / (3 * 64 * 9)  # PyTorch's default conv init: U(+-1/sqrt(fan_in))
    assert 0.5 * conv_var < w.var().item() < 3 * conv_var


@pytest.mark.parametrize("size", [32, 64, 96, 128])
@pytest.mark.parametrize("scale", [2 / 3, 0.8, 5 / 6, 6 / 7, 0.75])
def test_by_convs_equals_direct_with_gradients_at_benchmark_sizes(size, scale):
    """Every phase origin the by-convs path picks (the Appendix B sizes, the CC-Net's scales) gives the direct
    path's values and gradients to float64 precision."""
    torch.manual_seed(size)
    m = layer().double()
    x = torch.randn(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    results = []
    for path in ("direct", "convs"):
        m.path = path
        out = m(x, scale=scale)
        results.append((out, torch.autograd.grad((out ** 2).sum(), [x, *m.parameters()])))
    (ref, ref_grads), (out, grads) = results
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-9)


def _merged_padding(m, x):
    from neurodcn.nn.sampling import _padded_span, _phase_layout

    ay, ax = m.plan(x.shape[-2:], 2 / 3)
    (_, fy, _, qy), (_, fx, _, qx) = _phase_layout(ay), _phase_layout(ax)
    return _padded_span(x, ay, ax, fy, fx, (4, 4), (qy, qx), "zeros", True)[1:]


MERGED_SIZES = [7, 8, 10, 11, 13, 16]


@pytest.mark.parametrize("size", MERGED_SIZES)
def test_merged_convs_values_and_gradients_equal_direct(size):
    """The merged phase convolution (conv_transpose2d input gradient, whole-stride padding, interleave) against the
    direct path's values and gradients in float64."""
    m = layer(support=3)
    x = torch.randn(2, 3, size, size + 1, dtype=torch.float64, requires_grad=True)
    results = []
    for path in ("direct", "convs"):
        m.path = path
        out = m(x, scale=2 / 3)
        results.append((out, torch.autograd.grad((out ** 2).sum(), [x, *m.parameters()])))
    (a, ga), (b, gb) = results
    torch.testing.assert_close(b, a, rtol=0, atol=1e-12)
    for g0, g1 in zip(ga, gb, strict=True):
        torch.testing.assert_close(g1, g0, rtol=0, atol=1e-10)


def test_merged_sizes_cover_both_padding_rules():
    """The sizes above include inputs whose last window needs more zero padding after than before (the
    convolution then pads whole strides more and skips a block) and inputs that need none extra."""
    m = layer(support=3)
    skips = {max(_merged_padding(m, torch.zeros(1, 3, n, n + 1))[1]) for n in MERGED_SIZES}
    assert skips == {0, 1}
