"""The DCN-paper training analyses (analyses/table1_accuracy, table2_small_data, table3_reconstruction,
table5_meta) on a synthetic CIFAR-10 folder with tiny settings: their files exist and follow the conventions,
and every reported number is recomputed independently from the saved models."""

import importlib
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import neurodcn as nd
from neurodcn.io.files import load_dataset
from neurodcn.nn.reconstruction import build_reconstruction
from neurodcn.schema import validate_dataset
from neurodcn.train.trainer import evaluate

training = importlib.import_module("analyses.training")
table1 = importlib.import_module("analyses.table1_accuracy")
table2 = importlib.import_module("analyses.table2_small_data")
table3 = importlib.import_module("analyses.table3_reconstruction")
table5 = importlib.import_module("analyses.table5_meta")

TINY = dict(quick=True, epochs=1, width=4, seeds=[0], progress=False)


def _files(out: Path, name: str) -> tuple[pd.DataFrame, object]:
    csv, nc, png = out / f"{name}.csv", out / f"{name}.nc", out / f"{name}.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ds = load_dataset(nc)
    validate_dataset(ds)
    assert ds.attrs["neurodcn_experiment"] == name
    for v in ds.coords:
        assert {"units", "long_name"} <= set(ds[v].attrs), v
    return pd.read_csv(csv), ds


def _best(out: Path, name: str, model: str, per_class, seed: int):
    return nd.load_checkpoint(training.run_dir(out, name, model, per_class, seed) / "best.pt")[0]


def test_settings_and_arguments_are_validated(synthetic_cifar):
    with pytest.raises(ValueError, match="width"):
        training.Settings(width=0)
    with pytest.raises(ValueError, match="seeds"):
        training.settings_from_args(True, seeds=[-1])
    with pytest.raises(ValueError, match="models"):
        training.check_models(["dcn-ode", "vgg"], table2.MODELS)
    settings, _ = training.settings_from_args(True, solver="rk4:0.5")  # a faithful fixed grid for the quick runs
    assert settings.solver == nd.SolverConfig(method="rk4", step_size=0.5, adjoint=False)
    assert training.parse_solver("dopri5") == nd.SolverConfig(method="dopri5", adjoint=False)
    for bad, said in (("rk4", "step_size is required"), ("dopri5:0.5", "step_size"), ("", "METHOD or"),
                      ("rk4:x", "could not convert")):
        with pytest.raises(ValueError, match=said):
            training.parse_solver(bad)
    with pytest.raises(ValueError, match="checkpoint"):
        table1.run(checkpoint="x.pt", data=synthetic_cifar.root, **TINY)
    with pytest.raises(ValueError, match="per_class"):  # 20 per class, 10 of them held out for validation
        table2.run(data=synthetic_cifar.root, per_class=[11], **TINY)
    assert table2.PAPER_PER_CLASS == (2, 4, 8, 16, 32, 52, 64, 103, 128, 512, 1024)
    assert all(len(v) == len(table2.PAPER_PER_CLASS) for v in table2.PAPER_TABLE2.values())


def test_per_class_subsets_are_exact_disjoint_and_without_repeats(synthetic_cifar, tmp_path):
    train_split, test = training.load_splits(synthetic_cifar.root)
    settings = training.Settings(epochs=1, width=4, val_per_class=3, solver=training.QUICK_SOLVER)
    r = training.train_and_test("resnet-blocks", train_split, test, 5, 1, settings, tmp_path / "run")
    images, val = r["train"], r["val"]
    assert images.class_counts().tolist() == [5] * 10 and val.class_counts().tolist() == [3] * 10
    # random synthetic images are distinct, so equal pixels mean the same image
    flat = torch.cat([images.images, val.images]).flatten(1)
    assert len(torch.unique(flat, dim=0)) == 80
    full = train_split.images.flatten(1)
    assert all((full == row).all(1).sum() == 1 for row in flat)  # every image comes from the training split
    assert r["test_accuracy"] == evaluate(r["model"], test)["accuracy"]
    assert r["epochs"] == 1 and r["best_epoch"] == 1


