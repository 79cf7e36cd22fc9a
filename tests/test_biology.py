import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurodcn.analysis import biology
from neurodcn.analysis.biology import (
    PROPERTIES,
    Histogram,
    bio_data_dir,
    compare_property,
    histogram_cdf,
    ks_distance,
    ks_similarity,
    load_cavanaugh2002_size,
    load_devalois1982_peak_sf,
    load_prf_size_vs_eccentricity,
    load_schiller1976_sf_bandwidth,
    prf_size,
    reference_histogram,
)
from neurodcn.io.files import load_dataset, save_dataset


def test_totals_match_the_papers():
    sf = load_devalois1982_peak_sf()
    assert sf["count"].sum() == 363 == sf.attrs["n"]
    assert set(sf["units"]) == {"cycles/degree"}
    assert sf["bin_lo"].min() == 0.35 and sf["bin_hi"].max() == 22.4
    bw = load_schiller1976_sf_bandwidth()
    assert bw["count"].sum() == 73 and bw.attrs["n_recorded"] == 87
    assert bw.groupby("group")["count"].sum().to_dict() == {"complex": 43, "simple": 30}
    size = load_cavanaugh2002_size().groupby("property")["count"].sum()
    assert size["grating_summation_field"] == 148 and size["surround_diameter"] == 148
    assert size["surround_to_gsf_ratio"] == 148 and size["surround_suppression_index"] == 190


def test_reference_histograms_are_contiguous_and_sum_groups():
    hist, _ = reference_histogram("peak_spatial_frequency")
    np.testing.assert_array_equal(hist.counts, [3, 10, 15, 31, 57, 62, 67, 63, 31, 15, 5, 4])
    assert hist.edges.size == 13 and np.all(np.diff(hist.edges) > 0)
    gsf, _ = reference_histogram("grating_summation_field")
    np.testing.assert_allclose(gsf.edges, 0.0625 * 2.0 ** np.arange(9))


def test_prf_size_is_the_published_line():
    table = load_prf_size_vs_eccentricity()
    assert set(table["source_key"]) == {"wandell2015", "kay2013", "kay2013_hermes", "harvey2011"}
    np.testing.assert_allclose(prf_size([0.0, 10.0], "V1", "wandell2015"), [0.02179, 0.02179 + 1.6883])
    np.testing.assert_allclose(prf_size(4.0, "hV4", "harvey2011"), 0.4 * 4 + 0.5)
    with pytest.raises(ValueError, match="area must be one of"):
        prf_size(1.0, "V9")
    with pytest.raises(ValueError, match="eccentricity"):
        prf_size(-1.0)


def test_ks_distance_on_samples_equals_scipy():
    rng = np.random.default_rng(0)
    for n, m in [(50, 80), (200, 37), (10, 10)]:
        a, b = rng.lognormal(0.0, 1.0, n), rng.lognormal(0.2, 0.8, m)
        assert ks_distance(a, b) == stats.ks_2samp(a, b).statistic
    # above 10000 samples scipy uses its asymptotic mode and returns the float difference, not the fraction
    a, b = rng.normal(size=12000), rng.normal(0.01, size=15000)
    assert ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, rel=1e-14)
    ties_a, ties_b = [1, 1, 2, 3, 3, 3], [1, 2, 2, 2, 4]
    assert ks_distance(ties_a, ties_b) == stats.ks_2samp(ties_a, ties_b).statistic
    assert ks_similarity(ties_a, ties_b) == 1 - stats.ks_2samp(ties_a, ties_b).statistic


def test_ks_distance_on_histogram_hand_worked():
    # F_ref(x) = x / 2 on [0, 2]. Samples 0.5, 1.5, 3: at 1.5 the ECDF's left limit is 1/3, F_ref = 3/4
    hist = Histogram(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0]))
    assert ks_distance([0.5, 1.5, 3.0], hist) == pytest.approx(3 / 4 - 1 / 3, abs=1e-15)
    assert ks_distance([0.5, 0.5], hist) == pytest.approx(0.75, abs=1e-15)
    # log scale: bins [1, 10) and [10, 100), counts 1 and 3. sqrt(10) is half way through bin 1 in log x
    log_hist = (np.array([1.0, 10.0, 100.0]), np.array([1, 3]))
    assert histogram_cdf(log_hist, [np.sqrt(10), 10.0, np.sqrt(1000)], "log") == pytest.approx([0.125, 0.25, 0.625])
    assert ks_distance([np.sqrt(10)], log_hist, scale="log") == pytest.approx(0.875, abs=1e-15)
    assert ks_distance([np.sqrt(10)], log_hist, scale="linear") == pytest.approx(1 - 0.25 * (np.sqrt(10) - 1) / 9)


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_ks_distance_on_histogram_equals_scipy_kstest(scale):
    hist, _ = reference_histogram("peak_spatial_frequency")
    samples = np.random.default_rng(1).lognormal(1.0, 0.9, 300)
    expected = stats.kstest(samples, lambda x: histogram_cdf(hist, x, scale)).statistic
    assert ks_distance(samples, hist, scale) == pytest.approx(expected, abs=1e-12)


