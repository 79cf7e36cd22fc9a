"""neurodcn.paper: each figure function on a tiny checkpoint writes a valid .nc equal to the VirtualCortex's own
answer (and to plain forward passes where they apply) and a .png; table 1 counts; the results index; the
analyses/ command-line fronts."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import neurodcn as nd
from analyses import fig3_sigma as fig3_script
from analyses import fig4_pattern_completion as fig4_script
from analyses import fig5_contrast as fig5_script
from neurodcn.io.files import load_dataset
from neurodcn.nn.srf import SRFConv2d
from neurodcn.paper import fig3_sigma as fig3
from neurodcn.paper import fig4_pattern_completion as fig4
from neurodcn.paper import fig5_contrast as fig5
from neurodcn.paper import table1_parameters as table1
from neurodcn.paper.results import INDEX_NAME
from neurodcn.schema import validate_dataset

FAST = dict(method="rk4", step_size=0.5, adjoint=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A width-4 dcn-ode checkpoint with a fixed-step solver."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return nd.save_checkpoint(nd.build_model("dcn-ode", width=4, seed=0, solver=FAST), path)


@pytest.fixture(scope="module")
def tiny_ji(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny_ji.pt"
    return nd.save_checkpoint(nd.build_model("dcn-sigma-ji", width=4, seed=1, solver=FAST), path)


def _cortex(path):
    return nd.VirtualCortex.from_checkpoint(path, progress=False)


def _plain_accuracy(model, images, labels) -> float:
    with torch.no_grad():
        return float((model(images).argmax(1) == labels).double().mean())


def _assert_png(path: Path):
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------- fig 3
def test_fig3_sigma_matches_receptive_fields_and_layers(tiny, tmp_path):
    res = fig3.run(tiny, tmp_path, quick=True, progress=False)
    assert set(res.files) == {"fig3_sigma.nc", "fig3_learned_scales.nc", "fig3a_sigma_vs_depth.png"}
    ds = validate_dataset(load_dataset(tmp_path / "fig3_sigma.nc"))
    vc = _cortex(tiny)
    ref = vc.receptive_fields()
    for name in ("sigma_px", "sigma_deg", "kernel_size_px", "preferred_sf"):
        np.testing.assert_array_equal(ds[name].values, ref[name].values)
    layers = [m for m in vc.model.modules() if isinstance(m, SRFConv2d)]  # this model: all inside blocks
    np.testing.assert_allclose(ds["sigma_px"].values, [float(m.sigma.detach()) for m in layers], rtol=1e-6)
    _assert_png(tmp_path / "fig3a_sigma_vs_depth.png")
    scales = validate_dataset(load_dataset(tmp_path / "fig3_learned_scales.nc"))
    np.testing.assert_allclose(scales["sigma_trained_px"].values, ds["sigma_px"].values, rtol=1e-6)
    np.testing.assert_allclose(scales["learning_factor"].values, 1.0, rtol=1e-6)  # an untrained checkpoint
    assert "6 of 6 layers within 5% of their initial sigma" in "\n".join(res.summary)


def test_fig3_sigma_ji_histograms_and_lognormal_mle(tiny_ji, tmp_path):
    res = fig3.run(tiny_ji, tmp_path, progress=False)
    assert "fig3b_sigma_ji.png" in res.files
    _assert_png(tmp_path / "fig3b_sigma_ji.png")
    ds = load_dataset(tmp_path / "fig3_sigma.nc")
    model = _cortex(tiny_ji).model
    for k, block in enumerate(model.blocks, start=1):
        sig = np.concatenate(
            [m.sigma.detach().double().numpy().ravel() for m in block.modules() if isinstance(m, SRFConv2d)]
        )
        np.testing.assert_allclose(np.sort(ds[f"sigma_ji_block{k}"].values), np.sort(sig), rtol=1e-6)
        logs = np.log(
            sig
        )  # closed-form log-normal MLE (loc 0): shape = SD of ln x (ddof 0), scale = exp(mean)
        np.testing.assert_allclose(float(ds[f"lognorm_shape_block{k}"]), logs.std(), rtol=1e-5)
        np.testing.assert_allclose(float(ds[f"lognorm_scale_block{k}"]), np.exp(logs.mean()), rtol=1e-5)


def test_fig3_sigma_ji_against_initialisation(tiny_ji, tmp_path):
    """Shifting every log2 sigma of block 1 by 0.5 gives that block's layers a learning factor 2^0.5 and a median
    change of 0.5 (r still 1: a shift keeps the correlation), and leaves the other blocks at their initialisation;
    Fig. 3b's dashed histogram is the initial sigma_ji."""
    model = _cortex(tiny_ji).model
    with torch.no_grad():
        for m in model.blocks[0].modules():
            if isinstance(m, SRFConv2d):
                m.log2_sigma += 0.5
    shifted = tmp_path / "shifted.pt"
    nd.save_checkpoint(model, shifted)
    res = fig3.run(shifted, tmp_path, progress=False)
    ds, scales = load_dataset(tmp_path / "fig3_sigma.nc"), load_dataset(tmp_path / "fig3_learned_scales.nc")
    np.testing.assert_allclose(scales["learning_factor"].values, [2**0.5] * 2 + [1.0] * 4, rtol=1e-5)
    np.testing.assert_allclose(scales["median_log2_change"].values, [0.5] * 2 + [0.0] * 4, atol=1e-6)
    np.testing.assert_allclose(scales["log_correlation"].values, 1.0, atol=1e-9)
    np.testing.assert_allclose(ds["sigma_ji_block1"].values, 2**0.5 * scales["sigma_ji_initial_block1"].values,
                               rtol=1e-5)
    np.testing.assert_allclose(ds["sigma_ji_block2"].values, scales["sigma_ji_initial_block2"].values, rtol=1e-6)
    block1 = next(line for line in res.summary if line.startswith("  block 1: "))
    assert "conv 1 median x1.414" in block1 and "conv 2 median x1.414" in block1


