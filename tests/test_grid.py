"""The projected grid (Eq. 2), output sizes, windows and rational periods against hand-worked cases."""

from fractions import Fraction

import pytest
import torch

from neurodcn.nn.grid import neighbour_window, output_size, phase_counts, projected_grid, rational_scale, resolve_sizes


def test_downscale_by_two_lands_between_pixels():
    # the paper's Fig. 4a: s = 1/2 maps output n to 2n + 1/2 (not 2n)
    g = projected_grid(8, 4, 0.5)
    assert torch.equal(g, torch.tensor([0.5, 2.5, 4.5, 6.5], dtype=torch.float64))


def test_paper_example_scales_06_and_14():
    # Fig. 4b: a 4-pixel axis by 0.6 -> 3 outputs, by 1.4 -> 6 outputs (ceil of 2.4 and 5.6)
    assert output_size(4, 0.6) == 3 and output_size(4, 1.4) == 6
    g = projected_grid(4, 3, 0.6)  # n / 0.6 + 1.5 - 2 / 1.2
    assert torch.allclose(g, torch.tensor([-1 / 6, 3 / 2, 19 / 6], dtype=torch.float64), atol=1e-12)
    g = projected_grid(4, 6, 1.4)  # n / 1.4 + 1.5 - 5 / 2.8
    expected = torch.tensor([n / 1.4 + 1.5 - 5 / 2.8 for n in range(6)], dtype=torch.float64)
    assert torch.allclose(g, expected, atol=1e-12)


def test_scale_one_is_identity_and_other_size_is_honoured():
    assert torch.equal(projected_grid(5, 5, 1.0), torch.arange(5, dtype=torch.float64))
    # s = 1 with one more output: every point half a pixel to the left of a pixel centre
    assert torch.equal(projected_grid(4, 5, 1.0), torch.arange(5, dtype=torch.float64) - 0.5)
    assert resolve_sizes((4, 7), scale=1, out_size=(5, 7)) == ((1.0, 1.0), (5, 7))


def test_grid_dtypes_and_exact_fraction():
    assert projected_grid(6, 4, 2 / 3, dtype=torch.float32).dtype == torch.float32
    g = projected_grid(6, 4, Fraction(2, 3))  # 1.5 n + 2.5 - 2.25
    assert torch.equal(g, torch.tensor([0.25, 1.75, 3.25, 4.75], dtype=torch.float64))


def test_output_size_tolerates_float_scales():
    assert output_size(96, 2 / 3) == 64  # 0.666...6 * 96 = 63.99999999999999
    assert output_size(32, 0.82) == 27  # ceil(26.24)


def test_neighbour_window_hand_cases():
    first, taps = neighbour_window(torch.tensor([0.0, 0.5, 1.25]), 3)
    assert taps == 3 and first.tolist() == [-1, -1, 0]  # ceil(-1.5), ceil(-1.0), ceil(-0.25)
    first, taps = neighbour_window(torch.tensor([0.5]), 4)
    assert taps == 4 and first.tolist() == [-1]  # pixels -1, 0, 1, 2 around 0.5
    first, taps = neighbour_window(torch.tensor([2.0]), 2.5)
    assert taps == 3 and first.tolist() == [1]


def test_rational_detection():
    assert rational_scale(2 / 3) == Fraction(2, 3)
    assert rational_scale(0.75) == Fraction(3, 4)
    assert rational_scale(1.5) == Fraction(3, 2)
    assert rational_scale(0.25 ** (1 / 7)) is None
    assert rational_scale(Fraction(11664, 15625)) is None  # numerator too large
    assert rational_scale(7 / 10, max_numerator=5) is None


def test_grid_is_periodic_for_rational_scales():
    s = Fraction(3, 4)
    g = projected_grid(40, 30, s)
    first, _ = neighbour_window(g, 3)
    assert torch.allclose(g[3:] - g[:-3], torch.full((27,), 4.0, dtype=torch.float64), atol=1e-12)  # k=3, l=4
    assert torch.equal(first[3:] - first[:-3], torch.full((27,), 4))
    assert phase_counts(10, 3) == [4, 3, 3] and phase_counts(2, 3) == [1, 1, 0]


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "2", True])
def test_bad_scales_rejected(bad):
    with pytest.raises(ValueError, match="scale"):
        projected_grid(4, 4, bad)
    with pytest.raises(ValueError, match="scale"):
        resolve_sizes((4, 4), scale=bad)


@pytest.mark.parametrize("bad", [0, -2, 2.5, (3,), (1, 2, 3)])
def test_bad_sizes_rejected(bad):
    with pytest.raises(ValueError, match="out_size"):
        resolve_sizes((4, 4), out_size=bad)