def test_histogram_as_dataframe_and_samples_from_it_are_close():
    table = load_devalois1982_peak_sf()
    total = table.groupby(["bin_lo", "bin_hi"])["count"].sum().reset_index()
    hist, _ = reference_histogram("peak_spatial_frequency")
    samples = np.random.default_rng(2).lognormal(1.0, 0.9, 100)
    assert ks_distance(samples, total, "log") == ks_distance(samples, hist, "log")
    # draw 20000 samples from the histogram's own CDF (uniform in log x within bins): KS distance ~ 1/sqrt(n)
    rng = np.random.default_rng(3)
    idx = rng.choice(hist.counts.size, size=20000, p=hist.counts / hist.counts.sum())
    lo, hi = np.log(hist.edges[idx]), np.log(hist.edges[idx + 1])
    draws = np.exp(lo + (hi - lo) * rng.random(idx.size))
    assert ks_distance(draws, hist, "log") < 0.015


def test_compare_property_dataset():
    values = np.array([0.6, 1.2, 3.0, 3.5, 30.0, np.nan])
    ds = compare_property(values, "peak_spatial_frequency")
    assert int(ds["model_count"].sum()) == 4 and ds.attrs["n_model_above_range"] == 1
    assert ds.attrs["n_model_nonfinite_dropped"] == 1 and ds.attrs["n_model"] == 5
    assert float(ds["ks_distance"]) == ks_distance(values[:5], reference_histogram("peak_spatial_frequency")[0], "log")
    assert float(ds["similarity"]) == pytest.approx(1 - float(ds["ks_distance"]))
    assert float(ds["reference_fraction"].sum()) == pytest.approx(1.0)
    assert ds["bin_lo"].attrs["units"] == "cycles/degree"
    for name, var in ds.data_vars.items():
        assert {"long_name", "units"} <= set(var.attrs), name


def test_compare_property_round_trips_to_netcdf(tmp_path):
    ds = compare_property(np.linspace(10, 90, 40), "spatial_frequency_bandwidth")
    import xarray as xr

    xr.testing.assert_identical(load_dataset(save_dataset(ds, tmp_path / "cmp.nc")), ds)


def test_every_registered_property_loads():
    for name in PROPERTIES:
        hist, table = reference_histogram(name)
        assert hist.counts.sum() > 0 and "citation" in table.attrs


def test_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="property_name must be one of"):
        compare_property([1.0], "orientation_bandwidth")
    with pytest.raises(ValueError, match="at least one finite"):
        compare_property([np.nan], "peak_spatial_frequency")
    with pytest.raises(ValueError, match="non-empty 1-D"):
        ks_distance([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        ks_distance([1.0, np.inf], [1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        ks_distance([1.0], (np.array([0.0, 2.0, 1.0]), np.array([1, 1])))
    with pytest.raises(ValueError, match="positive sum"):
        ks_distance([1.0], (np.array([0.0, 1.0]), np.array([0])))
    with pytest.raises(ValueError, match="contiguous"):
        ks_distance([1.0], pd.DataFrame({"bin_lo": [0, 2], "bin_hi": [1, 3], "count": [1, 1]}))
    with pytest.raises(ValueError, match="scale must be"):
        histogram_cdf((np.array([0.0, 1.0]), np.array([1])), [0.5], "sqrt")
    with pytest.raises(ValueError, match="positive histogram edges"):
        histogram_cdf((np.array([0.0, 1.0]), np.array([1])), [0.5], "log")
    monkeypatch.setenv("NEURODCN_BIO_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="NEURODCN_BIO_DATA"):
        bio_data_dir()
    monkeypatch.setenv("NEURODCN_BIO_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="devalois1982b_peak_sf_hist.csv is missing"):
        biology.load_devalois1982_peak_sf()
