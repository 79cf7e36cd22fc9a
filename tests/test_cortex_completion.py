"""pattern_completion(): mask placement, D(t) on a flow solved by hand and against record(), accuracy."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import neurodcn as nd
from neurodcn.cortex import center_mask, mask_slices
from neurodcn.nn.classifier import Classifier
from neurodcn.schema import validate_dataset


def test_mask_placement():
    assert mask_slices(32, 32, 14) == (slice(9, 23), slice(9, 23))  # the DCN reference's x[:, :, 9:23, 9:23]
    # H - n odd: the square sits half a pixel above / left of the centre
    assert mask_slices(16, 17, 5) == (slice(5, 10), slice(6, 11))
    assert mask_slices(8, 8, 0) == (slice(4, 4), slice(4, 4)) and mask_slices(8, 8, 8) == (slice(0, 8),) * 2
    x = torch.rand(2, 3, 32, 32)
    expected = x.clone()
    expected[:, :, 9:23, 9:23] = 0
    assert torch.equal(center_mask(x, 14), expected) and not torch.equal(x, expected)
    with pytest.raises(ValueError, match="mask size n must be within"):
        mask_slices(8, 8, 9)


class Relax(nn.Module):
    """dh/dt = b - h: h(t) = b + (h0 - b) exp(-t)."""

    def __init__(self, b: float):
        super().__init__()
        self.b = b

    def forward(self, t, h):
        return self.b - h


def _relaxation_model(b=0.5, threshold=0.45):
    solver = nd.SolverConfig(rtol=1e-9, atol=1e-10, adjoint=False)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():  # class 0 when the mean of h(T) exceeds threshold
        head[2].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        head[2].bias.copy_(torch.tensor([-threshold, threshold]))
    model = Classifier(
        nn.Identity(),
        [nd.ODEBlock(Relax(b), solver)],
        [],
        head,
        {"name": "relax", "in_channels": 1, "num_classes": 2},
    )
    return model.double()


def test_d_of_t_on_a_flow_solved_by_hand():
    b, T = 0.5, 2.0
    model = _relaxation_model(b)
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    vc = nd.VirtualCortex(model, image_size=8, batch_size=3, progress=False)
    times = [0.0, 0.5, 1.0, 2.0]
    ds = vc.pattern_completion(x, torch.tensor([0, 1, 0, 1]), mask_sizes=[0, 2, 4], times=times)
    validate_dataset(ds)
    h0 = x.numpy()[:, 0]
    for mi, n in enumerate([0, 2, 4]):
        hm = h0.copy()
        r, c = slice((8 - n) // 2, (8 - n) // 2 + n), slice((8 - n) // 2, (8 - n) // 2 + n)
        hm[:, r, c] = 0
        for ti, t in enumerate(times):
            decay = math.exp(-t)
            intact = b + (h0 - b) * decay
            expected = np.abs(h0 - hm).sum(axis=(1, 2)) * decay / np.abs(intact).sum(axis=(1, 2))
            np.testing.assert_allclose(ds.D_block1.values[mi, :, ti], expected, rtol=1e-6, atol=1e-12)
        mean_T = (b + (hm - b) * math.exp(-T)).mean(axis=(1, 2))
        predicted = np.where(mean_T > 0.45, 0, 1)
        assert float(ds.accuracy[mi]) == np.mean(predicted == np.array([0, 1, 0, 1]))
    np.testing.assert_array_equal(ds.D_block1.values[0], 0.0)
    assert ds.D_block1.attrs["units"] == "1" and ds.mask_size.attrs["units"] == "pixel"


def test_d_of_t_matches_records_of_masked_and_intact_images():
    model = nd.build_model("dcn-ode", width=4, seed=0)
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    labels = torch.tensor([1, 2, 3])
    vc = nd.VirtualCortex(model, image_size=16, batch_size=8, progress=False)
    times = [0.0, 1.0, 2.0]
    ds = vc.pattern_completion(x, labels, mask_sizes=[0, 6], times=times)
    intact, masked = vc.record(x, times), vc.record(center_mask(x, 6), times)
    for k in (1, 2, 3):
        a, m = (
            intact[f"block{k}"]["h"].values.astype(np.float64),
            masked[f"block{k}"]["h"].values.astype(np.float64),
        )
        expected = np.abs(a - m).sum(axis=(2, 3, 4)) / np.abs(a).sum(axis=(2, 3, 4))
        np.testing.assert_allclose(ds[f"D_block{k}"].sel(mask_size=6).values, expected, rtol=1e-6)
        assert ds[f"D_block{k}"].dims == ("mask_size", "stimulus", "time")
    with torch.no_grad():
        for n in (0, 6):
            acc = (model(center_mask(x, n)).argmax(1) == labels).double().mean().item()
            assert float(ds.accuracy.sel(mask_size=n)) == acc
    np.testing.assert_array_equal(ds.time_ms.values, [50.0, 75.0, 100.0])


def test_resnet_gets_accuracy_only_and_inputs_are_checked():
    resnet = nd.build_model("resnet-blocks", width=4, seed=0)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    vc = nd.VirtualCortex(resnet, image_size=16, progress=False)
    ds = vc.pattern_completion(x, [0, 1], mask_sizes=[0, 8])
    assert set(ds.data_vars) == {"accuracy", "correct"} and "time" not in ds.dims
    with torch.no_grad():
        assert (
            float(ds.accuracy.sel(mask_size=8))
            == (resnet(center_mask(x, 8)).argmax(1) == torch.tensor([0, 1])).double().mean().item()
        )
    with pytest.raises(ValueError, match="times must be None"):
        vc.pattern_completion(x, [0, 1], mask_sizes=[0, 8], times=[1.0])
    with pytest.raises(ValueError, match="mask_sizes must be"):
        vc.pattern_completion(x, [0, 1], mask_sizes=[17])
    with pytest.raises(ValueError, match="mask_sizes must be"):
        vc.pattern_completion(x, [0, 1], mask_sizes=[2.5])
