"""SRFConv2d against hand-built kernels, scipy.ndimage and PyTorch's own convolution."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.polynomial import hermite as nph
from scipy import ndimage
from torch.func import functional_call

from neurodcn import SRFConv2d
from neurodcn.nn.kernels import basis_indices


def numpy_basis_1d(sigma, h, n):
    """Independent evaluation of the reference 1-D basis with numpy's Hermite polynomials."""
    x = np.arange(-h, h + 1, dtype=float)
    g = np.exp(-x**2 / (2 * sigma**2))
    g /= g.sum()
    return (-1 / math.sqrt(2)) ** n * nph.hermval(x / (math.sqrt(2) * sigma), [0] * n + [1]) * g


def numpy_filter(alpha_co, sigma, h, order=2):
    return sum(a * np.outer(numpy_basis_1d(sigma, h, i), numpy_basis_1d(sigma, h, j))
               for a, (i, j) in zip(alpha_co, basis_indices(order), strict=True))


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cin,cout", [(3, 32), (33, 32), (65, 64)])
def test_parameter_counts(cin, cout):
    assert n_params(SRFConv2d(cin, cout)) == 6 * cin * cout + 1
    assert n_params(SRFConv2d(cin, cout, sigma_mode="per_pair")) == 7 * cin * cout
    assert n_params(SRFConv2d(cin, cout, time_param="sigma_t")) == 6 * cin * cout + 2
    assert n_params(SRFConv2d(cin, cout, time_param="sigma_t2")) == 6 * cin * cout + 3
    assert n_params(SRFConv2d(cin, cout, time_param="sigma_alpha_t")) == 12 * cin * cout + 2
    assert n_params(SRFConv2d(cin, cout, order=3)) == 10 * cin * cout + 1


@pytest.mark.parametrize("sigma,size", [(0.25, 3), (0.75, 5), (1.25, 7), (1.5, 9), (2.0, 11), (3.0, 15)])
def test_kernel_size_follows_the_rule(sigma, size):
    layer = SRFConv2d(2, 3)
    layer.log2_sigma.data.fill_(math.log2(sigma))
    assert layer.kernel().shape == (3, 2, size, size)


def test_shared_kernel_equals_numpy_construction():
    torch.manual_seed(1)
    layer = SRFConv2d(2, 3).double()
    layer.log2_sigma.data.fill_(math.log2(1.3))
    w = layer.kernel().detach().numpy()
    h = (w.shape[-1] - 1) // 2
    for o in range(3):
        for c in range(2):
            np.testing.assert_allclose(w[o, c], numpy_filter(layer.alpha[:, c, o].detach().numpy(), 1.3, h),
                                       atol=1e-14)


def test_per_pair_kernel_equals_numpy_construction():
    torch.manual_seed(2)
    layer = SRFConv2d(2, 3, sigma_mode="per_pair").double()
    w = layer.kernel().detach().numpy()
    assert w.shape == (3, 2, 7, 7)
    sig = layer.sigma.detach().numpy()
    for o in range(3):
        for c in range(2):
            ref = numpy_filter(layer.alpha[:, c, o].detach().numpy(), sig[c, o], 3)
            np.testing.assert_allclose(w[o, c], ref, atol=1e-14)


def test_gaussian_filter_layer_equals_scipy_correlate():
    """Alpha selecting only basis (0, 0): the layer is a renormalised Gaussian blur with zero padding."""
    layer = SRFConv2d(1, 1).double()
    layer.log2_sigma.data.fill_(math.log2(1.5))
    layer.alpha.data.zero_()
    layer.alpha.data[basis_indices(2).index((0, 0))] = 1.0
    img = np.random.default_rng(3).standard_normal((20, 24))
    h = 4
    g = numpy_basis_1d(1.5, h, 0)
    ref = ndimage.correlate(img, np.outer(g, g), mode="constant", cval=0.0)
    out = layer(torch.from_numpy(img)[None, None])[0, 0].detach().numpy()
    np.testing.assert_allclose(out, ref, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.5, 1.5, 3.0])
@pytest.mark.parametrize("stride,padding", [(1, "same"), (2, "same"), (1, "valid"), (2, 3)])
def test_direct_equals_separable(sigma, stride, padding):
    torch.manual_seed(4)
    x = torch.randn(2, 5, 23, 19, dtype=torch.float64, requires_grad=True)
    direct = SRFConv2d(5, 4, stride=stride, padding=padding, path="direct").double()
    direct.log2_sigma.data.fill_(math.log2(sigma))
    separable = SRFConv2d(5, 4, stride=stride, padding=padding, path="separable").double()
    separable.load_state_dict(direct.state_dict())
    a, b = direct(x), separable(x)
    ref = F.conv2d(x, direct.kernel(), stride=stride, padding={"same": direct.half_width_at(), "valid": 0}
                   .get(padding, padding))
    torch.testing.assert_close(a, ref)
    torch.testing.assert_close(b, ref)
    la, lb = a.square().sum(), b.square().sum()
    ga = torch.autograd.grad(la, [x, direct.log2_sigma, direct.alpha])
    gb = torch.autograd.grad(lb, [x, separable.log2_sigma, separable.alpha])
    for u, v in zip(ga, gb, strict=True):
        torch.testing.assert_close(u, v)


def test_auto_path_switches_by_kernel_size():
    from neurodcn.nn.srf import SEPARABLE_MIN_SIZE
    layer = SRFConv2d(2, 2)
    h_small, h_large = (SEPARABLE_MIN_SIZE - 3) // 2, (SEPARABLE_MIN_SIZE - 1) // 2
    assert layer.resolve_path(h_small) == "direct"
    assert layer.resolve_path(h_large) == "separable"
    assert SRFConv2d(2, 2, sigma_mode="per_pair").resolve_path(h_large) == "direct"


