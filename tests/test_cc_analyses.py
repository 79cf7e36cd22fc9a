"""The CC-paper experiment scripts (analyses/cc_*.py): each quick run writes its files; the facts they rest on
checked against PyTorch's own operators, scipy and hand-worked cases."""

import importlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

import neurodcn as nd
from neurodcn.nn.kernels import ContinuousKernel

cc_kernels = importlib.import_module("analyses.cc_kernels")
cc_misalignment = importlib.import_module("analyses.cc_misalignment")
cc_scale_generalisation = importlib.import_module("analyses.cc_scale_generalisation")
cc_shift_equivariance = importlib.import_module("analyses.cc_shift_equivariance")


def _files(out, name):
    nc, png = Path(out) / f"{name}.nc", Path(out) / f"{name}.png"
    assert nc.is_file() and png.is_file() and png.stat().st_size > 1000
    ds = nd.load_dataset(nc)
    assert ds.attrs["neurodcn_experiment"] == name and ds.attrs["source"].startswith("neurodcn")
    for v in list(ds.data_vars) + list(ds.coords):
        assert "units" in ds[v].attrs and "long_name" in ds[v].attrs, v
    return ds


# ------------------------------------------------------------------ misalignment (Fig. 6)
def test_pytorch_same_padding_moves_an_even_kernel_half_a_pixel_up_left():
    delta = torch.zeros(1, 1, 15, 15, dtype=torch.float64)
    delta[..., 7, 7] = 1.0
    with pytest.warns(UserWarning):  # PyTorch notes that it pads a copy for an even kernel
        out = F.conv2d(delta, torch.ones(1, 1, 4, 4, dtype=torch.float64), padding="same")
    assert torch.nonzero(out[0, 0]).min(0).values.tolist() == [5, 5]  # rows/cols 5..8: centred on 6.5
    assert cc_misalignment.centroid(out) == pytest.approx((6.5, 6.5), abs=1e-12)
    assert cc_misalignment.ANALYTIC_DRIFT_PX == -0.5


def test_misalignment_matches_the_analytic_drift(tmp_path):
    ds = cc_misalignment.run(tmp_path, quick=True, passes=20)
    ds = _files(tmp_path, "cc_misalignment")
    conv, cc = ds.sel({"method": "conv2d_same"}), ds.sel({"method": "cc"})
    passes = ds["pass"].values
    np.testing.assert_allclose(conv["shift_y"].values, -0.5 * passes, atol=1e-9)
    np.testing.assert_allclose(conv["shift_x"].values, -0.5 * passes, atol=1e-9)
    np.testing.assert_allclose(cc["shift_y"].values, 0.0, atol=1e-9)
    np.testing.assert_allclose(cc["shift_x"].values, 0.0, atol=1e-9)
    c = ds.sizes["y"] // 2
    assert float(cc["centroid_y"][0]) == pytest.approx(c, abs=1e-12)


def test_cc_at_scale_one_is_the_symmetric_three_tap_conv():
    """Support 4 at scale 1 samples offsets -2..1 of the open support |d| < 2: taps K(-1), K(0), K(1) only."""
    kernel = cc_kernels.GaussianKernel(1.0, support=4, normalize="window")
    layer = nd.ContinuousConv2d(1, 1, kernel=kernel, padding="zeros", bias=False).double()
    x = torch.rand(1, 1, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    g = torch.exp(-torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64) / 2)
    w = torch.outer(g, g) / torch.outer(g, g).sum()
    torch.testing.assert_close(layer(x), F.conv2d(x, w[None, None], padding=1))


# ------------------------------------------------------------------ kernels (Fig. 3)
def test_gaussian_kernel_is_scipys_rotated_density():
    k = cc_kernels.GaussianKernel((0.6, 1.2), angle=45.0, support=6)
    d = torch.tensor([[-1.3, 0.4], [0.0, 0.0], [2.1, 1.7], [0.5, -0.9]], dtype=torch.float64)
    a = math.radians(45.0)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    cov = rot @ np.diag([0.36, 1.44]) @ rot.T
    expected = stats.multivariate_normal(mean=[0, 0], cov=cov).pdf(d.numpy())
    np.testing.assert_allclose(k(d[:, 0], d[:, 1])[:, 0, 0].numpy(), expected, rtol=1e-12)
    assert float(k(torch.tensor(3.0), torch.tensor(0.0))[0, 0]) == 0.0  # outside the open support


