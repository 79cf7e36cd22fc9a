"""contrast_sweep(): plain accuracy at c = 1, NFE vs the blocks' counters, regimes by hand, failure flags."""

import numpy as np
import pytest
import torch

import neurodcn as nd
from neurodcn.cortex.sweep import Sweep
from neurodcn.schema import validate_dataset


@pytest.fixture()
def model():
    return nd.build_model("dcn-ode", width=4, seed=0)


@pytest.fixture(scope="module")
def data():
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    return x


def _alone(model, x, fn):
    """fn(one image) run for each image in a batch of its own inside a sweep: (outputs [N, ...], forward NFE
    [N, blocks] counted by the blocks as field calls)."""
    outs, nfe = [], []
    for i in range(len(x)):
        with Sweep(model) as sweep:
            outs.append(sweep.run(lambda: fn(x[i:i + 1]), 1).result[0])  # noqa: B023
        nfe.append([r["forward_nfe"] for r in model.nfe_report()])
    return torch.stack(outs), np.array(nfe, np.float64)


def _labels_half_right(model, x):
    """Labels equal to the model's prediction on even images and different on odd ones: accuracy 0.5."""
    pred = _alone(model, x, lambda xi: model(xi))[0].argmax(1)
    return torch.where(torch.arange(len(x)) % 2 == 0, pred, (pred + 1) % 10)


def test_naive_at_contrast_one_is_plain_evaluation_of_each_image_alone(model, data):
    labels = _labels_half_right(model, data)
    vc = nd.VirtualCortex(model, image_size=16, batch_size=8, progress=False)
    ds = vc.contrast_sweep(data, labels, contrasts=[0.5, 1.0], regime="naive")
    validate_dataset(ds)
    assert ds.attrs["regime"] == "naive" and ds.attrs["neurodcn_experiment"] == "contrast_sweep"
    assert float(ds.accuracy.sel(contrast=1.0)) == 0.5
    _, own = _alone(model, data, lambda xi: model(xi))
    np.testing.assert_allclose(ds.nfe.sel(contrast=1.0).values, own.mean(axis=0))
    assert float(ds.nfe_total.sel(contrast=1.0)) == pytest.approx(own.sum(axis=1).mean())
    logits, _ = _alone(model, data, lambda xi: model(0.5 * xi))
    assert float(ds.accuracy.sel(contrast=0.5)) == (logits.argmax(1) == labels).double().mean().item()
    assert list(ds.block.values) == [1, 2, 3] and ds.solver_failed.values.tolist() == [0, 0]


def test_scale_all_and_scale_t_block1_follow_their_definitions(model, data):
    labels = _labels_half_right(model, data)
    vc = nd.VirtualCortex(model, image_size=16, batch_size=8, progress=False)
    c, T = 0.5, model.blocks[0].solver.T
    ds = vc.contrast_sweep(data, labels, contrasts=[c], regime="scale_all")

    def scale_all(x):  # by hand: image scaled, every later block input scaled by c, every T scaled by c
        h = model.blocks[0](model.stem(c * x), T=c * T)
        for k in (1, 2):
            h = model.blocks[k](c * model.transitions[k - 1](h), T=c * T)
        return model.head(h)

    logits, nfe = _alone(model, data, scale_all)
    assert float(ds.accuracy[0]) == (logits.argmax(1) == labels).double().mean().item()
    np.testing.assert_allclose(ds.nfe.values[0], nfe.mean(axis=0))
    ds = vc.contrast_sweep(data, labels, contrasts=[c], regime="scale_T_block1")

    def scale_t_block1(x):  # only block 1 integrates to c T
        h = model.blocks[0](model.stem(c * x), T=c * T)
        return model.head(model.blocks[2](model.transitions[1](model.blocks[1](model.transitions[0](h)))))

    logits, nfe = _alone(model, data, scale_t_block1)
    assert float(ds.accuracy[0]) == (logits.argmax(1) == labels).double().mean().item()
    np.testing.assert_allclose(ds.nfe.values[0], nfe.mean(axis=0))


def test_per_image_results_are_each_images_own_solve(model, data):
    labels = _labels_half_right(model, data)
    vc = nd.VirtualCortex(model, image_size=16, batch_size=8, progress=False)
    ds = vc.contrast_sweep(data[:3], labels[:3], contrasts=[1.0, 2.0], regime="naive", per_image=True)
    validate_dataset(ds)
    assert ds.correct.dims == ("stimulus", "contrast") and ds.correct.dtype == np.int8
    logits, nfe = _alone(model, data[:3], lambda xi: model(2.0 * xi))
    np.testing.assert_array_equal(ds.correct.sel(contrast=2.0).values, (logits.argmax(1) == labels[:3]).numpy())
    np.testing.assert_array_equal(ds.nfe_per_image.sel(contrast=2.0).values, nfe)
    assert len(np.unique(ds.nfe_per_image.values[:, :, 0])) > 1  # the images took different steps
    np.testing.assert_allclose(ds.accuracy.values, ds.correct.mean("stimulus").values)
    np.testing.assert_allclose(ds.nfe.values, ds.nfe_per_image.mean("stimulus").values)


def test_solver_failure_is_flagged_not_raised(model, data):
    model.set_solver(nd.SolverConfig(max_num_steps=1))
    vc = nd.VirtualCortex(model, image_size=16, batch_size=4, progress=False)
    ds = vc.contrast_sweep(
        data, torch.zeros(6, dtype=torch.long), contrasts=[0.1, 1.0], regime="scale_T_block1"
    )
    assert ds.solver_failed.values.tolist() == [1, 1]
    assert np.isnan(ds.accuracy.values).all() and np.isnan(ds.nfe.values).all()
    assert np.isnan(ds.nfe_total.values).all()
    ds = vc.contrast_sweep(data[:2], torch.zeros(2, dtype=torch.long), contrasts=[1.0], per_image=True)
    assert (ds.correct.values == -1).all() and np.isnan(ds.nfe_per_image.values).all()


def test_resnets_and_bad_inputs(data):
    resnet = nd.build_model("resnet-blocks", width=4, seed=0)
    vc = nd.VirtualCortex(resnet, image_size=16, progress=False)
    labels = torch.zeros(6, dtype=torch.long)
    ds = vc.contrast_sweep(data, labels, contrasts=[1.0], regime="naive")
    with torch.no_grad():
        assert float(ds.accuracy[0]) == (resnet(data).argmax(1) == 0).double().mean().item()
    assert ds.sizes["block"] == 0 and float(ds.nfe_total[0]) == 0
    with pytest.raises(ValueError, match="needs ODE blocks"):
        vc.contrast_sweep(data, labels, contrasts=[1.0], regime="scale_all")
    with pytest.raises(ValueError, match="regime must be one of"):
        vc.contrast_sweep(data, labels, contrasts=[1.0], regime="brighter")
    with pytest.raises(ValueError, match="contrasts must be"):
        vc.contrast_sweep(data, labels, contrasts=[0.0, 1.0])
    with pytest.raises(ValueError, match="labels must be 6 integers"):
        vc.contrast_sweep(data, labels[:5], contrasts=[1.0])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        vc.contrast_sweep(data, labels + 10, contrasts=[1.0])