def test_same_padding_preserves_size_and_stride_halves():
    layer = SRFConv2d(3, 4)
    assert layer(torch.randn(1, 3, 30, 30)).shape == (1, 4, 30, 30)
    assert SRFConv2d(3, 4, stride=2)(torch.randn(1, 3, 32, 32)).shape == (1, 4, 16, 16)


@pytest.mark.parametrize("path", ["direct", "separable"])
def test_sigma_and_alpha_gradcheck(path):
    torch.manual_seed(5)
    layer = SRFConv2d(2, 2, path=path).double()
    x = torch.randn(1, 2, 9, 9, dtype=torch.float64)
    s0 = torch.tensor(math.log2(1.2), dtype=torch.float64, requires_grad=True)
    a0 = layer.alpha.detach().clone().requires_grad_()
    f = lambda s, a: functional_call(layer, {"log2_sigma": s, "alpha": a}, (x,))  # noqa: E731
    assert torch.autograd.gradcheck(f, (s0, a0))


def test_per_pair_sigma_gradcheck():
    torch.manual_seed(6)
    layer = SRFConv2d(2, 2, sigma_mode="per_pair").double()
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    f = lambda s: functional_call(layer, {"log2_sigma": s}, (x,))  # noqa: E731
    assert torch.autograd.gradcheck(f, (layer.log2_sigma.detach().clone().requires_grad_(),))


def test_time_parametrisations_by_hand():
    layer = SRFConv2d(2, 2, time_param="sigma_t2")
    layer.log2_sigma.data.fill_(0.3)
    layer.log2_sigma_slope.data.fill_(-0.5)
    layer.log2_sigma_curvature.data.fill_(0.4)
    for t in (0.0, 0.7, 2.0, 5.0, -3.0):
        tp = min(max(t / 2, -0.25), 1.25)
        assert layer.sigma_at(t).item() == pytest.approx(2 ** (0.4 * tp**2 - 0.5 * tp + 0.3), rel=1e-6)
    alpha_t = SRFConv2d(2, 2, time_param="sigma_alpha_t")
    torch.testing.assert_close(alpha_t.alpha_at(1.0), alpha_t.alpha + 0.5 * alpha_t.alpha_slope)
    with pytest.raises(ValueError, match="t is required"):
        alpha_t(torch.randn(1, 2, 5, 5))


def test_kernel_size_changes_with_time():
    layer = SRFConv2d(1, 1, time_param="sigma_t")
    layer.log2_sigma.data.fill_(0.0)
    layer.log2_sigma_slope.data.fill_(1.0)
    assert layer.kernel(0.0).shape[-1] == 7  # sigma 1
    assert layer.kernel(2.0).shape[-1] == 11  # sigma 2


def test_sigma_clipping_and_half_width_cap():
    layer = SRFConv2d(1, 1, sigma_range=(0.5, 2.0))
    layer.log2_sigma.data.fill_(10.0)
    assert layer.sigma.item() == pytest.approx(2.0)
    assert layer.kernel().shape[-1] == 11
    layer.log2_sigma.data.fill_(-10.0)
    assert layer.sigma.item() == pytest.approx(0.5)
    capped = SRFConv2d(1, 1, max_half_width=2)
    capped.log2_sigma.data.fill_(3.0)
    assert capped.kernel().shape[-1] == 5


def test_initialisation_distributions():
    torch.manual_seed(7)
    layer = SRFConv2d(64, 64, sigma_mode="per_pair")
    assert layer.log2_sigma.std().item() == pytest.approx(2 / 3, rel=0.05)
    assert abs(layer.log2_sigma.mean().item()) < 0.05
    assert layer.alpha.std().item() == pytest.approx(0.1, rel=0.05)


def test_cached_kernel_builds_once_and_gives_same_gradients():
    torch.manual_seed(8)
    layer = SRFConv2d(3, 3, path="direct")
    x = torch.randn(2, 3, 10, 10)
    calls = []
    original = layer.kernel
    layer.kernel = lambda t=None: calls.append(t) or original(t)
    with layer.cached_kernel():
        y = layer(layer(x))
    assert len(calls) == 1
    g_cached = torch.autograd.grad(y.sum(), layer.alpha)[0]
    g_plain = torch.autograd.grad(layer(layer(x)).sum(), layer.alpha)[0]
    torch.testing.assert_close(g_cached, g_plain)
    assert len(calls) == 3  # the cache is gone after the block


@pytest.mark.parametrize("kwargs,name", [
    ({"order": -1}, "order"), ({"sigma_mode": "pair"}, "sigma_mode"), ({"time_param": "t"}, "time_param"),
    ({"stride": 0}, "stride"), ({"padding": "full"}, "padding"), ({"sigma_range": (2.0, 1.0)}, "sigma_range"),
    ({"sigma_range": (0.0, 1.0)}, "sigma_range"), ({"path": "fft"}, "path"), ({"max_half_width": 0}, "max_half_width"),
    ({"sigma_mode": "per_pair", "kernel_size": 6}, "kernel_size"),
    ({"sigma_mode": "per_pair", "path": "separable"}, "separable"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SRFConv2d(2, 3, **kwargs)


def test_bad_channels_and_input():
    with pytest.raises(ValueError, match="in_channels"):
        SRFConv2d(0, 3)
    layer = SRFConv2d(2, 3)
    with pytest.raises(ValueError, match=r"x must be a tensor \[N, 2, H, W\].*got shape \(2, 8, 8\)"):
        layer(torch.randn(2, 8, 8))
    with pytest.raises(ValueError, match="channels"):
        layer(torch.randn(1, 3, 8, 8))