def test_cubic_kernel_interpolates_at_integers():
    d = torch.arange(-2, 3, dtype=torch.float64)
    np.testing.assert_array_equal(cc_kernels.cubic_kernel(d[:, None], d[None, :]).numpy(),
                                  np.eye(5)[2][:, None] * np.eye(5)[2][None, :])


@pytest.mark.slow
def test_kernels_quick_run_writes_files_and_the_kernels_approach_the_truth(tmp_path):
    cc_kernels.run(tmp_path, quick=True, steps=40, image_size=20, n=24, progress=False)
    ds = _files(tmp_path, "cc_kernels")
    assert ds.sizes["dy"] == ds.sizes["dx"] == 24 and ds.sizes["basis"] == 6
    rmse = ds["kernel_rmse"].values
    assert (rmse[:, -1] < rmse[:, 0]).all(), rmse
    assert (ds["train_mse"].values[:, -1] < ds["train_mse"].values[:, 0]).all()
    # the N-jet (0, 0) function at sigma 1 is the unit Gaussian density, inside the 4 px support
    f = int(np.flatnonzero((ds.basis_i.values == 0) & (ds.basis_j.values == 0))[0])
    basis = ds["njet_basis"].isel(basis=f)
    d = ds["dy"].values
    inside = np.abs(d) <= 2
    expected = np.outer(stats.norm.pdf(d[inside]), stats.norm.pdf(d[inside]))
    np.testing.assert_allclose(basis.values[np.ix_(inside, inside)], expected, rtol=1e-10)


# ------------------------------------------------------------------ scale generalisation (Fig. 7)
@pytest.mark.slow
def test_scale_generalisation_quick_run_trains_below_the_untrained_error(tmp_path):
    cc_scale_generalisation.run(tmp_path, quick=True, steps=30, image_size=20, n_test=3, progress=False)
    ds = _files(tmp_path, "cc_scale_generalisation")
    assert (ds["train_mse"].values < ds["untrained_train_mse"].values).all()
    assert ds.sizes["test"] == 3 and np.isfinite(ds["test_mse"].values).all()
    assert ds["train_scale_y"].sel(training="half").item() == 0.5
    lo, hi = cc_kernels.SCALE_RANGE
    assert ((ds["test_scale_y"] >= lo) & (ds["test_scale_y"] < hi)).all()


def test_test_mse_is_zero_for_the_exact_kernel():
    class Cubic(ContinuousKernel):
        def forward(self, dy, dx):
            return cc_kernels.cubic_kernel(*torch.broadcast_tensors(dy, dx))[..., None, None]

    fn, _, support = cc_kernels.resizer("cubic")
    layer = nd.ContinuousConv2d(1, 1, kernel=Cubic(1, 1, support), padding="symmetric", bias=False)
    image = cc_kernels.test_image(16, "noise")
    mse = cc_scale_generalisation.test_mse(layer, image, fn, cc_scale_generalisation.random_scales(4, 0))
    assert (mse < 1e-12).all(), mse