# --------------------------------------------------------------------------------------------- fig 4
def test_fig4_pattern_completion_matches_the_cortex_and_plain_forward(tiny, tmp_path):
    res = fig4.run(tiny, tmp_path, quick=True, progress=False)
    assert set(res.files) == {
        "fig4_pattern_completion.nc",
        "fig3c_accuracy_vs_mask.png",
        "fig4_completion_dynamics.png",
        "fig3c_paired_tests.csv",
    }
    ds = validate_dataset(load_dataset(tmp_path / "fig4_pattern_completion.nc"))
    s = fig4.settings(quick=True)
    tests = pd.read_csv(tmp_path / "fig3c_paired_tests.csv")  # 3 models: 3 pairs per mask size
    assert len(tests) == 3 * len(ds["mask_size"]) and {"odenet-subset", "resnet-blocks"} <= set(
        tests["model_b"])
    for n, (_, first) in zip(s["mask_sizes"], tests[tests["model_b"] == "odenet-subset"].iterrows(), strict=True):
        assert first["accuracy_pct_a"] == pytest.approx(100 * float(ds["accuracy"].sel(mask_size=n)))
        assert first["difference_pct"] == pytest.approx(first["accuracy_pct_a"] - first["accuracy_pct_b"])
    s = fig4.settings(quick=True)
    stim = nd.load_stimuli("cifar10-demo", s["num_images"], 0)
    vc = _cortex(tiny)
    ref = vc.pattern_completion(
        stim.images,
        stim.labels,
        s["mask_sizes"],
        times=np.linspace(0, 2.0, s["num_times"]),
        stimulus_table=stim.table,
    )
    np.testing.assert_array_equal(ds["stimulus_id"].values, stim.table["stimulus_id"].to_numpy())
    np.testing.assert_array_equal(ds["mask_size"].values, s["mask_sizes"])
    np.testing.assert_array_equal(ds["accuracy"].values, ref["accuracy"].values)
    for k in (1, 2, 3):
        np.testing.assert_array_equal(ds[f"D_block{k}"].values, ref[f"D_block{k}"].values)
        assert np.all(ds[f"D_block{k}"].sel(mask_size=0).values == 0)
    for n in s["mask_sizes"]:  # accuracy against a plain forward of the masked images, mask by hand
        x = stim.images.clone()
        top = (32 - n) // 2
        x[:, :, top : top + n, top : top + n] = 0
        assert float(ds["accuracy"].sel(mask_size=n)) == pytest.approx(
            _plain_accuracy(vc.model, x, stim.labels)
        )
    for name in ("fig3c_accuracy_vs_mask.png", "fig4_completion_dynamics.png"):
        _assert_png(tmp_path / name)


