import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from cortex_fixtures import (  # noqa: E402
    make_contrast_sweep_dataset,
    make_pattern_completion_dataset,
    make_receptive_fields_dataset,
)
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402

import neurodcn as nd  # noqa: E402
from neurodcn.analysis.plots import (  # noqa: E402
    bootstrap_ci,
    plot_accuracy_vs_mask,
    plot_completion_dynamics,
    plot_contrast_sweep,
    plot_sigma_distributions,
    plot_sigma_vs_depth,
    plot_srf_filters,
    save_figure,
)

UNIT_OF_ONE = re.compile(r"\(1\)|, 1\)|\+-")


def _labels_read_as_words(ax):
    """Both axis labels are set, and none writes a dimensionless unit as "(1)" or a spread as "+-"."""
    for label in (ax.get_xlabel(), ax.get_ylabel()):
        assert label and not UNIT_OF_ONE.search(label), label


def test_sigma_vs_depth_markers_per_block():
    ds = make_receptive_fields_dataset(convs_per_block=(2, 3), stem_layers=1)
    fig = plot_sigma_vs_depth(ds)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    _labels_read_as_words(ax)
    assert len(ax.lines) == 1 and len(ax.collections) == 3  # blocks 0, 1, 2
    block2 = ax.collections[2].get_offsets()
    sel = ds["block"].values == 2
    np.testing.assert_array_equal(block2[:, 0], ds["depth"].values[sel])
    np.testing.assert_array_equal(block2[:, 1], ds["sigma_px"].values[sel])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["outside blocks", "block 1", "block 2"]
    assert plot_sigma_vs_depth(ds, unit="deg").axes[0].get_ylabel() == "sigma (deg)"


def test_sigma_distributions_overlay_the_scipy_lognormal_fit():
    ds = make_receptive_fields_dataset(channels=(6, 8))
    fig = plot_sigma_distributions(ds, bins=20)
    assert len(fig.axes) == 2
    for k, ax in enumerate(fig.axes, start=1):
        _labels_read_as_words(ax)
        samples = ds[f"sigma_ji_block{k}"].values
        assert len(ax.patches) == 20
        area = sum(p.get_height() * p.get_width() for p in ax.patches)
        assert area == pytest.approx(1.0)  # a density histogram
        (line,) = ax.lines
        shape, _, scale = stats.lognorm.fit(samples, floc=0)
        x = line.get_xdata()
        assert x[0] == 0.0 and x[-1] == pytest.approx(samples.max())
        np.testing.assert_allclose(
            line.get_ydata(), stats.lognorm.pdf(x, shape, loc=0, scale=scale), rtol=1e-6
        )


def test_sigma_distributions_read_fits_on_a_block_dim():
    ds = make_receptive_fields_dataset()
    shape = [float(ds[f"lognorm_shape_block{k}"]) for k in (1, 2)]
    scale = [float(ds[f"lognorm_scale_block{k}"]) for k in (1, 2)]
    alt = ds.drop_vars([f"lognorm_{p}_block{k}" for p in ("shape", "scale") for k in (1, 2)])
    alt = alt.assign(lognorm_shape=("block", shape), lognorm_scale=("block", scale))
    a, b = plot_sigma_distributions(ds).axes[1].lines[0], plot_sigma_distributions(alt).axes[1].lines[0]
    np.testing.assert_array_equal(a.get_ydata(), b.get_ydata())


def test_accuracy_vs_mask_several_models():
    dcn, base = (
        make_pattern_completion_dataset(seed=0),
        make_pattern_completion_dataset(mask_sizes=(0, 4, 8, 16)),
    )
    fig = plot_accuracy_vs_mask({"dcn-ode": dcn, "resnet": base}, chance=0.1)
    (ax,) = fig.axes
    _labels_read_as_words(ax)
    assert [ln.get_label() for ln in ax.lines] == ["dcn-ode (5 images)", "resnet (5 images)", "chance (0.1)"]
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), [0, 4, 8, 16])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), dcn["accuracy"].values)
    assert ax.lines[2].get_ydata()[0] == 0.1 and ax.get_ylabel() == "accuracy (mean, 95% CI)"
    lo, hi = bootstrap_ci(dcn["correct"].values, axis=1)  # the band is the bootstrap CI of each mask's mean
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(lo.min()) and band.max() == pytest.approx(hi.max())
    assert np.all(lo <= dcn["accuracy"].values) and np.all(dcn["accuracy"].values <= hi)
    assert len(plot_accuracy_vs_mask(dcn).axes[0].lines) == 1  # the model config names no class count
    dcn.attrs["model_config"] = '{"name": "dcn-ode", "num_classes": 4}'
    assert plot_accuracy_vs_mask(dcn).axes[0].lines[-1].get_label() == "chance (0.25)"
    with pytest.raises(ValueError, match="chance must be"):
        plot_accuracy_vs_mask(dcn, chance=2.0)


