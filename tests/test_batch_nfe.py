"""batch_nfe(): NFE of the model's own batched solve per batch, against hand counts and the model's counters."""

import numpy as np
import pytest
import torch

import neurodcn as nd
from neurodcn.cortex.batch_nfe import batch_nfe
from neurodcn.schema import validate_dataset

X = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(2))


def _cortex(**solver):
    return nd.VirtualCortex(nd.build_model("dcn-ode", width=4, seed=0, **solver), image_size=16, progress=False)


def test_fixed_grid_counts_equal_the_hand_count():
    vc = _cortex(solver=dict(method="rk4", step_size=0.5, adjoint=False))
    ds = validate_dataset(batch_nfe(vc, X, 1.0, "naive", batch_size=4))
    assert ds.batch_images.values.tolist() == [4, 2] and ds.attrs["batch_size"] == 4
    assert ds.nfe.values.tolist() == [[16, 16, 16]] * 2  # rk4: 4 evaluations x (T 2 / step 0.5) steps per block
    # c = 0.5: scale_all integrates every block to T 1 (2 steps), scale_T_block1 only block 1
    assert batch_nfe(vc, X, 0.5, "scale_all", batch_size=4).nfe.values.tolist() == [[8, 8, 8]] * 2
    assert batch_nfe(vc, X, 0.5, "scale_T_block1").nfe.values.tolist() == [[8, 16, 16]]
    assert (float(ds.contrast), ds.regime.item()) == (1.0, "naive")


def test_adaptive_counts_equal_the_models_counter_after_a_plain_forward():
    vc = _cortex()
    model = vc.model.train()
    ds = batch_nfe(vc, X, 0.25, "naive", batch_size=4)
    assert model.training  # its mode comes back
    model.eval()
    for b, sl in enumerate([slice(0, 4), slice(4, 6)]):
        with torch.no_grad():
            model(0.25 * X[sl])
        assert ds.nfe.values[b].tolist() == [r["forward_nfe"] for r in model.nfe_report()]
        assert int(ds.nfe.values[b].sum()) == model.total_nfe().forward_nfe > 0
    # the batch's one solve is not the mean of its images' own solves (per-image engine)
    own = vc.contrast_sweep(X, torch.zeros(6, dtype=torch.int64), [0.25], per_image=True).nfe_per_image.values
    assert not np.allclose(ds.nfe.values[0], own[:4, 0].mean(axis=0))


def test_bad_inputs_are_named():
    vc = _cortex()
    with pytest.raises(ValueError, match="contrast"):
        batch_nfe(vc, X, 0.0)
    with pytest.raises(ValueError, match="regime"):
        batch_nfe(vc, X, 1.0, "sideways")
