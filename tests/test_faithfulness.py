"""solver_agreement: accuracy and block outputs of one model under several solvers."""

import numpy as np
import pytest
import torch

import neurodcn as nd
from neurodcn.cortex.faithfulness import FAITHFUL_SOLVERS, faithfulness_summary, solver_agreement

EULER = dict(method="euler", step_size=1.0, adjoint=False)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(6, 3, 16, 16, generator=g), torch.randint(0, 10, (6,), generator=g)


def test_accuracy_and_distances_match_direct_solves(data):
    x, y = data
    model = nd.build_model("dcn-ode", width=4, seed=0, solver=EULER)
    solvers = {"dopri5": dict(method="dopri5", rtol=1e-7, atol=1e-7, adjoint=False), "euler": EULER,
               "rk4_0.02": dict(method="rk4", step_size=0.02, adjoint=False),
               "rk4_0.01": dict(method="rk4", step_size=0.01, adjoint=False)}
    ds = solver_agreement(model, x, y, solvers, batch_size=4, progress=False)
    assert model.blocks[0].solver == nd.SolverConfig(**EULER)  # the model's own solver is restored
    for name, solver in solvers.items():
        m = nd.build_model("dcn-ode", width=4, seed=0, solver=solver).eval()
        with torch.no_grad():
            expected = float((m(x).argmax(1) == y).float().mean())
        assert float(ds.accuracy.sel(solver=name)) == pytest.approx(expected)
    np.testing.assert_array_equal(ds.relative_l2.sel(solver="dopri5").values, 0.0)
    with torch.no_grad():  # block 1 by hand: h(T) of the stem output under both solvers
        ref = nd.build_model("dcn-ode", width=4, seed=0, solver=solvers["dopri5"]).eval()
        h0 = ref.stem(x)
        h_ref = ref.blocks[0](h0)
        h_eul = nd.build_model("dcn-ode", width=4, seed=0, solver=EULER).eval().blocks[0](h0)
    rel = ((h_eul - h_ref).flatten(1).norm(dim=1) / h_ref.flatten(1).norm(dim=1)).numpy()
    np.testing.assert_allclose(ds.relative_l2.sel(solver="euler", block=1).values, rel, rtol=1e-4)
    # rk4 converges to the dopri5 solution at 4th order: halving the step divides the distance by about 16
    coarse, fine = (float(ds.relative_l2.sel(solver=s).median()) for s in ("rk4_0.02", "rk4_0.01"))
    assert fine < 1e-3 and 8 < coarse / fine < 32
    assert ds.forward_nfe.sel(solver="euler").values.tolist() == [2.0, 2.0, 2.0]


def test_summary_applies_both_criteria(data):
    x, y = data
    model = nd.build_model("dcn-ode", width=4, seed=0, solver=EULER)
    ds = solver_agreement(model, x, y, progress=False)
    s = faithfulness_summary(ds)
    acc = 100 * ds.accuracy.values
    spread = max(acc[:2].max(), acc[-1]) - min(acc[:2].min(), acc[-1])
    assert s["accuracy_spread_points"] == pytest.approx(spread)
    assert s["faithful"] == (spread <= 1.0 and max(s["median_relative_l2"]) <= 0.01)


@pytest.mark.parametrize("kw, word", [(dict(reference="rk2"), "reference"), (dict(batch_size=0), "batch_size")])
def test_bad_arguments(data, kw, word):
    with pytest.raises(ValueError, match=word):
        solver_agreement(nd.build_model("dcn-ode", width=4, seed=0), *data, progress=False, **kw)


