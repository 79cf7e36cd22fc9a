"""N-jet basis against analytic Gaussian derivatives, numpy's Hermite polynomials and scipy.ndimage."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.polynomial import hermite as nph
from scipy import ndimage

from neurodcn.nn import kernels as K


def test_hermite_coefficients_match_numpy():
    for n in range(6):
        ours = K.hermite_coefficients(5)[n].numpy()
        numpy_coeffs = nph.herm2poly([0] * n + [1])  # H_n in power basis
        np.testing.assert_allclose(ours[: len(numpy_coeffs)], numpy_coeffs)
        assert np.all(ours[len(numpy_coeffs):] == 0)


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.5])
def test_analytic_normalisation_equals_scaled_gaussian_derivatives(sigma):
    x = torch.linspace(-6, 6, 41, dtype=torch.float64)
    b = K.gaussian_derivatives_1d(x, sigma, 3, normalize="analytic").numpy()
    xs = x.numpy()
    G = np.exp(-xs**2 / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    derivs = [G, -xs / sigma**2 * G, (xs**2 / sigma**4 - 1 / sigma**2) * G,
              (3 * xs / sigma**4 - xs**3 / sigma**6) * G]
    for n, d in enumerate(derivs):
        np.testing.assert_allclose(b[n], sigma**n * d, atol=1e-12)


def test_sum_normalisation_renormalises_the_sampled_gaussian():
    sigma, h = 1.3, 4
    x = K.integer_offsets(h, torch.float64)
    b = K.gaussian_derivatives_1d(x, sigma, 2)
    g = np.exp(-np.arange(-h, h + 1) ** 2 / (2 * sigma**2))
    np.testing.assert_allclose(b[0].numpy(), g / g.sum(), atol=1e-15)
    u = np.arange(-h, h + 1) / (math.sqrt(2) * sigma)
    np.testing.assert_allclose(b[2].numpy(), 0.5 * nph.hermval(u, [0, 0, 1]) * g / g.sum(), atol=1e-15)


@pytest.mark.parametrize("sigma,size", [(0.2, 3), (0.25, 3), (0.5, 5), (0.75, 5), (1.0, 7), (1.25, 7),
                                        (1.5, 9), (2.0, 11), (3.0, 15), (10.0, 43)])
def test_size_rule_table(sigma, size):
    assert 2 * K.half_width(sigma) + 1 == size


def test_size_rule_cap():
    assert K.half_width(10.0, max_half_width=5) == 5


def test_basis_order_and_count():
    assert K.basis_indices(2) == [(0, 2), (0, 1), (0, 0), (1, 1), (1, 0), (2, 0)]
    for n in range(6):
        idx = K.basis_indices(n)
        assert len(idx) == K.num_basis(n) == (n + 1) * (n + 2) // 2 == len(set(idx))
        assert all(i + j <= n for i, j in idx)


def test_anisotropic_basis_is_outer_product_of_axis_pieces():
    dy, dx = torch.linspace(-3, 3, 7, dtype=torch.float64), torch.linspace(-4, 4, 9, dtype=torch.float64)
    basis = K.njet_basis(dy, dx, 0.8, 1.7, order=2)
    rows = K.gaussian_derivatives_1d(dy, 0.8, 2)
    cols = K.gaussian_derivatives_1d(dx, 1.7, 2)
    for f, (i, j) in enumerate(K.basis_indices(2)):
        torch.testing.assert_close(basis[f], torch.outer(rows[i], cols[j]))


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_basis_responses_match_scipy_gaussian_derivative_filters(sigma):
    """Correlating an image with basis (i, j) ~ (-1)^(i+j) sigma^(i+j) d^(i+j)/dy^i dx^j of the blurred image."""
    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.standard_normal((64, 64)), 1.0)
    h = K.half_width(sigma)
    grid = K.integer_offsets(h, torch.float64)
    basis = K.njet_basis(grid, grid, sigma, order=2)
    out = F.conv2d(torch.from_numpy(img)[None, None], basis[:, None], padding=h)[0].numpy()
    inner = (slice(16, 48), slice(16, 48))
    for f, (i, j) in enumerate(K.basis_indices(2)):
        ref = (-1) ** (i + j) * sigma ** (i + j) * ndimage.gaussian_filter(img, sigma, order=(i, j))
        r = np.corrcoef(out[f][inner].ravel(), ref[inner].ravel())[0, 1]
        assert r >= 0.99, (i, j, r)


def test_sigma_gradient_gradcheck():
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    sigma = torch.tensor(1.1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: K.njet_basis(x, x, s, order=3), (sigma,))
    sy = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: K.njet_basis(x, x, a, b, order=2), (sy, sigma))


def test_subpixel_offsets_with_leading_dims():
    offs = torch.rand(5, 4, dtype=torch.float64) * 4 - 2  # 5 positions, 4 taps each
    sig = torch.full((5, 1), 0.9, dtype=torch.float64)
    b = K.gaussian_derivatives_1d(offs, sig, 2)
    assert b.shape == (3, 5, 4)
    torch.testing.assert_close(b[0].sum(-1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(b[:, 3], K.gaussian_derivatives_1d(offs[3], 0.9, 2))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_order(bad):
    with pytest.raises(ValueError, match="order"):
        K.gaussian_derivatives_1d(torch.zeros(3), 1.0, bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_sigma(bad):
    with pytest.raises(ValueError, match="sigma"):
        K.gaussian_derivatives_1d(torch.zeros(3), bad, 2)
    with pytest.raises(ValueError, match="sigma"):
        K.half_width(bad)


def test_bad_normalize_and_offsets():
    with pytest.raises(ValueError, match="normalize"):
        K.gaussian_derivatives_1d(torch.zeros(3), 1.0, 2, normalize="l2")
    with pytest.raises(ValueError, match="x must be"):
        K.gaussian_derivatives_1d(torch.zeros(3, dtype=torch.long), 1.0, 2)
    with pytest.raises(ValueError, match=r"h must be an integer >= 0, got -1"):
        K.integer_offsets(-1)
