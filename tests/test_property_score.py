"""The Marques et al. (2021) property score against independent facts: Brain-Score's published ceilings, the exact
ceiling of a tiny sample by brute force over every resample, scipy's KS statistic by hand, and the bootstrap's
sample size."""

import itertools

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from neurodcn.analysis import property_score
from neurodcn.analysis.biology import reference_histogram
from neurodcn.analysis.property_score import bin_index, ceiling_similarities, ks_similarity, score_property
from neurodcn.io.files import load_dataset, save_dataset

BRAINSCORE_CEILINGS = {
    "peak_spatial_frequency": 0.967,
    "spatial_frequency_bandwidth": 0.933,
    "grating_summation_field": 0.956,
    "surround_diameter": 0.955,
    "surround_suppression_index": 0.958,
}
"""Ceilings of the Marques2020 benchmarks, brain-score/vision benchmarks/marques2020/test.py (test_ceilings,
approx(..., abs=.005)): DeValois1982-peak_sf, Schiller1976-sf_bandwidth, Cavanaugh2002-grating_summation_field,
-surround_diameter, -surround_suppression_index."""


def draws(hist, n, seed):
    """n values drawn from a histogram read as a distribution: a bin by its count, then uniform in log x inside."""
    rng = np.random.default_rng(seed)
    k = rng.choice(hist.counts.size, size=n, p=hist.counts / hist.counts.sum())
    lo, hi = np.log(hist.edges[k]), np.log(hist.edges[k + 1])
    return np.exp(lo + (hi - lo) * rng.random(n))


def by_hand(model_values, hist):
    """1 - D / D_max with D from scipy.stats.ks_2samp on np.histogram's bins of the clipped values, D_max from the
    cumulative fractions Q of the reference: max(1 - Q_0, Q_{K-2})."""
    edges, counts = hist
    model_counts = np.histogram(np.clip(model_values, edges[0], edges[-1]), edges)[0]
    k = np.arange(counts.size)
    d = stats.ks_2samp(np.repeat(k, model_counts), np.repeat(k, counts.astype(int))).statistic
    q = np.cumsum(counts) / counts.sum()
    return 1 - d / max(1 - q[0], q[-2])


@pytest.mark.parametrize("name", sorted(BRAINSCORE_CEILINGS))
def test_ceilings_are_brainscores(name):
    hist, _ = reference_histogram(name)
    assert ceiling_similarities(hist, 1000, seed=0).mean() == pytest.approx(BRAINSCORE_CEILINGS[name], abs=0.005)


def test_ceiling_of_a_tiny_sample_equals_brute_force_over_every_resample():
    edges, counts = np.array([0.0, 1.0, 2.0, 3.0]), np.array([2, 1, 2])
    cells = np.repeat(np.arange(3), counts)
    q = np.cumsum(counts) / 5
    exact = []
    for resample in itertools.product(cells, repeat=5):  # all 5^5 equally likely draws with replacement
        p = np.cumsum(np.bincount(resample, minlength=3)) / 5
        exact.append(1 - np.max(np.abs(p - q)) / max(1 - q[0], q[-2]))
    exact = np.array(exact)
    sims = ceiling_similarities((edges, counts), n_boot=20000, seed=3)
    assert sims.shape == (20000,)
    assert np.all(np.isclose(sims[:, None], np.unique(exact)[None, :], atol=1e-12).any(axis=1))
    assert sims.mean() == pytest.approx(exact.mean(), abs=4 * exact.std() / np.sqrt(sims.size))


def test_samples_of_the_published_distribution_score_one():
    hist, _ = reference_histogram("peak_spatial_frequency")
    ds = score_property(draws(hist, 50000, seed=1), "peak_spatial_frequency", n_boot=1000, seed=2)
    assert ds["score_mean"].item() == pytest.approx(1.0, abs=0.01)
    assert ds["score_ci_low"].item() < 1 < ds["score_ci_high"].item()
    assert np.any(ds["score"].values > 1)  # not clipped


def test_two_samples_of_one_distribution_score_near_one():
    rng = np.random.default_rng(4)
    edges = np.linspace(-3.0, 3.0, 13)
    reference = (edges, np.histogram(rng.normal(size=400), edges)[0])
    ds = score_property(rng.normal(size=4000), reference, n_boot=500, seed=0)
    assert ds["score_mean"].item() > 0.95 and ds["score_ci_high"].item() > 0.99