def test_table2_small_data(synthetic_cifar, tmp_path):
    result = table2.run(out=tmp_path, data=synthetic_cifar.root, models=["resnet-blocks"], per_class=[2, 3, 4000],
                        **TINY)
    table, ds = _files(tmp_path, table2.NAME)
    assert list(table.columns[:6]) == ["model", "per_class", "seed", "test_accuracy", "val_accuracy", "epochs"]
    assert table["per_class"].tolist() == [2, 3]  # 4000 exceeds the data and is dropped
    assert table["num_train"].tolist() == [20, 30] and (table["epochs"] == 1).all()
    test = nd.load_cifar10(synthetic_cifar.root, "test")
    for row in table.itertuples():
        model = _best(tmp_path, table2.NAME, row.model, row.per_class, row.seed)
        assert row.test_accuracy == evaluate(model, test)["accuracy"]
        assert float(ds["test_accuracy"].sel(model=row.model, per_class=row.per_class, seed=row.seed)) == \
            row.test_accuracy
    assert table.loc[0, "paper_accuracy_mean"] == pytest.approx(0.167)  # Table 2, ResNet-blocks, 2 per class
    assert math.isnan(table.loc[1, "paper_accuracy_mean"])  # 3 per class: not in the paper
    assert set(result.files) == {f"{table2.NAME}.nc", f"{table2.NAME}.csv", f"{table2.NAME}.png"}


def test_table1_accuracy_main(synthetic_cifar, tmp_path):
    argv = ["--data", str(synthetic_cifar.root), "--quick", "--width", "4", "--epochs", "1", "--seeds", "0",
            "--models", "dcn-ode", "--out", str(tmp_path), "--no-progress"]
    assert table1.main(argv) == 0
    table, ds = _files(tmp_path, table1.NAME)
    assert table["model"].tolist() == ["dcn-ode"] and table["num_train"].tolist() == [100]
    test = nd.load_cifar10(synthetic_cifar.root, "test")
    model = _best(tmp_path, table1.NAME, "dcn-ode", None, 0)
    assert model.config["solver"]["method"] == "euler" and model.config["width"] == 4
    assert table.loc[0, "test_accuracy"] == evaluate(model, test)["accuracy"]
    assert float(ds["paper_accuracy_mean"].sel(model="dcn-ode", seed=0)) == pytest.approx(0.895)
    assert table1.main(argv + ["--models", "vgg"]) == 2


