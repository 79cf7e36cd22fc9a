"""contrast_pairs(): paired accuracy and NFE of two contrasts against binomial facts and a known difference."""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from neurodcn.analysis.contrast import contrast_pairs


def _sweep(correct, nfe, contrasts, regime="scale_all"):
    """A per-image contrast sweep as contrast_sweep(per_image=True) writes it: correct [n, k], nfe [n, k, blocks]."""
    n = correct.shape[0]
    ids = [f"set/{i:06d}" for i in range(n)]
    return xr.Dataset(
        {"correct": (("stimulus", "contrast"), np.asarray(correct, np.int8)),
         "nfe_per_image": (("stimulus", "contrast", "block"), np.asarray(nfe, np.float64))},
        coords={"stimulus": ids, "stimulus_id": ("stimulus", ids), "contrast": list(contrasts),
                "block": np.arange(1, nfe.shape[2] + 1)},
        attrs={"neurodcn_experiment": "contrast_sweep", "regime": regime},
    )


def _two_by_two():
    """40 images: 15 right at both contrasts, 9 at c = 1 only, 2 at c = 0.06 only, 14 at neither."""
    high = np.array([1] * 15 + [1] * 9 + [0] * 2 + [0] * 14)
    low = np.array([1] * 15 + [0] * 9 + [1] * 2 + [0] * 14)
    return np.stack([low, high], axis=1)  # contrasts [0.06, 1.0]


def test_accuracy_change_and_mcnemar_equal_the_binomial_facts():
    correct = _two_by_two()
    nfe = np.stack([np.full((40, 2), 10.0), np.full((40, 2), 30.0)], axis=1)  # [n, contrast, block]
    ds = contrast_pairs(_sweep(correct, nfe, [0.06, 1.0]), n_boot=500).sel(regime="scale_all")
    assert list(ds.contrast.values) == [1.0, 0.06]
    assert ds.accuracy.values.tolist() == [60.0, 42.5]
    wilson = stats.binomtest(24, 40).proportion_ci(0.95, method="wilson")
    assert float(ds.accuracy_low[0]) == pytest.approx(100 * wilson.low)
    assert float(ds.accuracy_high[0]) == pytest.approx(100 * wilson.high)
    assert float(ds.accuracy_change) == pytest.approx(100 * (2 - 9) / 40)
    assert (int(ds.only_high_correct), int(ds.only_low_correct)) == (9, 2)
    assert float(ds.mcnemar_p) == pytest.approx(stats.binomtest(9, 11, 0.5).pvalue)
    assert float(ds.accuracy_change_low) < -17.5 < float(ds.accuracy_change_high) < 0
    # NFE: 60 per image at c = 1, 20 at c = 0.06, the same on every image
    assert ds.nfe_total.values.tolist() == [60.0, 20.0] and ds.nfe.values.tolist() == [[30.0, 30.0], [10.0, 10.0]]
    assert float(ds.nfe_change) == float(ds.nfe_change_low) == float(ds.nfe_change_high) == -40.0
    assert float(ds.nfe_relative_change) == pytest.approx(-200 / 3)
    assert (int(ds.images), int(ds.images_failed)) == (40, 0)


def test_bootstrap_interval_of_a_known_paired_nfe_change_covers_it_at_its_level():
    rng = np.random.default_rng(1)
    covered, widths = [], []
    for _ in range(40):  # true paired change -20, per-image noise SD 5 over 200 images
        high = rng.integers(40, 80, size=200).astype(float)
        low = high - 20 + rng.normal(0, 5, size=200)
        nfe = np.stack([low, high], axis=1)[:, :, None]
        ds = contrast_pairs(_sweep(np.ones((200, 2)), nfe, [0.06, 1.0]), n_boot=400, seed=3)
        lo, hi = float(ds.nfe_change_low[0]), float(ds.nfe_change_high[0])
        covered.append(lo <= -20 <= hi)
        widths.append(hi - lo)
    assert 0.85 <= np.mean(covered) <= 1.0
    assert np.mean(widths) == pytest.approx(2 * 1.96 * 5 / np.sqrt(200), rel=0.15)  # normal-theory width


def test_failed_images_are_left_out_and_two_sweeps_pool_like_one():
    correct = _two_by_two()
    nfe = np.random.default_rng(0).integers(10, 60, size=(40, 2, 3)).astype(float)
    one = contrast_pairs(_sweep(correct, nfe, [0.06, 1.0]), n_boot=200)
    two = contrast_pairs([_sweep(correct[:, :1], nfe[:, :1], [0.06]), _sweep(correct[:, 1:], nfe[:, 1:], [1.0])],
                         n_boot=200)
    xr.testing.assert_identical(one, two)
    correct[0, 0], nfe[0, 0] = -1, np.nan  # image 0 (right at both) failed at c = 0.06
    ds = contrast_pairs({"a": _sweep(correct, nfe, [0.06, 1.0])}, n_boot=200).sel(regime="scale_all")
    assert (int(ds.images), int(ds.images_failed)) == (39, 1)
    assert ds.accuracy.values.tolist() == pytest.approx([100 * 23 / 39, 100 * 16 / 39])
    assert float(ds.nfe_total[1]) == pytest.approx(nfe[1:, 0].sum(axis=1).mean())


def test_regimes_stack_and_bad_inputs_are_named():
    correct, nfe = _two_by_two(), np.ones((40, 2, 1))
    ds = contrast_pairs([_sweep(correct, nfe, [0.06, 1.0], r) for r in ("naive", "scale_all")], n_boot=50)
    assert list(ds.regime.values) == ["naive", "scale_all"] and ds.accuracy.dims == ("regime", "contrast")
    with pytest.raises(ValueError, match=r"holds contrast 0.5 \(they hold \[0.06, 1.0\]\)"):
        contrast_pairs(_sweep(correct, nfe, [0.06, 1.0]), c_low=0.5)
    with pytest.raises(ValueError, match="per_image=True"):
        contrast_pairs(_sweep(correct, nfe, [0.06, 1.0]).drop_vars("correct"))
