"""analyses/v1_properties.py on a tiny temporary checkpoint with --quick: files, datasets, numbers, figures; the
properties read at other image widths (neurodcn.analysis.physiology_fits.at_field_size) against physiology
actually run at those widths."""

import importlib
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import neurodcn as nd  # noqa: E402
from neurodcn.analysis.biology import prf_size, reference_histogram  # noqa: E402
from neurodcn.analysis.physiology_fits import (  # noqa: E402
    FIELD_SCALING,
    at_field_size,
    compare_across_field_sizes,
)
from neurodcn.analysis.plots import (  # noqa: E402
    plot_property_vs_biology,
    plot_rf_size_vs_depth,
    plot_score_vs_field_size,
    plot_size_tuning_contrast,
    plot_unit_tuning,
)
from neurodcn.analysis.property_score import bin_index, score_property  # noqa: E402
from neurodcn.data.stimuli import grating_grid  # noqa: E402
from neurodcn.io.files import load_dataset  # noqa: E402
from neurodcn.schema import CYCLES_PER_DEGREE, DEGREE  # noqa: E402

v1_properties = importlib.import_module("analyses.v1_properties")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("v1")
    model = nd.build_model(
        "dcn-ode", width=4, seed=0, solver=dict(method="euler", step_size=1.0, adjoint=False)
    )
    ckpt = nd.save_checkpoint(model, tmp / "tiny.pt")
    out = tmp / "out"
    code = v1_properties.main(["--checkpoint", str(ckpt), "--out", str(out), "--quick", "--no-progress"])
    return code, out


@pytest.mark.slow
def test_quick_run_writes_datasets_and_figures(quick_run):
    code, out = quick_run
    assert code == 0
    index = json.loads((out / "index.json").read_text())
    names = set(index["files"])
    assert {"v1_physiology.nc", "v1_physiology_fits.nc", "v1_biology.nc", "v1_rf_size.nc"} <= names
    assert {
        "v1_peak_spatial_frequency.png",
        "v1_rf_size_vs_depth.png",
        "v1_size_tuning_contrast.png",
        "v1_field_size.nc",
        "v1_field_size.csv",
        "v1_score_vs_field_size.png",
    } <= names
    assert all((out / n).is_file() for n in names)
    assert index["runs"]["v1_properties"]["settings"]["quick"] is True
    assert index["runs"]["v1_properties"]["settings"]["field_sizes"] == [4.0, 8.0, 16.0]
    curves = load_dataset(out / "v1_physiology.nc")
    assert curves.sizes["orientation"] == 4 and curves.sizes["spatial_frequency"] == 4
    assert curves.sizes["unit"] == 4 + 8 + 16  # every channel of the three blocks


@pytest.mark.slow
def test_comparison_numbers_follow_from_the_fits_file(quick_run):
    _, out = quick_run
    fits = load_dataset(out / "v1_physiology_fits.nc")
    comp = load_dataset(out / "v1_biology.nc")
    ok = fits["responsive"].values == 1
    sf = fits["preferred_sf"].values[ok]
    expected = score_property(sf, "peak_spatial_frequency")["score"].isel(property=0)
    np.testing.assert_allclose(comp["score"].sel(property="peak_spatial_frequency"), expected)
    ratio = fits["gsf_ratio_low_high"]
    gsf = fits["gsf_diameter"].values
    np.testing.assert_allclose(ratio.values, gsf[:, 0] / gsf[:, 1])
    assert ratio.attrs["median"] == pytest.approx(np.nanmedian(ratio.values))


