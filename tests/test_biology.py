import numpy as np
import pandas as pd
import pytest

from neurodcn.analysis import biology
from neurodcn.analysis.biology import (
    PROPERTIES,
    as_histogram,
    bio_data_dir,
    load_cavanaugh2002_size,
    load_devalois1982_peak_sf,
    load_prf_size_vs_eccentricity,
    load_schiller1976_sf_bandwidth,
    prf_size,
    reference_histogram,
)


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


def test_histogram_as_dataframe_equals_the_reference():
    table = load_devalois1982_peak_sf()
    total = table.groupby(["bin_lo", "bin_hi"])["count"].sum().reset_index()
    hist, _ = reference_histogram("peak_spatial_frequency")
    from_table = as_histogram(total.sample(frac=1.0, random_state=0))  # rows in any order
    np.testing.assert_array_equal(from_table.edges, hist.edges)
    np.testing.assert_array_equal(from_table.counts, hist.counts)


def test_every_registered_property_loads():
    for name in PROPERTIES:
        hist, table = reference_histogram(name)
        assert hist.counts.sum() > 0 and "citation" in table.attrs


def test_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="property_name must be one of"):
        reference_histogram("orientation_bandwidth")
    with pytest.raises(ValueError, match="strictly increasing"):
        as_histogram((np.array([0.0, 2.0, 1.0]), np.array([1, 1])))
    with pytest.raises(ValueError, match="positive sum"):
        as_histogram((np.array([0.0, 1.0]), np.array([0])))
    with pytest.raises(ValueError, match="contiguous"):
        as_histogram(pd.DataFrame({"bin_lo": [0, 2], "bin_hi": [1, 3], "count": [1, 1]}))
    monkeypatch.setenv("NEURODCN_BIO_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="NEURODCN_BIO_DATA"):
        bio_data_dir()
    monkeypatch.setenv("NEURODCN_BIO_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="devalois1982b_peak_sf_hist.csv is missing"):
        biology.load_devalois1982_peak_sf()
