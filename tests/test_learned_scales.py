"""learned_scales(): trained vs initial sigma against hand-set scales, the map stride against the known
downsampling of dcn-ode, degrees against px x visual_degrees / image width, and its Fig. 3a plot."""

import numpy as np
import pytest
import torch

import neurodcn as nd
from neurodcn.analysis.plots import plot_learned_scales
from neurodcn.cortex.geometry import stage_geometry
from neurodcn.cortex.receptive_fields import srf_layers
from neurodcn.schema import validate_dataset

STRIDES = [1, 1, 2, 2, 4, 4]  # dcn-ode: 32 px image; blocks 2 and 3 each sit after a stride-2 transition
SHIFTS = np.array([-0.5, 0.25, 0.0, 1.0, -1.0, 0.5])  # log2 of the learning factor set by hand, per layer


def _cortex(model, visual_degrees=8.0):
    return nd.VirtualCortex(model, visual_degrees=visual_degrees, image_size=32, progress=False)


def _convs(model):
    return [m for _, m, _, _ in srf_layers(model)]


def test_learning_factor_of_hand_shifted_and_scaled_log2_sigma():
    model = nd.build_model("dcn-ode", width=2, seed=0)
    start = [m.sigma_summary() for m in _convs(model)]  # the seed's initial sigma, px of each layer's input map
    with torch.no_grad():
        for m, c in zip(_convs(model)[:3], SHIFTS, strict=False):
            m.log2_sigma.add_(c)  # sigma x 2^c
        for m in _convs(model)[3:]:
            m.log2_sigma.mul_(0.5)  # sigma -> sigma^0.5: learning factor sigma0^-0.5
    ds = _cortex(model).learned_scales()
    validate_dataset(ds)
    assert all("units" in ds[v].attrs for v in ds.data_vars)
    np.testing.assert_allclose(ds.sigma_initial_px.values, start, rtol=1e-6)
    expected = np.concatenate([2.0 ** SHIFTS[:3], np.array(start[3:]) ** -0.5])
    np.testing.assert_allclose(ds.learning_factor.values, expected, rtol=1e-6)
    np.testing.assert_allclose(ds.sigma_trained_px.values, np.array(start) * expected, rtol=1e-6)
    assert np.isnan(ds.log_correlation.values).all()  # shared sigma: no pairs to correlate


def test_untrained_model_has_learning_factor_one():
    ds = _cortex(nd.build_model("dcn-ode", width=2, seed=3)).learned_scales()
    np.testing.assert_allclose(ds.learning_factor.values, 1.0, rtol=1e-12)
    np.testing.assert_array_equal(ds.sigma_trained_deg.values, ds.sigma_initial_deg.values)


def test_stride_factor_is_the_geometry_walks_map_stride_and_degrees_follow():
    model = nd.build_model("dcn-ode", width=2, seed=0)
    _, walked = stage_geometry(model, 3, (32, 32))
    for visual_degrees in (8.0, 5.0):
        ds = _cortex(model, visual_degrees).learned_scales()
        np.testing.assert_array_equal(ds.stride_factor.values, STRIDES)
        np.testing.assert_array_equal(ds.stride_factor.values, [walked[id(m)] for m in _convs(model)])
        for state in ("trained", "initial"):
            px = ds[f"sigma_{state}_px"].values
            np.testing.assert_allclose(ds[f"sigma_{state}_input_px"].values, px * STRIDES, rtol=1e-12)
            np.testing.assert_allclose(ds[f"sigma_{state}_deg"].values, px * STRIDES * visual_degrees / 32,
                                       rtol=1e-12)


def test_per_pair_layers_compare_every_sigma_ji_with_its_initial_value():
    model = nd.build_model("dcn-sigma-ji", width=2, seed=0)
    vc = _cortex(model)
    fresh, rf = vc.learned_scales(), vc.receptive_fields()
    for k in (1, 2, 3):  # same pairs in the same order as receptive_fields' sigma_ji
        np.testing.assert_allclose(fresh[f"sigma_ji_initial_block{k}"].values, rf[f"sigma_ji_block{k}"].values,
                                   rtol=1e-6)
    np.testing.assert_allclose(fresh.log_correlation.values, 1.0, rtol=1e-9)
    np.testing.assert_allclose(fresh.median_log2_change.values, 0.0, atol=1e-7)
    first, second = _convs(model)[:2]
    with torch.no_grad():
        first.log2_sigma.add_(1.0)  # every sigma_ji doubles: median x2, log r still 1, |change| 1
        second.log2_sigma.add_(torch.randn(second.log2_sigma.shape, generator=torch.Generator().manual_seed(0)))
    ds = vc.learned_scales()
    assert ds.learning_factor.values[0] == pytest.approx(2.0, rel=1e-6)
    assert ds.median_log2_change.values[0] == pytest.approx(1.0, rel=1e-6)
    assert ds.log_correlation.values[0] == pytest.approx(1.0, rel=1e-9)
    assert ds.log_correlation.values[1] < 0.9  # unit-variance noise on log2 sigma ~ N(0, (2/3)^2)
    np.testing.assert_allclose(ds.learning_factor.values[2:], 1.0, rtol=1e-12)
    np.testing.assert_allclose(ds.sigma_ji_initial_block1.values, fresh.sigma_ji_initial_block1.values)
    np.testing.assert_array_equal(ds.pairs.values[:2], [first.log2_sigma.numel()] * 2)


def test_time_dependent_sigma_learning_factor_at_zero_and_T():
    model = nd.build_model("dcn-sigma-t", width=2, seed=0)
    layer = _convs(model)[0]
    with torch.no_grad():
        layer.log2_sigma.add_(0.5)
        layer.log2_sigma_slope.add_(-1.0)  # log2 sigma = slope t / 2 + b: change 0.5 at t = 0, -0.5 at t = T = 2
    ds = _cortex(model).learned_scales()
    assert ds.learning_factor.dims == ("time", "layer")
    np.testing.assert_allclose(ds.learning_factor.isel(layer=0).values, [2**0.5, 2**-0.5], rtol=1e-6)


def test_a_model_without_a_seed_is_refused():
    with pytest.raises(ValueError, match="names no seed"):
        _cortex(nd.build_model("dcn-ode", width=2)).learned_scales()


def test_plot_shows_trained_initial_and_the_learning_factor_per_layer():
    model = nd.build_model("dcn-ode", width=2, seed=0)
    with torch.no_grad():
        for m, c in zip(_convs(model), SHIFTS, strict=True):
            m.log2_sigma.add_(c)
    ds = _cortex(model).learned_scales()
    fig = plot_learned_scales(ds)
    px, deg, factor = fig.axes
    assert [t.get_text() for t in factor.get_xticklabels()] == [f"{d}\nx{s}" for d, s in enumerate(STRIDES, 1)]
    np.testing.assert_allclose(factor.collections[-1].get_offsets()[:, 1], 2.0**SHIFTS, rtol=1e-6)
    assert factor.lines[0].get_ydata()[0] == 1.0  # the line of no change
    initial = px.collections[1].get_offsets()[:, 1]  # open circles (after the segments)
    np.testing.assert_allclose(initial, ds.sigma_initial_px.values)
    np.testing.assert_allclose(deg.collections[1].get_offsets()[:, 1], ds.sigma_initial_deg.values)
    with pytest.raises(ValueError, match="'learned_scales' dataset"):
        plot_learned_scales(_cortex(model).receptive_fields())