def test_the_bundled_subset_dcn_ode_is_solver_faithful():
    """The criteria on the dopri5-trained subset dcn-ode and the bundled 128 CIFAR-10 test images: accuracy under
    dopri5 (1e-3), rk4 (step 0.25) and the training solver within 1 point; h(T) under dopri5 and rk4 (step 0.05)
    within 1 % relative L2 (median over the images)."""
    vc = nd.VirtualCortex.pretrained("dcn-ode-subset", progress=False)
    assert vc.card["solver"]["method"] == "dopri5"
    stimuli = nd.load_stimuli("cifar10-demo")
    ds = solver_agreement(vc.model, stimuli.images, torch.as_tensor(stimuli.labels), batch_size=128, progress=False)
    s = faithfulness_summary(ds)
    assert s["accuracy_spread_points"] <= 1.0
    assert max(s["median_relative_l2"]) <= 0.01
    assert s["faithful"]


def test_the_bundled_default_gives_the_same_answers_under_every_solver():
    """The rk4-trained default on the bundled 128 test images: the accuracy criterion (dopri5 1e-3, rk4 step 0.25
    and the training solver within 1 point). (Its h(T) under dopri5 1e-3 lies 1.5-1.7 % from rk4 step 0.05,
    above the 1 % bound, because dopri5's own error at 1e-3 is that large on these dynamics: analyses/RESULTS.md.)"""
    vc = nd.VirtualCortex.pretrained(progress=False)
    assert vc.name == "dcn-ode" and (vc.card["solver"]["method"], vc.card["solver"]["step_size"]) == ("rk4", 0.5)
    stimuli = nd.load_stimuli("cifar10-demo")
    solvers = {"dopri5": FAITHFUL_SOLVERS["dopri5"], "rk4_0.25": FAITHFUL_SOLVERS["rk4_0.25"],
               "training": vc.model.ode_blocks()[0][1].solver}
    ds = solver_agreement(vc.model, stimuli.images, torch.as_tensor(stimuli.labels), solvers=solvers,
                          batch_size=128, progress=False)
    acc = 100 * ds.accuracy.sel(solver=["dopri5", "rk4_0.25", "training"]).values
    assert acc.max() - acc.min() <= 1.0


def test_convergence_run_measures_each_solvers_own_error(synthetic_cifar, tmp_path):
    """solver_convergence.nc: the distance of block 1's h(T) under the training solver (rk4 step 0.5) from the
    converged dopri5 equals torchdiffeq's rk4 against torchdiffeq's dopri5 at 1e-9."""
    from torchdiffeq import odeint

    from neurodcn.data.cifar10 import load_cifar10
    from neurodcn.io.files import load_dataset
    from neurodcn.paper import solver_faithfulness

    train = dict(method="rk4", step_size=0.5, adjoint=False)
    model = nd.build_model("dcn-ode", width=4, seed=0, solver=train)
    ckpt = nd.save_checkpoint(model, tmp_path / "tiny.pt")
    result = solver_faithfulness.run(str(ckpt), out=tmp_path / "out", data=synthetic_cifar.root, num_images=6,
                                     converged_images=4, progress=False)
    ds = load_dataset(tmp_path / "out" / "solver_convergence.nc")
    assert list(ds.solver.values) == ["converged", "dopri5", "rk4_0.25", "rk4_0.05",
                                     "dopri5_atol_1e-6", "training"]
    assert ds.sizes["image"] == 4 and not ds.relative_l2.sel(solver="converged").any()
    assert any(line.startswith("solver_convergence:") for line in result.summary)
    x = load_cifar10(synthetic_cifar.root, "test").images[:4]
    with torch.no_grad():
        model.eval()
        h0, t = model.stem(x), torch.tensor([0.0, model.blocks[0].solver.T])
        ref = odeint(model.blocks[0].func, h0, t, method="dopri5", rtol=1e-9, atol=1e-9)[-1]
        rk4 = odeint(model.blocks[0].func, h0, t, method="rk4", options=dict(step_size=0.5))[-1]
    expected = ((rk4 - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)).numpy()
    assert expected.min() > 1e-5  # the solver's error is far above the reference's
    np.testing.assert_allclose(ds.relative_l2.sel(solver="training", block=1).values, expected, rtol=0.01)