def test_a_fixed_step_model_is_measured_under_an_adaptive_solver_on_request(tiny, tmp_path):
    from neurodcn.paper.inputs import input_settings, load_cortex

    vc = load_cortex(tiny, progress=False, solver="dopri5")
    own = _cortex(tiny)
    for block, mine in zip(vc.model.ode_blocks(), own.model.ode_blocks(), strict=True):
        assert block[1].solver == mine[1].solver.replace(method="dopri5", step_size=None)
    assert own.model.ode_blocks()[0][1].solver.method == "rk4"  # the checkpoint itself is untouched
    stim = nd.load_stimuli("cifar10-demo", 4, 0)
    assert input_settings(tiny, vc, stim, 0)["solver"] == "dopri5"
    with torch.no_grad():  # the same as solving the plain model with dopri5 at rtol = atol = 1e-3
        model = nd.build_model("dcn-ode", width=4, seed=0, solver=dict(method="dopri5", adjoint=False))
        model.load_state_dict(own.model.state_dict())
        torch.testing.assert_close(vc.model.eval()(stim.images), model.eval()(stim.images))
    with pytest.raises(ValueError, match="solver must be one of.*got 'rk4'"):
        load_cortex(tiny, progress=False, solver="rk4")


def test_fig3c_paired_tests_are_exact_mcnemar_tests_on_the_images_all_models_solved():
    import xarray as xr
    from scipy import stats

    def model(correct):  # [mask_size, stimulus]; -1: the solve failed
        return xr.Dataset({"correct": (("mask_size", "stimulus"), np.array(correct, np.int8))},
                          coords={"mask_size": [0, 8], "stimulus": np.arange(6)})

    a = model([[1, 1, 1, 1, 0, -1], [1, 1, 0, 0, 0, 1]])
    b = model([[0, 0, 0, 1, 1, 1], [1, 1, 0, 0, 0, 0]])
    t = fig4.paired_tests({"a": a, "b": b})
    assert t["images"].tolist() == [5, 5]  # stimulus 5 failed for a: left out of every test
    first = t.iloc[0]  # mask 0 on stimuli 0-4: a right only on 0, 1, 2; b right only on 4
    assert (first["only_a"], first["only_b"]) == (3, 1)
    assert first["p_value"] == pytest.approx(stats.binomtest(3, 4, 0.5).pvalue)
    assert first["accuracy_pct_a"] == pytest.approx(80.0) and first["accuracy_pct_b"] == pytest.approx(40.0)
    assert t.iloc[1]["p_value"] == 1.0 and t.iloc[1]["difference_pct"] == 0.0  # mask 8: they never disagree


# --------------------------------------------------------------------------------------------- fig 5
@pytest.mark.slow
def test_fig5_contrast_matches_the_cortex_and_plain_forward(tiny, tmp_path):
    res = fig5.run(tiny, tmp_path, quick=True, progress=False)
    regimes = ("naive", "scale_T_block1", "scale_all")
    assert set(res.files) == {"fig5_contrast.png", *(f"fig5_contrast_{r}.nc" for r in regimes),
                              "fig5_contrast_pairs.nc", "fig5_contrast_pairs.csv"}
    _assert_png(tmp_path / "fig5_contrast.png")
    s = fig5.settings(quick=True)
    stim = nd.load_stimuli("cifar10-demo", s["num_images"], 0)
    vc = _cortex(tiny)
    for regime in regimes:
        ds = validate_dataset(load_dataset(tmp_path / f"fig5_contrast_{regime}.nc"))
        assert ds.attrs["regime"] == regime
        ref = vc.contrast_sweep(stim.images, stim.labels, s["contrasts"], regime=regime, per_image=True)
        for name in ("accuracy", "nfe", "nfe_total", "solver_failed", "correct", "nfe_per_image"):
            np.testing.assert_array_equal(ds[name].values, ref[name].values)
    naive = load_dataset(tmp_path / "fig5_contrast_naive.nc")
    for c in s["contrasts"]:
        assert float(naive["accuracy"].sel(contrast=c)) == pytest.approx(
            _plain_accuracy(vc.model, stim.images * c, stim.labels)
        )
    # rk4 with step 0.5: 4 evaluations per step, T / 0.5 steps per block (ceil for scaled T)
    np.testing.assert_array_equal(naive["nfe"].values, 16.0)
    scaled = load_dataset(tmp_path / "fig5_contrast_scale_all.nc")
    expect = [4 * np.ceil(2.0 * c / 0.5) for c in s["contrasts"]]
    np.testing.assert_array_equal(scaled["nfe"].values, np.repeat(np.array(expect)[:, None], 3, axis=1))
    # the like-for-like table: the swept contrasts nearest to the paper's 1 and 0.06, one batch of 8 images
    table = pd.read_csv(tmp_path / "fig5_contrast_pairs.csv").set_index("regime")
    assert list(table.index) == list(regimes) and (table.c_high == 1.0).all() and (table.c_low == 0.125).all()
    for regime in regimes:
        sweep = load_dataset(tmp_path / f"fig5_contrast_{regime}.nc")
        assert table.loc[regime, "accuracy_high_pct"] == pytest.approx(100 * float(sweep.accuracy.sel(contrast=1.0)))
        assert table.loc[regime, "accuracy_low_pct"] == pytest.approx(100 * float(sweep.accuracy.sel(contrast=0.125)))
        # a fixed grid takes the same steps for a batch as for each image alone
        assert table.loc[regime, "nfe_batch_high"] == table.loc[regime, "nfe_image_high"] == 48
    assert table.loc["naive", "nfe_batch_low"] == 48 and table.loc["scale_all", "nfe_batch_low"] == 12  # 3 x 4 x 1
    assert table.loc["scale_all", "nfe_image_change_pct"] == pytest.approx(-75.0)
    pairs = validate_dataset(load_dataset(tmp_path / "fig5_contrast_pairs.nc"))
    assert pairs.nfe_per_batch.dims == ("regime", "contrast", "batch", "block") and pairs.batch_images.values == [8]


