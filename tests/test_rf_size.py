"""Theoretical RF size: hand arithmetic, the support of a real conv stack (input gradient), Gaussian variances."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import neurodcn as nd
from neurodcn.cortex.rf_size import layer_stack, receptive_field_arithmetic, theoretical_rf
from neurodcn.schema import validate_dataset


def test_arithmetic_by_hand():
    a = receptive_field_arithmetic([3, 5, 4, 3], [1, 1, 2, 1], [math.nan, 1.5, math.nan, 0.8])
    # r: 1 + 2*1 = 3; + 4*1 = 7; + 3*1 = 10; then jump 2: + 2*2 = 14
    np.testing.assert_array_equal(a["rf_px"], [3, 7, 10, 14])
    np.testing.assert_array_equal(a["jump_px"], [1, 1, 2, 2])
    var = np.cumsum([8 / 12, 1.5**2, 15 / 12, (0.8 * 2) ** 2])  # uniform K: (K^2 - 1) / 12
    np.testing.assert_allclose(a["sigma_eff_px"], np.sqrt(var))


def _support_and_variance(kernels, strides, weights=None):
    """Measured on torch convs: width of the nonzero input gradient of the centre output pixel, and the
    variance along x of that gradient (the composite linear filter)."""
    layers = []
    for i, (k, s) in enumerate(zip(kernels, strides, strict=True)):
        conv = nn.Conv2d(1, 1, k, stride=s, bias=False).double()
        with torch.no_grad():
            conv.weight.copy_(torch.ones(1, 1, k, k) if weights is None else weights[i])
        layers.append(conv)
    net = nn.Sequential(*layers)
    x = torch.zeros(1, 1, 101, 101, dtype=torch.float64, requires_grad=True)
    out = net(x)
    c = out.shape[-1] // 2
    out[0, 0, c, c].backward()
    g = x.grad[0, 0].sum(0)
    nz = torch.nonzero(g).ravel()
    pos = torch.arange(g.numel(), dtype=torch.float64)
    mean = (g * pos).sum() / g.sum()
    return int(nz[-1] - nz[0] + 1), float((g * (pos - mean) ** 2).sum() / g.sum())


def test_support_equals_the_input_gradient_extent_of_a_conv_stack():
    kernels, strides = [3, 4, 5, 3, 2], [1, 2, 1, 2, 1]
    a = receptive_field_arithmetic(kernels, strides)
    width, var = _support_and_variance(kernels, strides)
    assert width == a["rf_px"][-1]
    # uniform weights: variances of the box filters add exactly, scaled by the squared input jumps
    assert var == pytest.approx(a["sigma_eff_px"][-1] ** 2, rel=1e-12)


def test_effective_sd_of_composed_gaussians():
    sig = [1.5, 1.2]
    gs = []
    for s in sig:
        g = torch.arange(-8, 9, dtype=torch.float64)
        g1 = torch.exp(-(g**2) / (2 * s * s))
        gs.append((g1[:, None] * g1[None, :] / g1.sum() ** 2).view(1, 1, 17, 17))
    a = receptive_field_arithmetic([17, 17], [2, 1], sig)
    _, var = _support_and_variance([17, 17], [2, 1], gs)
    assert var == pytest.approx(a["sigma_eff_px"][-1] ** 2, rel=1e-3)  # sampled Gaussians: variance ~ sigma^2


def test_model_stack_with_hand_set_sigmas():
    m = nd.build_model("dcn-ode", width=4, seed=0)
    sigmas = [0.4, 1.0, 1.5, 0.7, 2.2, 3.0]
    convs = [m.blocks[i].func.conv1 if j == 0 else m.blocks[i].func.conv2 for i in range(3) for j in range(2)]
    with torch.no_grad():
        for layer, s in zip(convs, sigmas, strict=True):
            layer.log2_sigma.fill_(math.log2(s))
    ds = theoretical_rf(m, visual_degrees=8.0, image_width=32)
    validate_dataset(ds)
    sizes = [2 * math.ceil(2 * s + 0.5) + 1 for s in sigmas]  # the reference implementation's half-width rule
    kernels = [3, *sizes[:2], 4, *sizes[2:4], 4, *sizes[4:]]
    strides = [1, 1, 1, 2, 1, 1, 2, 1, 1]
    np.testing.assert_array_equal(ds["kernel_size"].values, kernels)
    np.testing.assert_array_equal(ds["stride"].values, strides)
    np.testing.assert_array_equal(ds["block"].values, [0, 1, 1, 0, 2, 2, 0, 3, 3])
    r, j = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        r, j = r + (k - 1) * j, j * s
    assert ds["rf_size_px"].values[-1] == r
    assert ds["rf_size_deg"].values[-1] == pytest.approx(r * 0.25)
    np.testing.assert_allclose(ds["sigma_px"].values[[1, 2, 4, 5, 7, 8]], sigmas, rtol=1e-6)
    two = layer_stack(m, passes_per_block=2)
    assert len(two) == 3 + 2 * 6 and two[1]["name"].endswith("#pass1") and two[3]["name"].endswith("#pass2")


def test_errors():
    with pytest.raises(ValueError, match="kernels and strides"):
        receptive_field_arithmetic([3, 0], [1, 1])
    with pytest.raises(ValueError, match="sigmas"):
        receptive_field_arithmetic([3], [1], [-1.0])
    with pytest.raises(ValueError, match="passes_per_block"):
        layer_stack(nd.build_model("dcn-ode", width=4), passes_per_block=0)
    with pytest.raises(ValueError, match="staged classifier"):
        layer_stack(nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="visual_degrees"):
        theoretical_rf(nd.build_model("dcn-ode", width=4), visual_degrees=-1.0)