def test_completion_dynamics_mean_and_sd_per_block():
    ds = make_pattern_completion_dataset(n_blocks=3)
    fig = plot_completion_dynamics(ds, mask_size=6)
    (ax,) = fig.axes
    _labels_read_as_words(ax)
    assert len(ax.lines) == 3 and len(ax.collections) == 3
    d = ds["D_block2"].values[1]  # mask_size index 1 == 6 px; (stimulus, time)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), d.mean(axis=0))
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), ds["time_ms"].values)
    band = ax.collections[1].get_paths()[0].vertices[:, 1]
    lo, hi = d.mean(axis=0) - d.std(axis=0), d.mean(axis=0) + d.std(axis=0)
    assert band.min() == pytest.approx(lo.min()) and band.max() == pytest.approx(hi.max())
    (top,) = ax.child_axes
    assert top.get_xlabel() == "model time t" and ax.get_xlabel() == "time after stimulus onset (ms)"
    legend = plot_completion_dynamics(ds).axes[0].get_legend()
    assert "14 x 14" in legend.get_title().get_text()  # default: the largest mask


def test_contrast_sweep_one_column_per_regime_with_blocks_total_and_cis():
    naive = make_contrast_sweep_dataset(n_blocks=3, regime="naive", failed=(0,), per_image=20)
    scaled = make_contrast_sweep_dataset(n_blocks=3, regime="scale_all", seed=1, per_image=20)
    fig = plot_contrast_sweep({"naive": naive, "scale_all": scaled})
    acc_axes, nfe_axes = fig.axes[:2], fig.axes[2:]
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
    _labels_read_as_words(nfe_axes[0])  # the accuracy row shares the contrast axis of its column
    assert acc_axes[0].get_ylabel() == "accuracy (mean, 95% CI)"
    assert nfe_axes[0].get_xlabel() == "contrast" and acc_axes[1].get_title() == "every block to c T, maps scaled by c"
    assert [ln.get_label() for ln in nfe_axes[1].lines] == ["block 1", "block 2", "block 3", "total"]
    assert np.isnan(acc_axes[0].lines[0].get_ydata()[0])  # a failed contrast leaves a gap
    np.testing.assert_array_equal(nfe_axes[1].lines[-1].get_ydata(), scaled["nfe"].values.sum(axis=1))
    correct = scaled["correct"].values.astype(float)  # the accuracy band: bootstrap CI over the images
    lo, hi = bootstrap_ci(correct, axis=0)
    band = acc_axes[1].collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(np.nanmin(lo)) and band.max() == pytest.approx(np.nanmax(hi))
    assert len(nfe_axes[1].collections) == 3 + 1  # one band per block and one for the total
    lone = plot_contrast_sweep(make_contrast_sweep_dataset(n_blocks=3))  # no per-image data: lines only
    assert len(lone.axes) == 2 and len(lone.axes[1].lines) == 4 and not lone.axes[1].collections
    assert lone.axes[0].get_ylabel() == "accuracy"


def test_srf_filter_grid_draws_an_srf_kernels_dataset():
    vc = nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0), image_size=32, progress=False)
    ds = vc.srf_kernels(1)  # blocks.0.func.conv1: 4 out x 5 in (time and 4 channels)
    fig = plot_srf_filters(ds)
    assert len(fig.axes) == 4 * 5 + 1  # kernels + colour bar
    np.testing.assert_allclose(fig.axes[5 * 1 + 0].images[0].get_array(), ds["kernel"].values[1, 0])
    assert fig.get_supxlabel() == "x offset (px)" and fig.get_supylabel() == "y offset (px)"
    assert fig.get_suptitle() == f"blocks.0.func.conv1: sigma = {float(ds['sigma_px']):.3g} px"
    h = ds.sizes["x_offset"] // 2
    assert fig.axes[0].images[0].get_extent() == [-h - 0.5, h + 0.5, h + 0.5, -h - 0.5]  # px, y down
    assert len(plot_srf_filters(ds, max_out=2, max_in=3).axes) == 2 * 3 + 1
    with pytest.raises(ValueError, match="must be a 'srf_kernels' dataset"):
        plot_srf_filters(make_receptive_fields_dataset())


def test_plot_on_given_axes():
    fig = Figure()
    ax = fig.add_subplot(1, 1, 1)
    assert plot_sigma_vs_depth(make_receptive_fields_dataset(), ax=ax) is fig
    axes = Figure().subplots(2, 1)
    assert plot_contrast_sweep(make_contrast_sweep_dataset(), axes=axes) is axes[0].figure
    with pytest.raises(ValueError, match="2 Axes"):
        plot_contrast_sweep(make_contrast_sweep_dataset(), axes=ax)


