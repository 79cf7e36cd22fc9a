"""resize() against torch.nn.functional.interpolate, hand-worked grids and the known pitfalls of resizers."""

import pytest
import torch
import torch.nn.functional as F

from neurodcn.nn.resize import cubic, lanczos3, linear, resize


@pytest.mark.parametrize("mode,kernel", [("bilinear", "linear"), ("bicubic", "cubic")])
@pytest.mark.parametrize("size", [(24, 36), (30, 40), (13, 19), (12, 25)])
@pytest.mark.parametrize("path", ["auto", "direct"])
def test_upscaling_equals_interpolate(mode, kernel, size, path):
    # interpolate replicates the border pixels; at s >= 1 no antialiasing is involved
    torch.manual_seed(0)
    x = torch.randn(2, 3, 12, 18)
    ref = F.interpolate(x, size=size, mode=mode, align_corners=False)
    out = resize(x, out_size=size, kernel=kernel, cubic_a=-0.75, antialias=False, padding="replicate", path=path)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


def test_scale_factor_equals_interpolate_float64():
    x = torch.randn(1, 2, 10, 8, dtype=torch.float64)
    ref = F.interpolate(x, scale_factor=1.5, mode="bicubic", align_corners=False)
    out = resize(x, 1.5, cubic_a=-0.75, padding="replicate")
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)


def test_axis_with_scale_one_and_other_size_is_resized():
    # s = 1, 4 -> 5 pixels: grid n - 1/2, so linear weights (1/2, 1/2) on pixels n - 1, n (replicated border)
    x = torch.tensor([[0.0, 2.0, 4.0, 8.0]])
    out = resize(x, scale=(1, 1), out_size=(1, 5), kernel="linear", padding="replicate")
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0, 3.0, 6.0, 8.0]]))


def test_constant_image_stays_constant_unless_zero_padded():
    ones = torch.ones(1, 1, 16, 16, dtype=torch.float64)
    for padding in ("symmetric", "reflect", "replicate"):
        torch.testing.assert_close(resize(ones, 0.5, padding=padding), torch.ones(1, 1, 8, 8, dtype=torch.float64))
    corner = resize(ones, 0.5, padding="zeros")[0, 0, 0, 0].item()
    assert corner == pytest.approx(0.87, abs=0.005)  # the darkened border of zero padding (as the CC paper shows)


def test_antialias_is_kernel_widened_by_one_over_s():
    # s = 1/2 with a linear kernel widened x2: the 4 taps at offsets -1.5 .. 1.5 weigh 1, 3, 3, 1 (/8)
    x = torch.arange(12.0).view(1, 12) ** 2
    out = resize(x, scale=(1, 0.5), kernel="linear", padding="symmetric")
    xp = torch.cat([x[:, :1], x, x[:, -1:]], dim=1)  # symmetric padding by one pixel
    expected = torch.stack([(xp[0, 2 * n] + 3 * xp[0, 2 * n + 1] + 3 * xp[0, 2 * n + 2] + xp[0, 2 * n + 3]) / 8
                            for n in range(6)])
    torch.testing.assert_close(out[0], expected)


@pytest.mark.parametrize("scale", [2 / 3, 3 / 4, 3 / 2, (2 / 3, 5 / 4)])
@pytest.mark.parametrize("kernel", ["cubic", "linear", "lanczos3", "box"])
def test_convs_equals_direct_float64(scale, kernel):
    torch.manual_seed(1)
    x = torch.randn(2, 13, 17, dtype=torch.float64)
    a = resize(x, scale, kernel=kernel, path="convs")
    b = resize(x, scale, kernel=kernel, path="direct")
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_kernels_are_interpolating():
    d = torch.arange(-3.0, 4.0)
    for fn in (linear, cubic, lanczos3):
        torch.testing.assert_close(fn(d), (d == 0).float())  # 1 at 0, 0 at other integers
    assert cubic(torch.tensor(0.5), -0.5).item() == pytest.approx(0.5625)  # Keys: (a + 2)/8 - (a + 3)/4 + 1


def test_identity_and_gradient():
    x = torch.randn(1, 1, 6, 7, requires_grad=True)
    assert torch.equal(resize(x, 1), x)
    resize(x, 0.7).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_validation():
    x = torch.randn(1, 1, 6, 6)
    with pytest.raises(ValueError, match="kernel"):
        resize(x, 2, kernel="gauss")
    with pytest.raises(ValueError, match="padding"):
        resize(x, 2, padding="circular")
    with pytest.raises(TypeError, match="floating"):
        resize(torch.ones(4, 4, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="scale"):
        resize(x, 0)
    with pytest.raises(ValueError, match="out_size"):
        resize(x, out_size=(3, -1))
    with pytest.raises(ValueError, match="at least 2"):
        resize(torch.ones(5), 2)
