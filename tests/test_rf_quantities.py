"""Receptive-field quantities: one layer's kernel extent (vc.receptive_fields) is named as such, the cumulative
receptive field (vc.theoretical_rf) is on the VirtualCortex, pixel quantities carry units "pixel", and files
written with the old names load under the new ones."""

import math

import numpy as np
import pytest

import neurodcn as nd
from neurodcn.cortex.rf_size import theoretical_rf


@pytest.fixture(scope="module")
def vc():
    return nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0), image_size=16, visual_degrees=4.0,
                            progress=False)


def test_kernel_extent_is_named_as_one_layer_s(vc):
    rf = vc.receptive_fields()
    assert "rf_size_deg" not in rf and "rf_size_px" not in rf
    sigma = rf["sigma_px"].values
    k = np.array([2 * math.ceil(2 * s + 0.5) + 1 for s in sigma])  # SRF kernel size by hand
    np.testing.assert_array_equal(rf["kernel_size_px"].values, k)
    deg_per_px = 4.0 / 16  # of the image; a layer's input map has map_stride_px image pixels per pixel
    np.testing.assert_allclose(rf["kernel_size_deg"].values, k * rf["map_stride_px"].values * deg_per_px)
    for name in ("kernel_size_px", "kernel_size_deg", "sigma_px", "sigma_deg", "preferred_sf"):
        assert "one layer" in rf[name].attrs["comment"] or "filter" in rf[name].attrs["comment"], name
    assert "not a unit's receptive field" in rf["kernel_size_deg"].attrs["comment"]
    for name in ("kernel_size_px", "sigma_px", "map_stride_px"):
        assert rf[name].attrs["units"] == "pixel", name


def test_cumulative_receptive_field_on_the_cortex(vc):
    theory = vc.theoretical_rf()
    want = theoretical_rf(vc.model, visual_degrees=4.0, image_width=16)
    np.testing.assert_array_equal(theory["rf_size_px"].values, want["rf_size_px"].values)
    # hand arithmetic for the first two layers: r_1 = K_1, r_2 = r_1 + (K_2 - 1) * stride_1
    k, s = theory["kernel_size"].values, theory["stride"].values
    assert theory["rf_size_px"].values[0] == k[0]
    assert theory["rf_size_px"].values[1] == k[0] + (k[1] - 1) * s[0]
    np.testing.assert_allclose(theory["rf_size_deg"].values, theory["rf_size_px"].values * 0.25)
    assert theory["rf_size_px"].attrs["units"] == "pixel" and "cumulative" in theory["rf_size_px"].attrs["comment"]
    assert theory.attrs["visual_degrees"] == 4.0 and theory.attrs["image_width"] == 16


def test_old_names_of_written_files_still_load(vc, tmp_path):
    rf = vc.receptive_fields()
    old = rf.rename(kernel_size_px="rf_size_px", kernel_size_deg="rf_size_deg")
    path = nd.save_dataset(old, tmp_path / "old_rf.nc")
    back = nd.load_dataset(path)
    np.testing.assert_array_equal(back["kernel_size_deg"].values, rf["kernel_size_deg"].values)
    assert "rf_size_deg" not in back and "renamed from rf_size_deg" in back["kernel_size_deg"].attrs["comment"]