@pytest.mark.slow
def test_figures_draw_what_the_datasets_hold(quick_run):
    _, out = quick_run
    curves, fits = load_dataset(out / "v1_physiology.nc"), load_dataset(out / "v1_physiology_fits.nc")
    comp, rf = load_dataset(out / "v1_biology.nc"), load_dataset(out / "v1_rf_size.nc")
    fig = plot_property_vs_biology(comp, "spatial_frequency_bandwidth")
    bars = fig.axes[0].patches
    n_bins = comp.sizes["bin_spatial_frequency_bandwidth"]
    np.testing.assert_allclose(
        [b.get_height() for b in bars[n_bins:]], comp["model_fraction_spatial_frequency_bandwidth"].values
    )
    fig = plot_rf_size_vs_depth(rf, fits, eccentricity=2.0)
    right = fig.axes[1]
    np.testing.assert_allclose(
        [b.get_height() for b in right.patches], [prf_size(2.0, a) for a in ("V1", "V2", "V3", "hV4")]
    )
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), rf["rf_size_deg"].values)
    assert isinstance(plot_size_tuning_contrast(curves, fits), Figure)
    assert len(plot_unit_tuning(curves, fits, "block1/ch0").axes) == 4
    with pytest.raises(ValueError, match="property_name"):
        plot_property_vs_biology(comp, "orientation")
    with pytest.raises(ValueError, match="unit"):
        plot_unit_tuning(curves, fits, "block9/ch0")


@pytest.mark.slow
def test_field_size_table_follows_from_the_fits_file(quick_run):
    _, out = quick_run
    fits = load_dataset(out / "v1_physiology_fits.nc")
    by_size, base = load_dataset(out / "v1_field_size.nc"), load_dataset(out / "v1_biology.nc")
    table = pd.read_csv(out / "v1_field_size.csv")
    props = list(base["property"].values)
    assert table["property"].tolist() == props
    widths = ["4", "8", "16"]
    assert table.columns.tolist() == ["property", "units", "n_model", "ceiling"] + [
        f"score_{v}deg{s}" for v in widths for s in ("", "_low", "_high")
    ]
    assert table["units"].tolist() == ["cycles/degree", "percent", "degree", "1"]
    # the cortex's own width (8 deg) is the ordinary comparison, number for number
    np.testing.assert_array_equal(table["score_8deg"], base["score_mean"].values)
    np.testing.assert_array_equal(table["score_8deg_low"], base["score_ci_low"].values)
    np.testing.assert_array_equal(table["n_model"], base["n_model"].values)
    # ratios do not depend on the width; the ceiling never does
    for prop in ("spatial_frequency_bandwidth", "surround_suppression_index"):
        row = table.set_index("property").loc[prop]
        assert row["score_4deg"] == row["score_8deg"] == row["score_16deg"]
    assert (by_size["ceiling"].values == base["ceiling"].values).all()
    # at 16 deg the model's peak-SF histogram is that of half the cycles/deg measured at 8 deg
    ok = fits["responsive"].values == 1
    sf16 = fits["preferred_sf"].values[ok] / 2
    sf16 = sf16[np.isfinite(sf16)]
    edges = reference_histogram("peak_spatial_frequency")[0].edges
    expected = np.bincount(bin_index(sf16, edges), minlength=edges.size - 1) / sf16.size
    got = by_size["model_fraction_peak_spatial_frequency"].sel(field_size=16.0).values
    np.testing.assert_allclose(got, expected)
    expected = score_property(sf16, "peak_spatial_frequency")["score_mean"].item()
    assert table.set_index("property").loc["peak_spatial_frequency", "score_16deg"] == pytest.approx(expected)
    fig = plot_score_vs_field_size(by_size)
    for k, line in enumerate(fig.axes[0].lines[: len(props)]):  # one line per property, then the dashed 1
        np.testing.assert_allclose(line.get_ydata(), table.iloc[k][[f"score_{v}deg" for v in widths]].astype(float))
    with pytest.raises(ValueError, match="physiology_biology_field_size"):
        plot_score_vs_field_size(base)


FIELD_PARAMS = dict(
    orientations=[0, 90],
    phases=[0, 180],
    size_contrasts=[0.5, 1],
    contrasts=[0, 0.5, 1],
    times=[1, 2],
    blocks=[1],
)
SF_8DEG, APERTURES_8DEG = np.array([0.25, 0.5, 1.0]), np.array([2.0, 4.0, 8.0])


@pytest.fixture(scope="module")
def tiny_model():
    return nd.build_model("dcn-ode", width=4, seed=0, solver=dict(method="euler", step_size=1.0, adjoint=False))


@pytest.fixture(scope="module")
def fits_8deg(tiny_model):
    vc = nd.VirtualCortex(tiny_model, visual_degrees=8.0, progress=False)
    return vc.physiology(spatial_frequencies=SF_8DEG, aperture_diameters=APERTURES_8DEG, **FIELD_PARAMS)[1]