# ------------------------------------------------------------------ shift equivariance (Table 1)
def test_shift_back_is_a_roll_at_integers_and_exact_on_ramps():
    x = torch.rand(1, 2, 9, 9, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(cc_shift_equivariance.shift_back(x, 1.0, -2.0)[..., 2:-3, 3:-2],
                               torch.roll(x, (-1, 2), dims=(-2, -1))[..., 2:-3, 3:-2])
    ramp = torch.arange(12, dtype=torch.float64).repeat(12, 1)[None, None]  # value = column index
    moved = cc_shift_equivariance.shift_back(ramp, 0.0, 0.25)
    # Keys' cubic reproduces polynomials up to degree 2: the ramp sampled at j + 0.25 is j + 0.25 inside
    torch.testing.assert_close(moved[..., 2:-3], ramp[..., 2:-3] + 0.25)


@pytest.mark.slow
def test_shift_equivariance_quick_run_on_a_synthetic_folder(tmp_path, synthetic_cifar):
    cc_shift_equivariance.run(tmp_path, quick=True, data=synthetic_cifar.root, images=2, progress=False)
    ds = _files(tmp_path, "cc_shift_equivariance")
    assert ds.attrs["models"].startswith("untrained")
    np.testing.assert_allclose(ds["cosine"].sel(max_shift=0).values, 1.0, atol=1e-6)  # no shift: identical maps
    assert (np.abs(ds["cosine"].values) <= 1 + 1e-6).all()
    assert (np.abs(ds["shift_y"].sel(max_shift=6).values) <= 6).all()
    assert ds["paper_cosine"].sel(model="ccnet", input="cifar10").values[1:].tolist() == [0.92, 0.85, 0.77]
    # an untrained model is its own untrained copy: no change, the same misalignment, no accuracy measured
    np.testing.assert_array_equal(ds["untrained_cosine"].values, ds["cosine"].values)
    assert (ds["cosine_change"].values == 0).all()
    assert (ds["misalignment_ratio"].sel(max_shift=[2, 4, 6]).values == 1).all()
    assert np.isnan(ds["misalignment_ratio"].sel(max_shift=0).values).all()
    assert np.isnan(ds["untrained_test_accuracy"].values).all()


@pytest.mark.slow
def test_briefly_trained_models_are_set_beside_their_initialisation(tmp_path, synthetic_cifar):
    untrained = cc_shift_equivariance.run(tmp_path / "u", data=synthetic_cifar.root, images=2, seed=1,
                                          progress=False)
    trained = cc_shift_equivariance.run(tmp_path / "t", data=synthetic_cifar.root, images=2, seed=1,
                                        train_epochs=1, progress=False, bootstrap=50)
    # the copies are the models as initialised with --seed before training, on the same inputs and shifts
    np.testing.assert_allclose(trained["untrained_cosine"].values, untrained["cosine"].values, rtol=1e-6)
    assert (trained["cosine"].sel(max_shift=6) != untrained["cosine"].sel(max_shift=6)).all()
    assert np.isfinite(trained["untrained_test_accuracy"].values).all()
    configs = json.loads(trained.attrs["model_config"])
    assert configs["ccnet"]["seed"] == configs["convnet"]["seed"] == 1


def test_untrained_copy_is_the_seeded_initialisation_of_a_config():
    from neurodcn.cortex.baselines import untrained_copy
    small = {"name": "convnet", "channels": [4] * 8, "fc": [8, 8]}
    model = untrained_copy(small, seed=3)
    assert model.config["seed"] == 3 and not model.training
    for a, b in zip(model.state_dict().values(), untrained_copy(model.config).state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the config's seed: the same initialisation
    zero = nd.build_model("convnet", channels=[4] * 8, fc=[8, 8], seed=0)
    torch.testing.assert_close(untrained_copy(small).convs[0].weight, zero.convs[0].weight, rtol=0, atol=0)
    assert not torch.equal(model.convs[0].weight, zero.convs[0].weight)
    with pytest.raises(TypeError, match="config"):
        untrained_copy("convnet")
    with pytest.raises(ValueError, match="name"):
        untrained_copy({"channels": [4] * 8})


def test_relative_to_untrained_is_paired_over_the_inputs():
    rng = np.random.default_rng(0)
    untrained = rng.uniform(0.5, 1.0, size=(2, 50))  # a wide spread over inputs
    trained = untrained - 0.01  # ... and the same change for every input
    change, low, high, ratio = cc_shift_equivariance.relative_to_untrained(trained, untrained, n_boot=300)
    np.testing.assert_allclose(change, -0.01)
    np.testing.assert_allclose(low, -0.01)  # paired: the differences have no spread, so neither has the interval
    np.testing.assert_allclose(high, -0.01)
    np.testing.assert_allclose(ratio, (1 - trained.mean(1)) / (1 - untrained.mean(1)))
    noisy = untrained + rng.normal(0.02, 0.05, size=untrained.shape)
    change, low, high, _ = cc_shift_equivariance.relative_to_untrained(noisy, untrained, n_boot=300, seed=1)
    d = noisy - untrained
    np.testing.assert_allclose(change, d.mean(1))
    assert (low < change).all() and (change < high).all()
    # close to the normal interval of a mean, mean +- 1.96 SE
    se = d.std(1, ddof=1) / np.sqrt(d.shape[1])
    np.testing.assert_allclose(high - low, 2 * 1.96 * se, rtol=0.25)
    aligned = np.ones((1, 3))  # no shift: nothing to divide by
    assert np.isnan(cc_shift_equivariance.relative_to_untrained(aligned, aligned)[3]).all()
    with pytest.raises(ValueError, match="one shape"):
        cc_shift_equivariance.relative_to_untrained(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="n_boot"):
        cc_shift_equivariance.relative_to_untrained(trained, untrained, n_boot=0)


def test_train_briefly_runs_the_recipe_and_leaves_eval_mode():
    torch.manual_seed(0)
    model = nd.build_model("convnet", channels=[4] * 8, fc=[8, 8])
    before = [p.detach().clone() for p in model.parameters()]
    images = torch.randn(128, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(128) % 10
    history = cc_shift_equivariance.train_briefly(model, images, labels, epochs=2, lr=1e-3, seed=0)
    assert len(history) == 2 and all(math.isfinite(v) for v in history)
    assert history[0] == pytest.approx(math.log(10), abs=0.3)  # near chance at the start
    assert not model.training
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def _small_trained(tmp_path, name):
    """A small zoo model of ``name`` saved as a checkpoint, as neurodcn train leaves one."""
    from neurodcn.train.checkpoint import save_checkpoint
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nd.build_model(name, channels=[4] * 8, fc=[8, 8])
    return save_checkpoint(model.eval(), tmp_path / f"{name}.pt")


def test_shift_equivariance_on_checkpoints(tmp_path, synthetic_cifar):
    from neurodcn.train.checkpoint import save_checkpoint

    convnet, _ = nd.load_checkpoint(_small_trained(tmp_path, "convnet"))
    with torch.no_grad():  # "trained": moved away from its initialisation
        convnet.convs[0].weight.mul_(-2.0)
    paths = [save_checkpoint(convnet, tmp_path / "moved.pt"), _small_trained(tmp_path, "ccnet")]
    ds = cc_shift_equivariance.run(tmp_path / "out", data=synthetic_cifar.root, images=3, progress=False,
                                   checkpoints=paths, bootstrap=100)
    assert list(ds["model"].values) == ["convnet", "ccnet"] and "trained by neurodcn train" in ds.attrs["models"]
    np.testing.assert_allclose(ds["cosine"].sel(max_shift=0).values, 1.0, atol=1e-6)  # no shift: identical maps
    assert np.all(np.isfinite(ds["test_accuracy"].values))
    # the ccnet checkpoint is its own initialisation (seed 0 in its config): its copy measures the same
    cc = ds.sel(model="ccnet")
    np.testing.assert_array_equal(cc["untrained_cosine"].values, cc["cosine"].values)
    assert (cc["cosine_change"].values == 0).all() and cc["untrained_test_accuracy"] == cc["test_accuracy"]
    # the convnet's copy, rebuilt by hand (its config has no seed: seed 0), on the same images and shifts
    test = nd.load_cifar10(synthetic_cifar.root, "test")
    copy = nd.build_model("convnet", channels=[4] * 8, fc=[8, 8], seed=0).eval()
    x = test.images[ds["test_index"].values]
    for r in (2, 6):
        shifts = np.stack([ds["shift_y"].sel(max_shift=r).values, ds["shift_x"].sel(max_shift=r).values], 1)
        expected = cc_shift_equivariance.shift_cosine(copy.features, x, shifts)
        got = ds["untrained_cosine"].sel(model="convnet", input="cifar10", max_shift=r).values
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    with torch.no_grad():
        expected = (copy(test.images).argmax(1) == test.labels).double().mean().item()
    assert ds["untrained_test_accuracy"].sel(model="convnet").item() == pytest.approx(expected)
    conv = ds.sel(model="convnet")
    np.testing.assert_allclose(conv["cosine_change"], (conv["cosine"] - conv["untrained_cosine"]).mean("sample"))
    assert (conv["cosine_change"].sel(max_shift=[2, 4, 6]) != 0).all()
    # the table: one row per model, input and shift, the accuracies beside every row; written as .csv
    table = cc_shift_equivariance.table(ds)
    assert table.shape == (2 * 2 * 4, 3 + len(cc_shift_equivariance.TABLE))
    assert table.columns.tolist()[:3] == ["model", "input", "max_shift"]
    rows = table.set_index(["model", "input", "max_shift"])
    assert rows.loc[("convnet", "noise", 4), "test_accuracy"] == ds["test_accuracy"].sel(model="convnet").item()
    assert rows.loc[("ccnet", "cifar10", 6), "misalignment_ratio"] == 1.0
    written = pd.read_csv(tmp_path / "out" / "cc_shift_equivariance.csv")
    pd.testing.assert_frame_equal(written, table, check_dtype=False)


def test_scale_ensemble_accuracy_and_intervals(tmp_path, synthetic_cifar):
    cc_scale_ensemble = importlib.import_module("analyses.cc_scale_ensemble")
    path = _small_trained(tmp_path, "ccnet")
    ds = cc_scale_ensemble.run(path, tmp_path / "out", data=synthetic_cifar.root, members=(1, 2, 3), seed=4,
                               bootstrap=200)
    from neurodcn.train.checkpoint import load_checkpoint
    model, _ = load_checkpoint(path)
    test = nd.load_cifar10(synthetic_cifar.root, "test")
    for i, k in enumerate(ds["members"].values):  # the nested members are CCNet.scale_ensemble's
        expected = (model.scale_ensemble(test.images, k=int(k), seed=4).argmax(1) == test.labels).double().mean()
        assert ds["accuracy"].values[i] == pytest.approx(100 * float(expected))
        assert ds["accuracy_low"].values[i] <= ds["accuracy"].values[i] <= ds["accuracy_high"].values[i]
    single = (model.eval()(test.images).argmax(1) == test.labels).double().mean()
    np.testing.assert_allclose(ds["gain"].values, ds["accuracy"].values - 100 * float(single), atol=1e-9)
    assert all((tmp_path / "out" / f"cc_scale_ensemble.{ext}").exists() for ext in ("nc", "png"))


def test_dcn_cc_step_orders_each_order_and_receptive_fields(tmp_path, synthetic_cifar):
    from neurodcn.nn.dcn_cc import scale_sequence
    from neurodcn.train.checkpoint import save_checkpoint

    dcn_cc_step_orders = importlib.import_module("analyses.dcn_cc_step_orders")
    model = nd.build_model("dcn-cc", width=4, seed=0, solver={"method": "euler", "step_size": 1.0, "adjoint": False})
    path = save_checkpoint(model.eval(), tmp_path / "dcn-cc.pt")
    ds, rf = dcn_cc_step_orders.run(path, tmp_path / "out", data=synthetic_cifar.root, members=(1, 2, 6),
                                    bootstrap=200, limit=16, progress=False)
    test = nd.load_cifar10(synthetic_cifar.root, "test")
    x, y = test.images[:16], test.labels[:16]
    assert list(ds["member"].values)[:2] == ["4/5, 5/6, 3/4", "4/5, 3/4, 5/6"]
    with torch.no_grad():
        with scale_sequence(model, [0.8, 0.75, 5 / 6]):  # member 1, evaluated by hand
            second = (model(x).argmax(1) == y).double().mean()
        single = (model(x).argmax(1) == y).double().mean()
    assert float(ds["member_accuracy"][1]) == pytest.approx(100 * float(second))
    assert ds.attrs["single_pass_accuracy"] == pytest.approx(100 * float(single))
    assert float(ds["gain"].sel(members=1)) == 0  # the first member is the trained order, the single pass itself
    assert list(rf["model"].values) == ["dcn-cc", "dcn-ode"] and rf.sizes["layer"] == 6
    np.testing.assert_allclose(rf["sigma_px"].sel(model="dcn-cc").values,
                               [float(layer.sigma_at(None).detach()) for layer in _srf_layers(model)], rtol=1e-6)
    # CC steps: sigma = 2^log2_sigma in px of each step's input; that map's stride, worked by hand from 4/5, 5/6,
    # 3/4: 1, 5/4, 3/2 input px per map px in transition 1 and twice that in transition 2
    expected_px = [[2 ** float(c.kernel.log2_sigma) for c in t.convs] for t in model.transitions]
    np.testing.assert_allclose(rf["cc_sigma_px"].values, expected_px, rtol=1e-6)
    deg_per_px = nd.VirtualCortex(model).visual_degrees / 32
    np.testing.assert_allclose(rf["cc_sigma_deg"].values,
                               np.array(expected_px) * [[1, 1.25, 1.5], [2, 2.5, 3]] * deg_per_px, rtol=1e-6)
    assert list(rf["step_scale"].values) == ["4/5", "5/6", "3/4"] and rf["cc_sigma_deg"].attrs["units"] == "degree"
    assert (tmp_path / "out" / "dcn_cc_step_orders.png").stat().st_size > 1000


def _srf_layers(model):
    from neurodcn.cortex.receptive_fields import srf_layers
    return [layer for _, layer, _, _ in srf_layers(model)]
