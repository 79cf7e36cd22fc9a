"""analyses/v1_properties.py on a tiny temporary checkpoint with --quick: files, datasets, numbers, figures."""

import importlib
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import neurodcn as nd  # noqa: E402
from neurodcn.analysis.biology import prf_size  # noqa: E402
from neurodcn.analysis.plots import (  # noqa: E402
    plot_property_vs_biology,
    plot_rf_size_vs_depth,
    plot_size_tuning_contrast,
    plot_unit_tuning,
)
from neurodcn.analysis.property_score import score_property  # noqa: E402
from neurodcn.io.files import load_dataset  # noqa: E402

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
    } <= names
    assert all((out / n).is_file() for n in names)
    assert index["runs"]["v1_properties"]["settings"]["quick"] is True
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


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    code = v1_properties.main(["--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path), "--quick"])
    assert code == 2 and "is neither a file nor a bundled checkpoint" in capsys.readouterr().err
