"""No sweep hangs: solver effort is bounded per solve and in total, failures are flagged with their reason, and
what was computed before a failure is kept. Also: rounding overshoot is clipped, and impossible geometry or
malformed model inputs fail at the boundary."""

import re

import numpy as np
import pytest
import torch
import xarray as xr

import neurodcn as nd
from neurodcn.cortex.sweep import FAILURE_MEANINGS

STEPS, UNDERFLOW, NON_FINITE, TIME = (FAILURE_MEANINGS.index(m) for m in
                                      ("max_num_steps", "dt_underflow", "non_finite", "time_budget"))


def _odenet(solver):
    torch.manual_seed(0)
    return nd.build_model("odenet", width=4, solver=solver)


def _images(n, size=10, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def tight():
    """dopri5 at rtol = atol = 1e-12: a float32 solve that cannot meet its tolerance."""
    return nd.VirtualCortex(_odenet({"method": "dopri5", "rtol": 1e-12, "atol": 1e-12, "adjoint": False}),
                            image_size=10, progress=False, batch_size=2)


def test_contrast_sweep_at_impossible_tolerance_ends_with_a_flag(tight):
    ds = tight.contrast_sweep(_images(1), [0], [1.0], max_num_steps=100)  # the default (1000) costs minutes of CPU
    assert ds.solver_failed.values.tolist() == [1]
    assert set(ds.solver_failure.values.tolist()) <= {STEPS, UNDERFLOW}
    assert np.isnan(ds.accuracy.values).all()
    assert ds.solver_failure.attrs["flag_meanings"].split() == list(FAILURE_MEANINGS)
    assert tight.model.blocks[0].solver.max_num_steps is None  # the model's own solver is restored


def test_step_cap_is_reported_as_steps(tight):
    ds = tight.contrast_sweep(_images(2), [0, 1], [1.0], max_num_steps=3)
    assert ds.solver_failure.values.tolist() == [STEPS]


def test_time_budgets_stop_solves_and_skip_the_rest(tight):
    ds = tight.contrast_sweep(_images(2), [0, 1], [0.5, 1.0], solve_budget_s=1e-9)
    assert ds.solver_failure.values.tolist() == [TIME, TIME]
    ds = tight.contrast_sweep(_images(2), [0, 1], [0.5, 1.0], time_budget_s=1e-9)
    assert ds.solver_failure.values.tolist() == [TIME, TIME]


def _nan_for_blank_batches(model):
    """Make the stem's output NaN for batches whose first image is blank: a real non-finite state downstream."""
    def hook(_, args, out):
        return out * float("nan") if float(args[0][0].abs().sum()) == 0 else out
    return model.stem.register_forward_hook(hook)


def _good_then_bad(n_good=2, n_bad=2):
    return torch.cat([_images(n_good), torch.zeros(n_bad, 3, 10, 10)])


@pytest.mark.parametrize("out", [None, "rec.zarr"])
def test_record_keeps_the_batches_done_before_a_failure(tmp_path, out):
    vc = nd.VirtualCortex(_odenet({"method": "euler", "step_size": 0.5}), image_size=10, progress=False,
                          batch_size=2)
    times = [0.5, 1.0, 2.0]
    clean = vc.record(_images(2), times)
    handle = _nan_for_blank_batches(vc.model)
    try:
        ds = vc.record(_good_then_bad(), times, out=None if out is None else tmp_path / out)
    finally:
        handle.remove()
    assert ds.solver_failure.values.tolist() == [0, 0, NON_FINITE, NON_FINITE]
    for k in (1, 2, 3):
        h = ds[f"block{k}/h"].values
        np.testing.assert_array_equal(h[:2], clean[f"block{k}/h"].values)
        assert np.isnan(h[2:]).all()
        assert ds[f"block{k}/solver_step_time"].sizes["step"] > 0
        # the fixed grid was stepped for the failed images too; only their states are NaN
        np.testing.assert_array_equal(ds[f"block{k}/solver_step_time"].values[2:], [[0.0, 0.5, 1.0, 1.5, 2.0]] * 2)
    if out is not None:
        assert xr.open_zarr(tmp_path / out).attrs["neurodcn_store"] == "complete"


def test_pattern_completion_keeps_results_before_a_failure():
    vc = nd.VirtualCortex(_odenet({"method": "euler", "step_size": 0.5}), image_size=10, progress=False,
                          batch_size=2)
    clean = vc.pattern_completion(_images(2), [0, 1], [0, 4])
    handle = _nan_for_blank_batches(vc.model)
    try:
        ds = vc.pattern_completion(_good_then_bad(), [0, 1, 2, 3], [0, 4])
    finally:
        handle.remove()
    assert ds.solver_failure.values[:, :2].tolist() == [[0, 0], [0, 0]]
    assert (ds.solver_failure.values[:, 2:] == NON_FINITE).all() and (ds.correct.values[:, 2:] == -1).all()
    np.testing.assert_array_equal(ds.correct.values[:, :2], clean.correct.values)
    np.testing.assert_array_equal(ds.D_block1.values[:, :2], clean.D_block1.values)
    assert np.isnan(ds.D_block1.values[:, 2:]).all() and np.isnan(ds.accuracy.values).all()


def test_record_clips_rounding_overshoot_and_rejects_real_overshoot():
    vc = nd.VirtualCortex(_odenet({"method": "euler", "step_size": 1.0}), image_size=10, progress=False)
    x = _images(1, size=10)
    x[0, 0, 0, 0], x[0, 1, 0, 0] = float(np.nextafter(np.float32(1), np.float32(2))), -1e-7  # 1.0000001192...
    clipped = x.clamp(0, 1)
    got, want = vc.record(x, [1.0]), vc.record(clipped, [1.0])
    for k in (1, 2, 3):
        xr.testing.assert_equal(got[f"block{k}/h"], want[f"block{k}/h"])
    for bad in (1.001, -0.001):
        y = clipped.clone()
        y[0, 0, 0, 0] = bad
        with pytest.raises(ValueError, match=r"images must hold finite values in \[0, 1\]"):
            vc.record(y, [1.0])


def test_impossible_image_size_names_the_minimum():
    # odenet: stem conv 3 (valid) then two downsamplings (k 4, s 2, p 1): 10 -> 8 -> 4 -> 2 px, but 9 -> 7 -> 3
    # -> 1 px, where the last GroupNorm (16 groups of one channel) would see one value per group
    model = _odenet({"method": "euler", "step_size": 1.0})
    for size in (4, 9, (32, 9)):
        with pytest.raises(ValueError, match=r"image_size must be at least 10 x 10 px .* got " + re.escape(str(size))):
            nd.VirtualCortex(model, image_size=size)
    assert nd.VirtualCortex(model, image_size=10, progress=False).geometry[-1].height == 2


@pytest.mark.parametrize("x, error, message", [
    (torch.rand(3, 10, 10), ValueError, r"x must be a tensor \[N, 3, H, W\].*got shape \(3, 10, 10\)"),
    (torch.rand(1, 1, 8, 8), ValueError, r"3 channels.*got shape \(1, 1, 8, 8\)"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), TypeError, "dtype torch.float32, got torch.uint8"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.float64), TypeError, "dtype torch.float32, got torch.float64"),
    (torch.rand(1, 3, 9, 9), ValueError, r"at least 10 x 10 px.*got shape \(1, 3, 9, 9\)"),
    (np.zeros((1, 3, 8, 8), np.float32), TypeError, "x must be a torch.Tensor"),
])
@pytest.mark.parametrize("name", ["odenet", "resnet-blocks"])
def test_model_inputs_are_checked_before_torch_sees_them(name, x, error, message):
    model = nd.build_model(name, width=4, **({"solver": {"method": "euler", "step_size": 1.0}}
                                             if name == "odenet" else {}))
    with pytest.raises(error, match=message):
        model(x)
    assert model(torch.rand(1, 3, 10, 10)).shape == (1, 10)  # the smallest size works (hand-worked above)
