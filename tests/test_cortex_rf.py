"""receptive_fields(): hand-set sigmas, degrees via the cumulative stride, preferred SF, log-normal fits."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

import neurodcn as nd
from neurodcn.cortex import preferred_frequency
from neurodcn.schema import validate_dataset


def _grid(k):
    return torch.arange(k, dtype=torch.float64) - k // 2


def test_preferred_frequency_of_cosine_and_gabor():
    y, x = torch.meshgrid(_grid(15), _grid(15), indexing="ij")
    cosine = torch.cos(2 * math.pi * 0.125 * x)  # 8 cycles per 64 px: exactly on an FFT bin
    assert preferred_frequency(cosine) == pytest.approx(0.125, abs=1e-12)
    y, x = torch.meshgrid(_grid(25), _grid(25), indexing="ij")
    f, theta = 0.2, math.radians(30)
    gabor = torch.exp(-(x**2 + y**2) / (2 * 3.0**2)) * torch.cos(
        2 * math.pi * f * (x * math.cos(theta) + y * math.sin(theta))
    )
    # the peak falls on the 64 x 64 grid bin nearest (f cos, f sin): within half a bin diagonal of f
    est = preferred_frequency(torch.stack([gabor, 2 * gabor]))
    assert est.shape == (2,)
    np.testing.assert_allclose(est, f, atol=math.sqrt(2) / 128)
    assert preferred_frequency(torch.ones(5, 5)) == 0.0  # low-pass: DC
    with pytest.raises(ValueError, match="kernels must have shape"):
        preferred_frequency(torch.ones(3, 4))


def test_hand_set_sigmas_degrees_and_sizes():
    m = nd.build_model("dcn-ode", width=4, seed=0)
    order = [
        m.blocks[0].func.conv1,
        m.blocks[0].func.conv2,
        m.blocks[1].func.conv1,
        m.blocks[1].func.conv2,
        m.blocks[2].func.conv1,
        m.blocks[2].func.conv2,
    ]
    sigmas = [0.4, 1.0, 1.5, 0.7, 2.2, 3.0]
    with torch.no_grad():
        for layer, s in zip(order, sigmas, strict=True):
            layer.log2_sigma.fill_(math.log2(s))
    vc = nd.VirtualCortex(m, visual_degrees=8.0, image_size=32, progress=False)
    ds = vc.receptive_fields()
    validate_dataset(ds)
    np.testing.assert_allclose(ds.sigma_px.values, sigmas, rtol=1e-6)
    strides = np.array([1, 1, 2, 2, 4, 4])  # 30 -> 15 -> 7 px maps: each downsampling doubles the stride
    np.testing.assert_allclose(ds.sigma_deg.values, np.array(sigmas) * strides * 8.0 / 32, rtol=1e-6)
    # kernel size rule of the reference: K = 2 ceil(2 sigma + 0.5) + 1
    np.testing.assert_array_equal(ds.kernel_size_px.values, [2 * math.ceil(2 * s + 0.5) + 1 for s in sigmas])
    assert list(ds.block.values) == [1, 1, 2, 2, 3, 3] and list(ds.conv.values) == [1, 2, 1, 2, 1, 2]
    assert list(ds.depth.values) == [1, 2, 3, 4, 5, 6]
    assert ds.layer_name.values[2] == "blocks.1.func.conv1"
    assert ds.sigma_deg.attrs["units"] == "degree" and ds.preferred_sf.attrs["units"] == "cycles/degree"


def test_preferred_sf_of_second_derivative_filters_in_cycles_per_degree():
    m = nd.build_model("dcn-ode", width=4, seed=0)
    layer, sigma = m.blocks[1].func.conv1, 1.5
    with torch.no_grad():
        layer.log2_sigma.fill_(math.log2(sigma))
        layer.alpha.zero_()
        layer.alpha[5] = 1.0  # only the (2, 0) basis function: d^2 G / dy^2 in every filter
    ds = nd.VirtualCortex(m, visual_degrees=8.0, image_size=32, progress=False).receptive_fields()
    # |FT| of d^2G/dy^2 ~ f^2 exp(-2 pi^2 sigma^2 f^2) peaks at f = 1 / (sqrt(2) pi sigma) cycles/px; the map
    # of block 2 has stride 2, one input pixel is 0.25 deg, so one map pixel is 0.5 deg
    f_px = 1 / (math.sqrt(2) * math.pi * sigma)
    assert ds.preferred_sf.values[2] == pytest.approx(f_px / 0.5, abs=(1 / 64) / 0.5)


def test_full_model_orders_stem_transitions_and_blocks():
    m = nd.build_model("dcn-full", width=4, seed=0)
    ds = nd.VirtualCortex(m, image_size=32, progress=False).receptive_fields()
    assert list(ds.layer_name.values) == [
        "stem",
        "blocks.0.func.conv1",
        "blocks.0.func.conv2",
        "transitions.0.2",
        "blocks.1.func.conv1",
        "blocks.1.func.conv2",
        "transitions.1.2",
        "blocks.2.func.conv1",
        "blocks.2.func.conv2",
    ]
    assert list(ds.block.values) == [0, 1, 1, 0, 2, 2, 0, 3, 3]
    # a transition filters the previous block's map: its input stride is that block's (1, then 2)
    np.testing.assert_array_equal(ds.map_stride_px.values, [1, 1, 1, 1, 2, 2, 2, 4, 4])


def test_sigma_ji_lognormal_fit_on_a_known_sample():
    m = nd.build_model("dcn-sigma-ji", width=4, seed=0)
    convs = [m.blocks[0].func.conv1, m.blocks[0].func.conv2]  # [5 in (time + 4), 4 out] pairs each
    rng = np.random.default_rng(3)
    s = [rng.normal(0.3, 0.5, size=tuple(c.log2_sigma.shape)) for c in convs]
    with torch.no_grad():
        for c, v in zip(convs, s, strict=True):
            c.log2_sigma.copy_(torch.as_tensor(v))
    ds = nd.VirtualCortex(m, image_size=32, progress=False).receptive_fields()
    validate_dataset(ds)
    sj = ds.sigma_ji_block1
    assert sj.sizes["pair_block1"] == 40
    one = sj.where(
        (ds.conv_block1 == 2) & (ds.in_channel_block1 == 3) & (ds.out_channel_block1 == 1), drop=True
    )
    assert one.values.item() == pytest.approx(2 ** s[1][3, 1], rel=1e-6)
    x = 2.0 ** np.concatenate([v.ravel() for v in s])
    np.testing.assert_allclose(np.sort(sj.values), np.sort(x), rtol=1e-6)
    # closed-form maximum-likelihood log-normal (loc 0): shape = SD of ln x (ddof 0), scale = exp(mean ln x)
    logs = np.log(x)
    assert float(ds.lognorm_shape_block1) == pytest.approx(logs.std(), rel=1e-4)
    assert float(ds.lognorm_scale_block1) == pytest.approx(np.exp(logs.mean()), rel=1e-4)
    assert float(ds.skewness_block1) == pytest.approx(scipy.stats.skew(x), rel=1e-6)
    ks = scipy.stats.kstest(x, scipy.stats.lognorm(logs.std(), scale=np.exp(logs.mean())).cdf)
    assert float(ds.lognorm_ks_statistic_block1) == pytest.approx(ks.statistic, abs=1e-3)
    assert 0 <= float(ds.lognorm_ks_pvalue_block1) <= 1
    assert ds.lognorm_scale_block1.attrs["units"] == "pixel"  # not UDUNITS: the schema says so
    # the per-layer sigma of a per-pair layer is the median of its pairs (the lower middle value for an even count)
    pairs = np.sort(2.0 ** s[0].ravel())
    assert ds.sigma_px.values[0] == pytest.approx(pairs[(pairs.size - 1) // 2], rel=1e-6)


def test_time_dependent_sigma_reported_at_zero_and_T():
    m = nd.build_model("dcn-sigma-t", width=4, seed=0)
    layer = m.blocks[0].func.conv1
    with torch.no_grad():
        layer.log2_sigma.fill_(0.5)
        layer.log2_sigma_slope.fill_(-1.0)
    ds = nd.VirtualCortex(m, image_size=32, progress=False).receptive_fields()
    assert ds.sigma_px.dims == ("time", "layer")
    np.testing.assert_array_equal(ds.time.values, [0.0, 2.0])
    np.testing.assert_array_equal(ds.time_ms.values, [50.0, 100.0])
    # sigma = 2^(a t' + b) with t' = t / 2: 2^0.5 at t = 0 and 2^-0.5 at t = T = 2
    np.testing.assert_allclose(ds.sigma_px.isel(layer=0).values, [2**0.5, 2**-0.5], rtol=1e-6)


def test_models_without_srf_layers_are_refused():
    for name in ("odenet", "resnet-blocks"):
        vc = nd.VirtualCortex(nd.build_model(name, width=4, seed=0), progress=False)
        with pytest.raises(ValueError, match="needs SRF layers"):
            vc.receptive_fields()


def test_srf_kernels_is_the_layers_sampled_kernel_labelled_in_pixels():
    m = nd.build_model("dcn-ode", width=4, seed=0)
    vc = nd.VirtualCortex(m, image_size=32, progress=False)
    ds = validate_dataset(vc.srf_kernels("blocks.1.func.conv1"))
    assert ds.attrs["neurodcn_experiment"] == "srf_kernels" and ds.attrs["model"] == "dcn-ode"
    assert ds["kernel"].dims == ("out_channel", "in_channel", "y_offset", "x_offset")
    with torch.no_grad():
        np.testing.assert_array_equal(ds["kernel"].values, m.blocks[1].func.conv1.kernel().numpy())
        assert float(ds["sigma_px"]) == m.blocks[1].func.conv1.sigma_summary()
    h = ds.sizes["x_offset"] // 2
    assert ds["x_offset"].values.tolist() == list(range(-h, h + 1)) and ds["y_offset"].attrs["units"] == "pixel"
    assert (ds["depth"].item(), ds["block"].item(), ds["conv"].item()) == (3, 2, 1)
    assert vc.srf_kernels(3).equals(ds)  # the same layer by depth
    with pytest.raises(ValueError, match="layer must be one of"):
        vc.srf_kernels(7)
    with pytest.raises(ValueError, match="t must be None"):
        vc.srf_kernels(1, t=1.0)


def test_srf_kernels_of_a_time_dependent_layer_at_model_time_t():
    m = nd.build_model("dcn-sigma-t", width=4, seed=0)
    vc = nd.VirtualCortex(m, image_size=32, progress=False)
    ds = validate_dataset(vc.srf_kernels(1, t=2.0))
    assert (float(ds["time"]), float(ds["time_ms"])) == (2.0, 100.0)
    with torch.no_grad():
        np.testing.assert_array_equal(ds["kernel"].values, m.blocks[0].func.conv1.kernel(2.0).numpy())
    with pytest.raises(ValueError, match="t is required"):
        vc.srf_kernels(1)