# --------------------------------------------------------------------------------------------- table 1
def test_table1_counts_equal_built_models_and_paper(tiny, tmp_path):
    table1.run(tiny, tmp_path, progress=False)
    ds = validate_dataset(load_dataset(tmp_path / "table1_parameters.nc"))
    csv = pd.read_csv(tmp_path / "table1_parameters.csv")
    names = [
        "dcn-ode",
        "dcn-full",
        "dcn-sigma-ji",
        "odenet",
        "resnet-blocks",
        "resnet-srf-blocks",
        "resnet-srf-full",
        "dcn-sigma-t",
        "dcn-sigma-t2",
        "dcn-sigma-alpha-t",
    ]
    assert list(ds["model"].values) == names == list(csv["model"])
    counts = [sum(p.numel() for p in nd.build_model(n).parameters()) for n in names]
    np.testing.assert_array_equal(ds["parameters"].values, counts)
    np.testing.assert_array_equal(csv["parameters"].to_numpy(), counts)
    paper = [429, 326, 472, 560, 555, 426, 323]  # DCN paper Table 1, thousands
    np.testing.assert_array_equal(np.round(ds["parameters"].values[:7], -3) / 1000, paper)
    np.testing.assert_array_equal(ds["paper_rounded"].values[:7] / 1000, paper)
    assert np.isnan(ds["paper_rounded"].values[7:]).all()
    np.testing.assert_array_equal(ds["rounds_to_paper"].values, [1] * 7 + [-1] * 3)
    assert ds.attrs["checkpoint_parameters"] == sum(p.numel() for p in _cortex(tiny).model.parameters())
    _assert_png(tmp_path / "table1_parameters.png")


# --------------------------------------------------------------------------------------------- plumbing
def test_results_index_collects_every_run(tiny, tmp_path):
    fig3.run(tiny, tmp_path, progress=False)
    table1.run(tiny, tmp_path, progress=False)
    index = json.loads((tmp_path / INDEX_NAME).read_text())
    assert set(index["files"]) == {
        "fig3_sigma.nc",
        "fig3_learned_scales.nc",
        "fig3a_sigma_vs_depth.png",
        "table1_parameters.nc",
        "table1_parameters.csv",
        "table1_parameters.png",
    }
    assert {f["analysis"] for f in index["files"].values()} == {"fig3_sigma", "table1_parameters"}
    assert set(index["runs"]) == {"fig3_sigma", "table1_parameters"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_main_runs_and_reports_user_errors(tiny, tmp_path, capsys):
    assert fig3_script.main(["--checkpoint", str(tiny), "--out", str(tmp_path), "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "fig3_sigma.nc").is_file()
    assert fig4_script.main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path)]) == 2
    assert "missing.pt" in capsys.readouterr().err
    args = [
        "--checkpoint",
        str(tiny),
        "--out",
        str(tmp_path),
        "--quick",
        "--num-images",
        "999",
        "--no-progress",
    ]
    assert fig5_script.main(args) == 2
    assert "num_images must be at most 128" in capsys.readouterr().err


def test_scripts_are_fronts_over_the_package():
    assert fig3_script.run is fig3.run and fig4_script.run is fig4.run and fig5_script.run is fig5.run
