"""Same stimulus, same answer: for every experiment that runs the model, an image's result alone equals its
result inside a batch of 64 others (the bundled dcn-ode-subset, trained and solved with adaptive dopri5 at
rtol = atol = 1e-3).

The criterion (per image, relative L2 over everything the experiment reports for it): within 1e-4 for at least
99 % of images, and never beyond the solver's tolerance (1e-3): float noise of batched convolutions may flip a
step decision that sits exactly on the threshold.
"""

import numpy as np
import pytest
import torch

import neurodcn as nd
from neurodcn.cortex.faithfulness import solver_agreement

TOLERANCE = 1e-3  # the bundled dcn-ode-subset's rtol = atol
N = 65  # one image and 64 others: the batch size
MANY = 195  # images recorded alone and in batches: enough to measure a 99 % fraction (at most 1 image beyond)
ALONE = 8  # images also solved alone in the slower experiments


@pytest.fixture(scope="module")
def vc():
    return nd.VirtualCortex.pretrained("dcn-ode-subset", progress=False, batch_size=N)


@pytest.fixture(scope="module")
def alone(vc):
    return nd.VirtualCortex.pretrained("dcn-ode-subset", progress=False, batch_size=1)


@pytest.fixture(scope="module")
def stim():
    return nd.load_stimuli("cifar10-demo", num_images=N)


@pytest.fixture(scope="module")
def many():
    """195 images: the 128 demo images and the first 67 of them mirrored."""
    x = nd.load_stimuli("cifar10-demo").images
    return torch.cat([x, x.flip(-1)])[:MANY]


def _relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image (axis 0): ||a - b|| / ||b||, over everything else."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


def _invariant(rel: np.ndarray) -> None:
    assert np.mean(rel <= 1e-4) >= 0.99, f"only {np.mean(rel <= 1e-4):.1%} of images within 1e-4: {np.sort(rel)}"
    assert rel.max() <= TOLERANCE, f"an image moved by {rel.max():.2e}, beyond the solver's tolerance"


def test_the_bundled_model_is_adaptive_so_the_test_means_something(vc):
    assert vc.model.blocks[0].solver.adaptive and vc.model.blocks[0].solver.rtol == TOLERANCE


def test_record_h_nfe_and_solver_states(vc, alone, many):
    times = [0.0, 0.3, 1.0, 1.7, 2.0]
    batch = vc.record(many, times)
    one = [alone.record(many[i:i + 1], times) for i in range(MANY)]
    for k in (1, 2, 3):
        h = np.concatenate([r[f"block{k}"].h.values for r in one])
        _invariant(_relative(batch[f"block{k}"].h.values, h))
        steps = [r[f"block{k}"].solver_step_time.values[0] for r in one]
        same = [len(s[~np.isnan(s)]) == np.isfinite(b).sum() for s, b in
                zip(steps, batch[f"block{k}"].solver_step_time.values, strict=True)]
        assert np.mean(same) >= 0.99  # the same number of solver states: the same NFE
        states = np.concatenate([r[f"block{k}"].solver_state.values for r in one])
        assert np.mean((states == batch[f"block{k}"].solver_state.values).all(axis=1)) >= 0.99


def test_contrast_sweep_correct_and_nfe(vc, alone, stim):
    args = dict(contrasts=[0.3, 1.0], regime="scale_all", per_image=True)
    batch = vc.contrast_sweep(stim.images, stim.labels, **args)
    for i in range(ALONE):
        one = alone.contrast_sweep(stim.images[i:i + 1], stim.labels[i:i + 1], **args)
        np.testing.assert_array_equal(one.correct.values[0], batch.correct.values[i])
        np.testing.assert_array_equal(one.nfe_per_image.values[0], batch.nfe_per_image.values[i])
    assert len(np.unique(batch.nfe_per_image.values)) > 1  # the images took their own numbers of steps


def test_pattern_completion_d_of_t(vc, alone, stim):
    args = dict(mask_sizes=[0, 8], times=[0.0, 1.0, 2.0])
    batch = vc.pattern_completion(stim.images, stim.labels, **args)
    one = [alone.pattern_completion(stim.images[i:i + 1], stim.labels[i:i + 1], **args) for i in range(ALONE)]
    for k in (1, 2, 3):
        d = np.stack([o[f"D_block{k}"].values[1, 0] for o in one])
        _invariant(_relative(batch[f"D_block{k}"].values[1, :ALONE], d))
    np.testing.assert_array_equal(np.stack([o.correct.values[:, 0] for o in one], 1), batch.correct.values[:, :ALONE])


def test_physiology_tuning_curves(vc, alone):
    args = dict(orientations=[0, 45, 90, 135], spatial_frequencies=[0.5, 1.0], phases=[0, 180],
                aperture_diameters=[2, 8], size_contrasts=[1.0], contrasts=[0, 0.5, 1], times=[1, 2], blocks=[1])
    batch, _ = vc.physiology(**args)
    one, _ = alone.physiology(**args)
    for name in ("grating_response", "size_tuning", "contrast_response"):
        a, b = batch[name].values, one[name].values
        rel = np.abs(a - b).reshape(len(a), -1).max(axis=1) / np.abs(b).reshape(len(b), -1).max(axis=1)
        _invariant(rel)


def test_model_features_for_rsa_and_predictivity(vc, alone, stim):
    from neurodcn.cortex.compare import block_features
    feats, _ = block_features(vc, stim.images, times=[0.5, 2.0])
    ones, _ = block_features(alone, stim.images[:ALONE], times=[0.5, 2.0])
    for k in feats:
        _invariant(_relative(feats[k][:, :ALONE].transpose(1, 0, 2), ones[k].transpose(1, 0, 2)))


def test_solver_faithfulness_outputs(vc, stim):
    solvers = {"dopri5": nd.SolverConfig(adjoint=False), "rk4": nd.SolverConfig(method="rk4", step_size=0.25)}
    x = vc.check_images(stim.images)
    batch = solver_agreement(vc.model, x, stim.labels, solvers, batch_size=N, progress=False)
    one = solver_agreement(vc.model, x[:ALONE], stim.labels[:ALONE], solvers, batch_size=1, progress=False)
    np.testing.assert_array_equal(batch.forward_nfe_per_image.values[:, :ALONE], one.forward_nfe_per_image.values)
    # h(T) under dopri5 moves by at most 1e-4 of its norm, so its distance from rk4's moves by at most that much
    np.testing.assert_allclose(batch.relative_l2.sel(solver="rk4").values[:ALONE],
                               one.relative_l2.sel(solver="rk4").values, rtol=0, atol=1e-4)