def test_bad_datasets_name_what_is_missing():
    rf = make_receptive_fields_dataset()
    with pytest.raises(ValueError, match=r"'receptive_fields' dataset .* got 'contrast_sweep'"):
        plot_sigma_vs_depth(make_contrast_sweep_dataset())
    with pytest.raises(ValueError, match=r"lacks the variables/coords \['sigma_px'\]"):
        plot_sigma_vs_depth(rf.drop_vars("sigma_px"))
    with pytest.raises(ValueError, match="lognorm_scale_block2"):
        plot_sigma_distributions(rf.drop_vars("lognorm_scale_block2"))
    with pytest.raises(ValueError, match="sigma_ji_block"):
        plot_sigma_distributions(rf.drop_vars(["sigma_ji_block1", "sigma_ji_block2"]))
    pc = make_pattern_completion_dataset()
    with pytest.raises(ValueError, match=r"data\['b'\] .* \['accuracy'\]"):
        plot_accuracy_vs_mask({"a": pc, "b": pc.drop_vars("accuracy")})
    with pytest.raises(ValueError, match="D_block"):
        plot_completion_dynamics(pc.drop_vars(["D_block1", "D_block2"]))
    with pytest.raises(ValueError, match=r"mask_size must be one of \[0, 6, 14\]"):
        plot_completion_dynamics(pc, mask_size=7)
    with pytest.raises(ValueError, match=r"\['nfe_total'\]"):
        plot_contrast_sweep(make_contrast_sweep_dataset().drop_vars("nfe_total"))
    with pytest.raises(TypeError, match="dict name -> Dataset"):
        plot_contrast_sweep([make_contrast_sweep_dataset()])


def test_save_figure_is_atomic(tmp_path):
    fig = plot_sigma_vs_depth(make_receptive_fields_dataset())
    path = save_figure(fig, tmp_path / "fig.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and [p.name for p in tmp_path.iterdir()] == [
        "fig.png"
    ]
    assert save_figure(fig, tmp_path / "fig.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match="must end in one of"):
        save_figure(fig, tmp_path / "fig.jpeg")
    with pytest.raises(TypeError, match="matplotlib Figure"):
        save_figure(None, tmp_path / "x.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg"]


def test_time_dependent_sigma_is_shown_at_one_time():
    import pandas as pd
    import xarray as xr

    rf = make_receptive_fields_dataset()
    later = rf.copy()
    for name in rf.data_vars:
        later[name] = rf[name] * 2  # sigma, fits and all doubled at t = 2
    ds = xr.concat([rf, later], dim=pd.Index([0.0, 2.0], name="time"), data_vars="all", coords="minimal")
    assert ds["sigma_px"].dims == ("time", "layer") and ds["lognorm_shape_block1"].dims == ("time",)
    ax = plot_sigma_vs_depth(ds).axes[0]  # default: the last time
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), 2 * rf["sigma_px"].values)
    assert ax.get_title() == "t = 2"
    ax0 = plot_sigma_distributions(ds, time=0.0).axes[0]
    samples = rf["sigma_ji_block1"].values
    x = ax0.lines[0].get_xdata()
    assert x[-1] == pytest.approx(samples.max()) and ax0.get_title().endswith("t = 0)")
    shape, scale = float(rf["lognorm_shape_block1"]), float(rf["lognorm_scale_block1"])
    np.testing.assert_allclose(ax0.lines[0].get_ydata(), stats.lognorm.pdf(x, shape, scale=scale))
    with pytest.raises(ValueError, match=r"recorded model times \[0.0, 2.0\]"):
        plot_sigma_vs_depth(ds, time=1.0)
    with pytest.raises(ValueError, match="no time dim"):
        plot_sigma_vs_depth(rf, time=0.0)


def test_bootstrap_ci_matches_the_normal_approximation_of_a_proportion():
    x = np.r_[np.ones(200), np.zeros(200)]  # p = 0.5 over n = 400 images: SE = sqrt(p (1 - p) / n) = 0.025
    lo, hi = bootstrap_ci(x)
    assert float(lo) == pytest.approx(0.5 - 1.96 * 0.025, abs=0.006)
    assert float(hi) == pytest.approx(0.5 + 1.96 * 0.025, abs=0.006)
    assert bootstrap_ci(x) == (lo, hi)  # seeded: the same interval every time
    cols = np.stack([x, np.ones(400), np.r_[x[:-1], np.nan]], axis=1)  # one column per condition
    lo, hi = bootstrap_ci(cols, axis=0)
    assert lo[1] == hi[1] == 1.0  # no spread, no interval
    assert lo[2] < 0.5 < hi[2]  # the NaN sample is left out
    lo, hi = bootstrap_ci(np.array([[1.0], [np.nan]]), axis=0)
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    with pytest.raises(ValueError, match=r"level must be a finite number in \(0, 1\), got 95"):
        bootstrap_ci(x, level=95)