def test_doubling_the_field_halves_cycles_per_degree_and_doubles_degrees(fits_8deg):
    wide = at_field_size(fits_8deg, 16.0)
    assert wide.attrs["visual_degrees"] == 16.0 and fits_8deg.attrs["visual_degrees"] == 8.0
    for name in ("preferred_sf", "sf_low_half", "sf_high_half", "test_sf"):  # exactly: x 0.5 rounds nothing
        np.testing.assert_array_equal(wide[name].values, 0.5 * fits_8deg[name].values)
    for name in ("gsf_diameter", "x_deg", "y_deg"):
        np.testing.assert_array_equal(wide[name].values, 2.0 * fits_8deg[name].values)
    for name in ("sf_bandwidth", "sf_bandwidth_percent", "surround_suppression_index", "c50", "latency_ms",
                 "preferred_orientation", "orientation_selectivity", "gsf_ratio_low_high"):
        np.testing.assert_array_equal(wide[name].values, fits_8deg[name].values)
    assert wide["preferred_sf"].attrs["units"] == CYCLES_PER_DEGREE  # attrs kept
    np.testing.assert_array_equal(at_field_size(wide, 8.0)["preferred_sf"], fits_8deg["preferred_sf"])


def test_field_scaling_names_every_visual_angle_and_frequency(fits_8deg):
    """Every variable or unit coord in deg or cycles/deg is rescaled, except orientations (angles in the image)."""
    named = {
        n for n, v in {**fits_8deg.data_vars, **fits_8deg.coords}.items()
        if v.attrs.get("units") in (DEGREE, CYCLES_PER_DEGREE)
    }
    assert named - {"preferred_orientation", "test_orientation"} == set(FIELD_SCALING)


def test_at_field_size_is_physiology_run_at_that_width(tiny_model, fits_8deg):
    """The grid in cycles/image and px draws the same images at 16 deg, and the model sees only the images."""
    size = (32, 32)
    a = grating_grid(size, 8.0, SF_8DEG, [30.0], [90.0], [1.0], APERTURES_8DEG, dtype=torch.float64)[0]
    b = grating_grid(size, 16.0, SF_8DEG / 2, [30.0], [90.0], [1.0], APERTURES_8DEG * 2, dtype=torch.float64)[0]
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    vc = nd.VirtualCortex(tiny_model, visual_degrees=16.0, progress=False)
    ran = vc.physiology(spatial_frequencies=SF_8DEG / 2, aperture_diameters=APERTURES_8DEG * 2, **FIELD_PARAMS)[1]
    relabelled = at_field_size(fits_8deg, 16.0)
    for name in ("preferred_sf", "sf_bandwidth_percent", "gsf_diameter", "surround_suppression_index", "x_deg"):
        np.testing.assert_allclose(ran[name].values, relabelled[name].values, rtol=1e-5, err_msg=name)
    assert ran.attrs["visual_degrees"] == relabelled.attrs["visual_degrees"] == 16.0


def test_field_size_arguments_are_checked(fits_8deg):
    for bad in (0.0, -8.0, float("nan"), "8"):
        with pytest.raises(ValueError, match="visual_degrees"):
            at_field_size(fits_8deg, bad)
    with pytest.raises(ValueError, match="field_sizes"):
        compare_across_field_sizes(fits_8deg, [16.0, 8.0])
    with pytest.raises(ValueError, match="field_sizes"):
        compare_across_field_sizes(fits_8deg, [0.0, 8.0])
    no_width = fits_8deg.copy()
    no_width.attrs = {k: v for k, v in fits_8deg.attrs.items() if k != "visual_degrees"}
    with pytest.raises(ValueError, match="visual_degrees"):
        at_field_size(no_width, 16.0)
    with pytest.raises(ValueError, match="physiology_fits"):
        at_field_size(fits_8deg.assign_attrs(neurodcn_experiment="physiology"), 16.0)


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    code = v1_properties.main(["--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path), "--quick"])
    assert code == 2 and "is neither a file nor a bundled checkpoint" in capsys.readouterr().err