def test_table3_reconstruction_from_an_encoder_checkpoint(synthetic_cifar, tmp_path):
    encoder = nd.build_model("resnet-blocks", width=4, seed=3)
    path = nd.save_checkpoint(encoder, tmp_path / "encoder.pt")
    table3.run(out=tmp_path / "out", data=synthetic_cifar.root, models=["resnet-blocks"],
               encoder_checkpoints=[path], **TINY)
    table, ds = _files(tmp_path / "out", table3.NAME)
    assert table.loc[0, "encoder"] == str(path)
    saved = training.run_dir(tmp_path / "out", table3.NAME, "resnet-blocks", None, 0).with_suffix(".pt")
    net = nd.load_checkpoint(saved, builder=build_reconstruction)[0]
    for a, b in zip(net.encoder.state_dict().values(), encoder.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the encoder stayed frozen
    images = nd.load_cifar10(synthetic_cifar.root, "test").images
    with torch.no_grad():
        mse = F.mse_loss(net(images), images[:, :, 2:30, 2:30]).item()
    assert table.loc[0, "test_mse"] == pytest.approx(mse, rel=1e-5)
    assert float(ds["paper_loss_percent_mean"].sel(model="resnet-blocks", seed=0)) == 21.0


def test_table5_meta_sigma_curves(synthetic_cifar, tmp_path):
    table5.run(out=tmp_path, data=synthetic_cifar.root, models=["dcn-sigma-t"], **TINY)
    table, ds = _files(tmp_path, table5.NAME)
    sigma = pd.read_csv(tmp_path / f"{table5.NAME}_sigma.csv")
    model = _best(tmp_path, table5.NAME, "dcn-sigma-t", None, 0)
    assert table.loc[0, "test_accuracy"] == evaluate(model, nd.load_cifar10(synthetic_cifar.root, "test"))[
        "accuracy"]
    assert sigma["layer"].nunique() == 6 and sigma["t"].min() == 0 and sigma["t"].max() == 2.0
    layer = model.blocks[1].func.conv2  # sigma = 2^(a t' + b), t' = t / 2 (reference code), within sigma_range
    a, b = float(layer.log2_sigma_slope.detach()), float(layer.log2_sigma.detach())
    lo, hi = layer.sigma_range
    rows = sigma[sigma["layer"] == "blocks.1.func.conv2"]
    expected = [min(max(2 ** (a * t / 2 + b), lo), hi) for t in rows["t"]]
    assert rows["sigma"].to_numpy() == pytest.approx(expected, rel=1e-5)
    assert ds["sigma"].dims == ("model", "seed", "layer", "t") and ds["sigma"].attrs["units"] == "pixel"


def test_table2_paired_tests_per_seed_and_pooled(synthetic_cifar, tmp_path):
    """table2_small_data_mcnemar.csv: per seed, the difference equals the two models' accuracies; pooled over
    seeds, the discordant counts are the seeds' sums and p is scipy's exact binomial test of them. Under
    --eval-solver, the ODE model's accuracy is that of its checkpoint solved image by image with torchdiffeq's
    dopri5, and the discrete model's is unchanged."""
    from scipy import stats

    from neurodcn.cortex.sweep import solved_with
    from neurodcn.train.trainer import predict

    table2.run(out=tmp_path, data=synthetic_cifar.root, models=["resnet-blocks", "odenet"], per_class=[2],
               eval_solver="dopri5", **dict(TINY, seeds=[0, 1]))
    table = pd.read_csv(tmp_path / f"{table2.NAME}.csv")
    pairs = pd.read_csv(tmp_path / f"{table2.NAME}_mcnemar.csv", dtype={"seed": str})
    assert pairs["solver"].tolist() == ["training"] * 3 + ["dopri5"] * 3
    assert pairs["seed"].tolist() == ["0", "1", "all"] * 2
    assert (pairs["model_a"] == "resnet-blocks").all() and (pairs["model_b"] == "odenet").all()
    test = nd.load_cifar10(synthetic_cifar.root, "test")
    dopri5 = training.parse_solver("dopri5")
    for row in table.itertuples():
        if row.model == "resnet-blocks":
            assert row.test_accuracy_eval_solver == row.test_accuracy
            continue
        model = _best(tmp_path, table2.NAME, row.model, row.per_class, row.seed)
        with solved_with(model, dopri5):
            right = [bool(predict(model, test.images[i:i + 1]) == test.labels[i]) for i in range(len(test))]
        assert row.test_accuracy_eval_solver == pytest.approx(sum(right) / len(right))
    for solver, column in (("training", "test_accuracy"), ("dopri5", "test_accuracy_eval_solver")):
        acc = table.set_index(["model", "seed"])[column]
        these = pairs[pairs["solver"] == solver]
        per_seed, pooled = these[these["seed"] != "all"], these[these["seed"] == "all"].iloc[0]
        for row in per_seed.itertuples():
            seed = int(row.seed)
            assert row.difference_pct == pytest.approx(100 * (acc["resnet-blocks", seed] - acc["odenet", seed]))
        a, b = int(per_seed["only_a"].sum()), int(per_seed["only_b"].sum())
        assert a + b > 0 and (pooled["only_a"], pooled["only_b"]) == (a, b)
        assert pooled["difference_pct"] == pytest.approx(per_seed["difference_pct"].mean())
        assert pooled["p_value"] == pytest.approx(stats.binomtest(a, a + b, 0.5).pvalue)