def test_a_shifted_distribution_scores_lower_as_ks_2samp_says():
    hist, _ = reference_histogram("peak_spatial_frequency")
    same = draws(hist, 20000, seed=5)
    shifted = same * np.sqrt(2)  # half an octave: one bin up
    ds = score_property(shifted, "peak_spatial_frequency", n_boot=1000, seed=0)
    hand = by_hand(shifted, hist)
    assert ds["similarity_all_units"].item() == pytest.approx(hand, abs=1e-12)
    assert hand < 0.85  # a bin's shift moves the CDF by ~0.17
    assert ds["similarity_mean"].item() == pytest.approx(hand, abs=0.02)
    assert ds["score_ci_high"].item() < 0.9 < score_property(same, "peak_spatial_frequency")["score_ci_low"].item()
    np.testing.assert_allclose(ds["score"], ds["similarity"] / ds["ceiling"].item(), rtol=1e-15)
    # a one-valued model: every neuron-matched sample is the same, so each score is the hand value / ceiling
    one = score_property(np.full(30, 3.0), "peak_spatial_frequency", n_boot=50, seed=0)
    np.testing.assert_allclose(one["similarity"].values, by_hand([3.0], hist), atol=1e-12)
    assert ks_similarity(shifted, hist) == ds["similarity_all_units"].item()


def test_bootstrap_samples_have_the_biological_n(monkeypatch):
    sizes = []
    ks_2samp = stats.ks_2samp

    def spy(a, b, **kw):
        sizes.append(np.shape(a))
        return ks_2samp(a, b, **kw)

    monkeypatch.setattr(property_score.stats, "ks_2samp", spy)
    ds = score_property(np.geomspace(0.5, 8.0, 50), "peak_spatial_frequency", n_boot=200, seed=0)
    assert ds.attrs["n_neurons_biology"] == 363 and ds.attrs["n_neurons_model"] == 50
    assert sizes.count((200, 363)) == 2  # the biology's resamples and the model's, each n = 363
    assert set(sizes) == {(200, 363), (2, 1), (1, 50)}  # plus D_max's point masses and all units once


def test_dataset_layout_seeds_and_netcdf(tmp_path):
    values = np.array([0.2, 0.6, 1.2, 3.0, 3.5, 30.0, np.nan])
    ds = score_property(values, "peak_spatial_frequency", n_boot=100, seed=7, ci=0.9)
    assert ds["score"].dims == ("property", "bootstrap") and ds.sizes["bootstrap"] == 100
    assert ds["reference_fraction"].dims == ("bin",) and ds.sizes["bin"] == 12
    assert ds.attrs["units"] == "cycles/degree" and ds["bin_lo"].attrs["units"] == "cycles/degree"
    assert (ds.attrs["n_boot"], ds.attrs["seed"], ds.attrs["ci"]) == (100, 7, 0.9)
    assert ds.attrs["n_model_nonfinite_dropped"] == 1 and ds.attrs["n_neurons_model"] == 6
    assert ds.attrs["n_model_below_range"] == 1 and ds.attrs["n_model_above_range"] == 1
    assert float(ds["model_fraction"].sum()) == pytest.approx(1.0)  # clipped into the end bins
    assert ds["score_ci_low"].item() == pytest.approx(np.percentile(ds["score"], 5))
    assert ds["score_ci_high"].item() == pytest.approx(np.percentile(ds["score"], 95))
    for var in ds.data_vars.values():
        assert {"long_name", "units"} <= set(var.attrs)
    xr.testing.assert_identical(score_property(values, "peak_spatial_frequency", 100, 7, 0.9), ds)
    other = score_property(values, "peak_spatial_frequency", 100, 8, 0.9)
    assert not np.array_equal(other["score"], ds["score"])
    xr.testing.assert_identical(load_dataset(save_dataset(ds, tmp_path / "score.nc")), ds)


def test_bin_index_is_np_histogram_after_clipping():
    edges = np.array([0.35, 0.5, 0.7, 1.0, 1.4])
    values = np.concatenate([edges, [0.1, 0.6, 1.39, 9.0]])
    expected = np.histogram(np.clip(values, edges[0], edges[-1]), edges)[0]
    np.testing.assert_array_equal(np.bincount(bin_index(values, edges), minlength=4), expected)


def test_errors():
    with pytest.raises(ValueError, match="property_name must be one of"):
        score_property([1.0], "orientation_bandwidth")
    with pytest.raises(ValueError, match="at least one finite"):
        score_property([np.nan], "peak_spatial_frequency")
    with pytest.raises(ValueError, match="n_boot"):
        score_property([1.0], "peak_spatial_frequency", n_boot=0)
    with pytest.raises(ValueError, match="ci"):
        score_property([1.0], "peak_spatial_frequency", ci=1.0)
    with pytest.raises(ValueError, match="at least 2 bins"):
        ks_similarity([1.0], (np.array([0.0, 2.0]), np.array([3])))
    with pytest.raises(ValueError, match="whole numbers"):
        ceiling_similarities((np.array([0.0, 1.0, 2.0]), np.array([1.5, 2.0])))
    with pytest.raises(ValueError, match="finite"):
        ks_similarity([1.0, np.inf], reference_histogram("peak_spatial_frequency")[0])
