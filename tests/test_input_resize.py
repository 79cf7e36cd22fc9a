"""Images of another size than the model's input: every experiment resizes them the same way (nd.resize, cubic,
antialiased, in float64, clipped to [0, 1]) and says so in its provenance attrs."""

import numpy as np
import pytest
import torch
import xarray as xr

import neurodcn as nd


@pytest.fixture(scope="module")
def vc():
    return nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0), image_size=16, batch_size=8, progress=False)


def _resized(x):
    return nd.resize(x.double(), out_size=(16, 16)).clamp(0, 1).float()


def test_record_resizes_like_rsa_and_records_it(vc):
    big = torch.rand(4, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    rec = vc.record(big, times=[0.0, 2.0])  # refused before: "images must have shape [N >= 1, 3, 16, 16]"
    same = vc.record(_resized(big), times=[0.0, 2.0])
    for k in (1, 2, 3):
        xr.testing.assert_identical(rec[f"block{k}"].to_dataset(), same[f"block{k}"].to_dataset())
    assert rec.attrs["stimulus_size_px"] == [40, 40] and same.attrs["stimulus_size_px"] == [16, 16]
    assert rec.attrs["stimulus_resize"] == "resized from 40 x 40 px to 16 x 16 px (nd.resize: cubic, antialiased)"
    assert same.attrs["stimulus_resize"] == "none"
    brain = np.random.default_rng(0).random(6)  # an RDM of 4 stimuli
    rsa = vc.rsa(big, {"V1": brain}, n_boot=2)
    assert rsa.attrs["stimulus_resize"] == rec.attrs["stimulus_resize"]
    assert rsa.attrs["stimulus_size_px"] == [40, 40]
    labels = torch.tensor([0, 1, 2, 3])
    sweep = vc.contrast_sweep(big, labels, contrasts=[1.0])
    np.testing.assert_array_equal(sweep["accuracy"], vc.contrast_sweep(_resized(big), labels, [1.0])["accuracy"])
    assert sweep.attrs["stimulus_resize"] == rec.attrs["stimulus_resize"]
    pc = vc.pattern_completion(big, labels, mask_sizes=[0], times=[2.0])
    assert pc.attrs["stimulus_resize"] == rec.attrs["stimulus_resize"]
