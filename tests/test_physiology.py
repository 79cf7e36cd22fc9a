"""physiology(): tuning curves of a unit with a known linear filter and known dynamics, curve analyses by hand."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import neurodcn as nd
from neurodcn.analysis.fits import naka_rushton
from neurodcn.analysis.physiology_fits import (
    BANDWIDTH_FLAGS,
    NR_STATUS,
    bandwidth,
    bandwidth_flag,
    compare_with_biology,
    fit_physiology,
    half_max_time,
    orientation_preference,
    peak_location,
    summation_field,
)
from neurodcn.analysis.property_score import score_property
from neurodcn.cortex.physiology import default_parameters
from neurodcn.data.stimuli import nyquist_frequency
from neurodcn.io.files import load_dataset, save_dataset
from neurodcn.nn.classifier import Classifier
from neurodcn.schema import validate_dataset

SIGMA_PX, DEG_PER_PX, SIZE = 2.0, 0.25, 33
GROWTH = 1.0  # dh/dt = GROWTH * h


class Growth(nn.Module):
    def forward(self, t, h):
        return GROWTH * h


def _gxx(sigma=SIGMA_PX, half=8):
    """Second x-derivative of a Gaussian (up to a constant): its amplitude spectrum peaks at
    f = sqrt(2) / (2 pi sigma) along x, and falls as cos^2 of the grating orientation."""
    g = torch.arange(-half, half + 1, dtype=torch.float64)
    y, x = torch.meshgrid(g, g, indexing="ij")
    return (x**2 / sigma**2 - 1) * torch.exp(-(x**2 + y**2) / (2 * sigma**2))


def _linear_unit_cortex():
    k = _gxx()
    stem = nn.Conv2d(3, 1, k.shape[-1], bias=False)
    with torch.no_grad():
        stem.weight.zero_()
        stem.weight[0, 0] = k.float()
    block = nd.ODEBlock(Growth(), dict(method="rk4", step_size=0.05, adjoint=False, T=2.0))
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 1))
    model = Classifier(stem, [block], [], head, {"name": "linear-unit", "in_channels": 3, "num_classes": 1})
    return nd.VirtualCortex(
        model, visual_degrees=SIZE * DEG_PER_PX, image_size=SIZE, progress=False, batch_size=512
    )


SF = np.geomspace(0.15, 1.5, 21)
CONTRASTS = (0.0, 0.1, 0.3, 0.6, 1.0)
TIMES = np.round(np.arange(0, 41) * 0.05, 10)


@pytest.fixture(scope="module")
def linear_run():
    vc = _linear_unit_cortex()
    curves, fits = vc.physiology(
        spatial_frequencies=SF, aperture_diameters=[1.0, 2.0, 4.0, 8.0], contrasts=CONTRASTS, times=TIMES
    )
    return vc, curves, fits


def test_linear_unit_sf_and_orientation_tuning_match_its_filter(linear_run):
    vc, curves, fits = linear_run
    assert curves.sizes["unit"] == 1 and fits.sizes["unit"] == 1
    assert float(curves["x_deg"][0]) == 0.0 and float(curves["y_deg"][0]) == 0.0  # 17 px map centred
    # response at T = e^(GROWTH T) * 0.5 * contrast * |sum_k w(k) cos(2 pi f x_k)| (even filter: phase 0 is best)
    w = _gxx().numpy()
    xs = (np.arange(w.shape[1]) - w.shape[1] // 2) * DEG_PER_PX
    dtft = np.abs([(w * np.cos(2 * np.pi * f * xs)[None, :]).sum() for f in SF])
    expected = math.exp(GROWTH * 2.0) * 0.5 * dtft
    measured = curves["sf_tuning"].sel(time=2.0).values[0]
    np.testing.assert_allclose(measured, expected, rtol=1e-4, atol=1e-6 * expected.max())  # float32 model
    analytic = math.sqrt(2) / (2 * math.pi * SIGMA_PX * DEG_PER_PX)  # 0.450 cycles/deg
    assert float(fits["preferred_sf"][0]) == pytest.approx(analytic, rel=0.02)
    assert float(fits["preferred_orientation"][0]) == pytest.approx(0.0, abs=1e-6) or float(
        fits["preferred_orientation"][0]
    ) == pytest.approx(180.0, abs=1e-6)
    # orientation tuning at the preferred grid SF = the filter's DTFT along each wave vector
    f = float(curves["test_sf"][0])
    theta = np.deg2rad(curves["orientation"].values)
    ys = xs[::-1]  # rows run downwards, y is up
    proj = [xs[None, :] * math.cos(a) + ys[:, None] * math.sin(a) for a in theta]
    expected = math.exp(2.0) * 0.5 * np.abs([(w * np.cos(2 * np.pi * f * p)).sum() for p in proj])
    np.testing.assert_allclose(
        curves["orientation_tuning"].sel(time=2.0).values[0], expected, rtol=1e-4, atol=1e-6 * expected.max()
    )
    # the continuous filter is tuned as cos^2(theta): OSI |sum cos^2 e^{2i theta}| / sum cos^2 = 1/2 on 12
    # orientations over 180 deg; truncating the kernel at 4 sigma bends that by ~1e-4
    assert float(fits["orientation_selectivity"][0]) == pytest.approx(0.5, abs=1e-3)
    # a linear unit: response proportional to contrast at every aperture and time
    cr = curves["contrast_response"].sel(time=2.0).values[0]
    np.testing.assert_allclose(cr, cr[-1] * np.asarray(CONTRASTS), rtol=1e-5, atol=1e-9)


def test_latency_is_the_half_max_time_of_the_known_dynamics(linear_run):
    _, curves, fits = linear_run
    # r(t) = r(0) e^t, so r reaches half of r(2) at t = 2 - ln 2 for every contrast; 25 ms per unit, onset 50 ms
    t_half = 2.0 - math.log(2.0)
    np.testing.assert_allclose(fits["latency_ms"].values[0], 50.0 + 25.0 * t_half, atol=0.05)
    assert fits["latency_ms"].attrs["units"] == "ms"
    assert list(fits["latency_contrast"].values) == [0.1, 0.3, 0.6, 1.0]


def test_schema_and_round_trip(linear_run, tmp_path):
    _, curves, fits = linear_run
    for ds, exp in ((curves, "physiology"), (fits, "physiology_fits")):
        validate_dataset(ds)
        assert ds.attrs["neurodcn_experiment"] == exp
        assert list(ds["unit_id"].values) == ["block1/ch0"]
        assert ds["block"].dims == ("unit",) and ds["channel"].dims == ("unit",)
        for name in list(ds.data_vars) + [c for c in ds.coords if c not in ("unit_id",)]:
            assert "units" in ds[name].attrs, name
        back = load_dataset(save_dataset(ds, tmp_path / f"{exp}.nc"))
        assert back.attrs["model"] == "linear-unit"
    assert curves["time_ms"].attrs["units"] == "ms"
    assert curves["sf_tuning"].dims == ("unit", "time", "spatial_frequency")
    assert curves["size_tuning"].dims == ("unit", "time", "size_contrast", "aperture_diameter")


def test_naka_rushton_wiring_recovers_known_parameters(linear_run):
    _, curves, _ = linear_run
    c = curves["contrast"].values
    synthetic = curves.copy(deep=True)
    synthetic["contrast_response"][:] = naka_rushton(c, 0.2, 2.5, 3.0)[None, None, :]
    fits = fit_physiology(synthetic)
    assert float(fits["c50"][0]) == pytest.approx(0.2, rel=1e-4)
    assert float(fits["nr_exponent"][0]) == pytest.approx(2.5, rel=1e-4)
    assert float(fits["nr_r_max"][0]) == pytest.approx(3.0, rel=1e-4)
    assert int(fits["nr_success"][0]) == 1


def test_fits_say_when_they_fail_on_hand_made_curves(linear_run):
    _, curves, _ = linear_run
    c, f = curves["contrast"].values, curves["spatial_frequency"].values
    synthetic = curves.copy(deep=True)
    synthetic["contrast_response"][:] = 5.0 * c[None, None, :]  # a straight line: no saturation, c50 not identified
    g = np.exp(-((np.log2(f) - np.log2(f[f.size // 2])) ** 2) / 0.5)  # a band-pass curve peaked mid-grid
    synthetic["sf_tuning"][0] = g
    fits = fit_physiology(synthetic)
    assert int(fits["nr_status"][0]) == NR_STATUS.index("c50_not_identified") and int(fits["nr_success"][0]) == 0
    assert np.isnan(float(fits["c50"][0])) and np.isnan(float(fits["nr_r_max"][0]))
    assert fits["nr_status"].attrs["flag_meanings"].split() == list(NR_STATUS)
    assert int(fits["sf_bandwidth_flag"][0]) == 0 and np.isfinite(float(fits["sf_bandwidth"][0]))
    hand_made = ((f[::-1] / f.max(), "low_pass"), (f / f.max(), "high_pass"), (np.ones_like(f), "unbounded_both_sides"))
    for curve, flag in hand_made:
        synthetic["sf_tuning"][0] = curve
        fits = fit_physiology(synthetic)
        assert int(fits["sf_bandwidth_flag"][0]) == BANDWIDTH_FLAGS.index(flag), flag
        assert np.isnan(float(fits["sf_bandwidth"][0])) and np.isnan(float(fits["sf_bandwidth_percent"][0]))
    assert [bandwidth_flag(1.0, 2.0), bandwidth_flag(np.nan, 2.0), bandwidth_flag(1.0, np.nan)] == [0, 1, 2]


def test_default_sf_grid_reaches_the_nyquist_frequency(linear_run):
    vc, curves, _ = linear_run
    sf = default_parameters(vc)["spatial_frequencies"]
    assert sf[-1] == nyquist_frequency(vc.image_size, vc.visual_degrees)
    np.testing.assert_allclose(np.diff(np.log2(sf)), 0.5)  # half-octave steps


def test_summation_field_and_contrast_ratio_through_the_fits(linear_run):
    _, curves, _ = linear_run
    synthetic = curves.copy(deep=True)
    # low contrast (0.1): peak at 4 deg; high contrast (1.0): peak at 2 deg, falling to 2 of 5 at 8 deg
    synthetic["size_tuning"][0, :, 0, :] = [0.1, 0.3, 0.5, 0.45]
    synthetic["size_tuning"][0, :, 1, :] = [1.0, 5.0, 4.0, 2.0]
    fits = fit_physiology(synthetic)
    np.testing.assert_allclose(fits["gsf_diameter"].values[0], [4.0, 2.0])
    np.testing.assert_allclose(fits["surround_suppression_index"].values[0], [0.05 / 0.5, 0.6])
    assert float(fits["gsf_ratio_low_high"][0]) == 2.0
    assert summation_field([1, 2, 4], [1.0, 3.0, 2.0]) == (2.0, pytest.approx(1 / 3))
    assert all(np.isnan(summation_field([1, 2, 3], [0, 0, 0])))


def test_bandwidth_of_a_gaussian_in_log_frequency():
    f0, s = 1.3, 0.6  # peak (cycles/deg), SD in octaves
    f = 2.0 ** np.arange(-4, 4, 0.02)
    r = np.exp(-((np.log2(f) - np.log2(f0)) ** 2) / (2 * s * s))
    lo, hi = bandwidth(f, r, 0.5)
    assert math.log2(hi / lo) == pytest.approx(2 * s * math.sqrt(2 * math.log(2)), abs=2e-3)  # FWHM, octaves
    lo, hi = bandwidth(f, r, 1 / math.sqrt(2))
    assert 100 * lo / hi == pytest.approx(100 * 2 ** (-2 * s * math.sqrt(math.log(2))), abs=0.1)  # Schiller %
    coarse = 2.0 ** np.arange(-2, 3, 0.25)
    rc = np.exp(-((np.log2(coarse) - np.log2(f0)) ** 2) / (2 * s * s))
    assert abs(math.log2(peak_location(coarse, rc)) - math.log2(f0)) < 0.02
    # low-pass over the range: no lower crossing
    assert np.isnan(bandwidth(f[f > 2], r[f > 2], 0.5)[0])


def test_orientation_preference_and_half_max_time_by_hand():
    theta = np.arange(0, 180, 15.0)
    pref, osi = orientation_preference(theta, np.cos(np.deg2rad(theta - 30)) ** 2)
    assert pref == pytest.approx(30.0, abs=1e-9) and osi == pytest.approx(0.5, abs=1e-12)
    assert np.isnan(orientation_preference(theta, np.zeros(12))[0])
    # peak 4 at t = 2; half max 2 is crossed between t = 1 (r = 1) and t = 1.5 (r = 3): t = 1.25
    assert half_max_time([0, 0.5, 1, 1.5, 2], [0, 0.5, 1, 3, 4]) == pytest.approx(1.25)
    assert half_max_time([0, 1, 2], [3, 2, 4]) == 0.0


def test_compare_with_biology_filters_units_as_documented(linear_run):
    _, curves, _ = linear_run
    fits = fit_physiology(curves).copy(deep=True)
    fits = fits.isel(unit=[0, 0, 0, 0])
    fits["preferred_sf"][:] = [0.5, 1.0, 2.0, 4.0]
    fits["sf_bandwidth_percent"][:] = [40.0, np.nan, 55.0, 60.0]
    fits["gsf_diameter"][:, 1] = [0.5, 1.0, 2.0, 4.0]
    fits["surround_suppression_index"][:, 1] = [0.05, 0.5, 0.3, 0.2]
    fits["responsive"][:] = [1, 1, 1, 0]
    comp = compare_with_biology(fits, n_boot=50, seed=3)
    validate_dataset(comp)
    assert comp["score"].dims == ("property", "bootstrap") and comp.sizes["bootstrap"] == 50
    for prop, units in [("peak_spatial_frequency", [0.5, 1.0, 2.0]), ("grating_summation_field", [1.0, 2.0])]:
        # SF: responsive units only; GSF: responsive units with SSI > 0.1 (Cavanaugh's n = 148 criterion)
        one = score_property(units, prop, n_boot=50, seed=3)
        np.testing.assert_array_equal(comp["score"].sel(property=prop), one["score"].isel(property=0))
        assert int(comp["n_model"].sel(property=prop)) == len(units)
        assert int(comp["n_reference"].sel(property=prop)) == one.attrs["n_neurons_biology"]
    n = dict(zip(comp["property"].values, comp["n_dropped"].values, strict=True))
    assert n["spatial_frequency_bandwidth"] == 1
    np.testing.assert_allclose(comp["score_mean"], comp["score"].mean("bootstrap"))
    assert (comp.attrs["n_boot"], comp.attrs["seed"]) == (50, 3)


def test_bad_parameters_raise_clear_errors(linear_run):
    vc, _, _ = linear_run
    with pytest.raises(ValueError, match="Nyquist"):
        vc.physiology(spatial_frequencies=[0.5, 3.0])
    with pytest.raises(ValueError, match="aperture_diameter"):
        vc.physiology(aperture_diameters=[1.0, 9.0])
    with pytest.raises(ValueError, match="contrasts"):
        vc.physiology(contrasts=[0.5, 1.0])
    with pytest.raises(ValueError, match="orientations"):
        vc.physiology(orientations=[0.0, 180.0])
    with pytest.raises(ValueError, match="response"):
        vc.physiology(response="squared")
    with pytest.raises(ValueError, match="fit_time"):
        vc.physiology(times=[0.0, 1.0, 2.0], fit_time=1.5)
    with pytest.raises(ValueError, match="blocks"):
        vc.physiology(blocks=[2])
    with pytest.raises(ValueError, match="times"):
        vc.physiology(times=[0.0, 3.0])
    res = nd.VirtualCortex(nd.build_model("resnet-blocks", width=4, seed=0), progress=False)
    with pytest.raises(ValueError, match=r"times must be None or \[0.0\] for discrete layers"):
        res.physiology(times=[0.0, 1.0])
    with pytest.raises(ValueError, match="physiology"):
        fit_physiology(load_dataset)
    with pytest.raises(ValueError, match="level"):
        bandwidth([1, 2], [1, 0], level=1.5)
