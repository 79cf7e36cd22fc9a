"""vc.rsa and vc.predictivity: features from the solver's own grid, any stimulus size, NWB and DataArray input."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.spatial.distance import pdist

import neurodcn as nd
from neurodcn.cortex.compare import block_features, prepare_stimuli

pytest.importorskip("rsatoolbox")


@pytest.fixture(scope="module")
def vc():
    return nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0), image_size=16, batch_size=8, progress=False)


def _stimuli(n=12, size=24, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_features_are_the_recorded_states_pooled(vc):
    x = _stimuli(size=16)
    times = [0.0, 1.0, 2.0]
    feats, t = block_features(vc, x, times, pool=None)
    rec = vc.record(x, times)
    np.testing.assert_array_equal(t, times)
    for k in (1, 2, 3):
        h = rec[f"h_block{k}"].values.transpose(1, 0, 2, 3, 4).reshape(3, 12, -1)
        np.testing.assert_allclose(feats[f"block{k}"], h, rtol=1e-5, atol=1e-6)
    pooled, _ = block_features(vc, x, times, pool=2)
    full = rec["h_block1"].values  # (stimulus, time, C, H, W): 2 x 2 means of the H x W map (H, W even)
    n, _, c, h, w = full.shape
    assert h % 2 == 0 and w % 2 == 0
    want = full.reshape(n, 3, c, 2, h // 2, 2, w // 2).mean(axis=(4, 6)).transpose(1, 0, 2, 3, 4).reshape(3, n, -1)
    np.testing.assert_allclose(pooled["block1"], want, rtol=1e-5, atol=1e-6)


def test_stimuli_of_any_size_are_resized_with_nd_resize(vc):
    x = _stimuli(size=40)
    got = prepare_stimuli(vc, x)
    want = nd.resize(x.double(), out_size=(16, 16), antialias=True).clamp(0, 1).float()
    torch.testing.assert_close(got, want)
    with pytest.raises(TypeError, match="stimuli must be"):
        prepare_stimuli(vc, np.zeros((2, 3, 8, 8), dtype=np.uint8))


def test_rsa_dataset_against_a_brain_made_of_the_model(vc, tmp_path):
    x = _stimuli(n=14, size=24)
    feats, times = block_features(vc, x, pool=4)
    # a "brain" whose RDM is block 2's at the last model time: similarity 1 there
    brain = pdist(feats["block2"][-1], "correlation")
    ds = vc.rsa(x, {"copy": brain}, n_boot=20, method="spearman")
    assert ds["similarity"].dims == ("block", "time", "region")
    assert ds["similarity"].sel(block="block2", region="copy").values[-1] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(ds["time_ms"], vc.onset_ms + vc.ms_per_unit_time * ds["time"])
    assert ds.attrs["neurodcn_experiment"] == "rsa" and ds.attrs["stimulus_size_px"] == [24, 24]
    assert ds["similarity"].attrs["units"] == "1" and ds["time_ms"].attrs["units"] == "ms"
    back = nd.load_dataset(nd.save_dataset(ds, tmp_path / "rsa.nc"))
    xr.testing.assert_allclose(back["similarity"], ds["similarity"])


def test_predictivity_from_an_nwb_recording(vc, tmp_path):
    pytest.importorskip("pynwb")
    x = _stimuli(n=30, size=16, seed=1)
    rec = vc.record(x, [0.0, 1.0, 2.0])
    path = nd.to_nwb(rec, tmp_path / "lab.nwb", positions="centre", channels=[0, 1])
    ds = vc.predictivity(x, path, times=[0.0, 1.0, 2.0], n_boot=10, pool=None, n_splits=3)
    # the recorded units are centre units of block 1 itself; with fewer stimuli than features ridge spreads
    # its weights (minimum-norm), so r < 1, but each recorded time is best predicted by its own model time
    assert set(ds["region"].values) == {"block1", "block2", "block3"}
    assert ds["median_r"].dims == ("block", "time", "region", "time_bin")
    same = ds["median_r"].sel(block="block1", region="block1").values
    np.testing.assert_array_equal(np.argmax(same, axis=0), [0, 1, 2])
    assert np.all(np.diagonal(same) > 0)
    assert "no noise ceiling possible" in ds.attrs["ceiling_note"]
    assert {"onset_ms_fit", "ms_per_unit_time_fit"} <= set(ds.data_vars)
