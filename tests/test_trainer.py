"""The trainer: reference schedule, bit-identical resume, NaN guard, sigma projection, metrics CSV, selection."""

import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from neurodcn.data.cifar10 import load_cifar10, per_class_subset, train_val_split
from neurodcn.nn.srf import SRFConv2d
from neurodcn.nn.zoo import build_model
from neurodcn.train.checkpoint import load_checkpoint, load_training_state
from neurodcn.train.trainer import TrainConfig, TrainingDiverged, evaluate, predict, srf_sigmas, step_loss, train

EULER = dict(method="euler", step_size=1.0, adjoint=False)  # 2 steps over [0, 2]: 2 NFE per solve


@pytest.fixture
def splits(synthetic_cifar):
    data = per_class_subset(load_cifar10(synthetic_cifar.root), 6, seed=0)  # 60 images
    return train_val_split(data, val_per_class=2, seed=0)  # 40 train, 20 validation


def tiny(name="dcn-ode", **kw):
    return build_model(name, width=2, seed=0, solver=EULER, **kw)


def test_defaults_are_the_reference_schedule():
    c = TrainConfig()
    assert (c.epochs, c.batch_size, c.momentum, c.weight_decay, c.milestones, c.gamma) == (100, 128, 0.9, 0, (40, 70),
                                                                                             0.1)
    assert (c.eval_batch_size, c.augment, c.crop_padding) == (1000, True, 4)
    assert c.base_lr == 0.1 and TrainConfig(batch_size=64).base_lr == 0.05 and TrainConfig(lr=0.3).base_lr == 0.3
    assert TrainConfig.scaled(100).milestones == (40, 70)
    assert TrainConfig.scaled(20).milestones == (8, 14)


@pytest.mark.parametrize("changes, word", [({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"),
                                           ({"milestones": (70, 40)}, "milestones"), ({"augment": 1}, "augment"),
                                           ({"batch_size": 2.5}, "batch_size"), ({"grad_clip": math.nan}, "grad_clip")])
def test_config_rejects_bad_values(changes, word):
    with pytest.raises(ValueError, match=word):
        TrainConfig(**changes)


def test_evaluate_matches_one_full_batch(splits):
    _, val = splits
    model = tiny("odenet")
    with torch.no_grad():
        logits = model.eval()(val.images)
    expected_loss = float(F.cross_entropy(logits, val.labels))
    expected_correct = int((logits.argmax(1) == val.labels).sum())
    for batch in (3, 1000):
        res = evaluate(model, val, batch_size=batch)
        assert res["correct"] == expected_correct and res["num_images"] == 20
        assert res["accuracy"] == expected_correct / 20
        assert res["loss"] == pytest.approx(expected_loss, rel=1e-5)
        assert res["forward_nfe"] == [2.0, 2.0, 2.0]  # euler, step 1 over [0, 2]
    assert all(r["total_nfe"] == 0 for r in model.nfe_report())  # counters reset: nothing leaks


def _strip_seconds(df):
    return df.drop(columns="seconds")


def _interrupt_at_epoch_1(train_part, val, out, config):
    """Train a fresh tiny model into ``out`` and stop it by Ctrl-C at the first step of epoch 1 (0-based): the
    state on disk is the one after epoch 0."""
    def kill(epoch, step):
        if (epoch, step) == (1, 0):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(), train_part, val, out, config, progress=False, on_step=kill)


def test_resume_after_an_epoch_is_bit_identical(splits, tmp_path):
    train_part, val = splits
    config = TrainConfig(epochs=2, batch_size=20, milestones=(1,))
    straight = tiny()
    train(straight, train_part, val, tmp_path / "a", config, progress=False)

    _interrupt_at_epoch_1(train_part, val, tmp_path / "b", config)
    assert load_training_state(tmp_path / "b" / "state.pt", model=tiny(), restore_rng=False)["epoch"] == 1
    resumed = tiny()  # a fresh process would rebuild the model the same way
    train(resumed, train_part, val, tmp_path / "b", config, resume=True, progress=False)
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    pd.testing.assert_frame_equal(_strip_seconds(pd.read_csv(tmp_path / "a" / "metrics.csv")),
                                  _strip_seconds(pd.read_csv(tmp_path / "b" / "metrics.csv")))


@pytest.mark.parametrize("extra", [{}, {"kinetic": 0.1, "jacobian": 0.05}, {"optimizer": "adam"},
                                   {"precision": "bf16"}, {"precision": "fp16"}])
def test_resume_mid_epoch_is_bit_identical(splits, tmp_path, extra):
    train_part, val = splits
    config = TrainConfig(epochs=1, batch_size=10, checkpoint_every=2, **extra)  # 4 steps, states after 2 (and 4)
    straight = tiny()
    train(straight, train_part, val, tmp_path / "a", config, progress=False)

    def kill(epoch, step):
        if step == 2:  # after the third step: the state on disk is the one after step 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(), train_part, val, tmp_path / "b", config, progress=False, on_step=kill)
    resumed = tiny()
    train(resumed, train_part, val, tmp_path / "b", config, resume=True, progress=False)
    a, b = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    if extra.get("kinetic"):  # the regularisers are logged per epoch (mean over the steps)
        logged = pd.read_csv(tmp_path / "a" / "metrics.csv")
        assert logged["train_kinetic"].iloc[0] > 0 and logged["train_jacobian"].iloc[0] > 0
    pd.testing.assert_frame_equal(_strip_seconds(pd.read_csv(tmp_path / "a" / "metrics.csv")),
                                  _strip_seconds(pd.read_csv(tmp_path / "b" / "metrics.csv")))


def test_existing_run_needs_resume_and_the_same_settings(splits, tmp_path):
    train_part, val = splits
    train(tiny(), train_part, val, tmp_path, TrainConfig(epochs=1, batch_size=20), progress=False)
    with pytest.raises(FileExistsError, match="resume"):
        train(tiny(), train_part, val, tmp_path, TrainConfig(epochs=1, batch_size=20), progress=False)
    with pytest.raises(ValueError, match=r"differs in \['train'\]"):
        train(tiny(), train_part, val, tmp_path, TrainConfig(epochs=2, batch_size=10), resume=True, progress=False)


def test_resume_with_a_new_schedule_equals_an_uninterrupted_run_of_it(splits, tmp_path):
    """Epochs and milestones still to come may change on resume; the run then equals one that had the new schedule
    from the start (the lr so far is the same), and the best checkpoint's card records the change."""
    train_part, val = splits
    planned, shortened = TrainConfig(epochs=4, batch_size=20, milestones=(1,)), TrainConfig(
        epochs=3, batch_size=20, milestones=(1, 2))
    straight = tiny()
    train(straight, train_part, val, tmp_path / "a", shortened, progress=False)

    _interrupt_at_epoch_1(train_part, val, tmp_path / "b", planned)
    for bad, said in ((TrainConfig(epochs=1, batch_size=20, milestones=(1,)), "epochs=1"),  # no epoch left
                      (TrainConfig(epochs=3, batch_size=20, milestones=(2,)), r"milestones=\[2\]")):  # past lr
        with pytest.raises(ValueError, match=rf"{said}.*reached epoch 1 of 4 under milestones \[1\]"):
            train(tiny(), train_part, val, tmp_path / "b", bad, resume=True, progress=False)
    resumed = tiny()
    train(resumed, train_part, val, tmp_path / "b", shortened, resume=True, progress=False)
    a, b = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    metrics = _strip_seconds(pd.read_csv(tmp_path / "b" / "metrics.csv"))
    pd.testing.assert_frame_equal(_strip_seconds(pd.read_csv(tmp_path / "a" / "metrics.csv")), metrics)
    assert metrics["lr"].tolist() == pytest.approx([0.1 * 20 / 128 * 0.1 ** k for k in range(3)])
    change = [{"at_epoch": 1, "epochs": [4, 3], "milestones": [[1], [1, 2]]}]
    state = load_training_state(tmp_path / "b" / "state.pt", model=tiny(), restore_rng=False)
    assert state["metrics"]["schedule_changes"] == change
    _, card = load_checkpoint(tmp_path / "b" / "best.pt")
    assert card.get("schedule_changes") == (change if card["best_epoch"] > 1 else None)


def test_nan_stops_and_keeps_the_last_good_checkpoint(splits, tmp_path):
    train_part, val = splits
    model = tiny()

    def poison(epoch, step):
        if (epoch, step) == (1, 0):
            with torch.no_grad():
                model.head[-1].weight.fill_(math.nan)

    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 2: non-finite loss.*1 epochs done"):
        train(model, train_part, val, tmp_path, TrainConfig(epochs=3, batch_size=20), progress=False,
              on_step=poison)
    kept = tiny()
    assert load_training_state(tmp_path / "state.pt", model=kept, restore_rng=False)["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in kept.parameters())
    best, card = load_checkpoint(tmp_path / "best.pt")
    assert card["epochs_trained"] == 1 and all(torch.isfinite(p).all() for p in best.parameters())
    assert len(pd.read_csv(tmp_path / "metrics.csv")) == 1


def test_metrics_csv_nfe_sigma_and_selection(splits, tmp_path):
    train_part, val = splits
    model = tiny()
    config = TrainConfig(epochs=3, batch_size=20, milestones=(1, 2), lr=0.2)
    result = train(model, train_part, val, tmp_path, config, progress=False, card={"dataset": "synthetic"})
    df = pd.read_csv(tmp_path / "metrics.csv")
    assert list(df["epoch"]) == [1, 2, 3]
    assert df["lr"].tolist() == pytest.approx([0.2, 0.02, 0.002])
    for i in range(3):  # euler with step 1 over [0, 2]: 2 forward evaluations per solve, no adjoint
        assert (df[f"train_forward_nfe_block{i}"] == 2).all() and (df[f"train_backward_nfe_block{i}"] == 0).all()
        assert (df[f"val_forward_nfe_block{i}"] == 2).all()
    sigmas = srf_sigmas(model)
    assert len(sigmas) == 6  # two SRF layers per ODE block
    assert [df[f"sigma:{k}"].iloc[-1] for k in sigmas] == pytest.approx(list(sigmas.values()))
    assert all(r["total_nfe"] == 0 for r in model.nfe_report())
    best_row = df.iloc[int(df["val_accuracy"].to_numpy().argmax())]  # first maximum
    _, card = load_checkpoint(tmp_path / "best.pt")
    assert card["best_epoch"] == best_row["epoch"] == result["best"]["epoch"]
    assert card["metrics"]["val_accuracy"] == best_row["val_accuracy"]
    assert card["dataset"] == "synthetic" and card["solver"]["method"] == "euler"
    assert card["schedule"]["milestones"] == [1, 2] and card["data"]["validation"]["num_images"] == 20
    assert card["model"]["config"]["width"] == 2


def test_sigma_is_projected_into_its_range(splits, tmp_path):
    train_part, val = splits
    for clip in (True, False):
        model = tiny(sigma_range=[0.5, 1.0])
        layer = next(m for m in model.modules() if isinstance(m, SRFConv2d))
        with torch.no_grad():
            layer.log2_sigma.fill_(3.0)  # sigma 8, outside the range: the clamp passes no gradient
        train(model, train_part, val, tmp_path / str(clip), TrainConfig(epochs=1, batch_size=20, clip_sigma=clip),
              progress=False)
        if clip:  # projected into [log2 0.5, log2 1.0] = [-1, 0]
            assert -1.0 <= float(layer.log2_sigma.detach()) <= 0.0
        else:
            assert float(layer.log2_sigma.detach()) == 3.0


def test_train_rejects_bad_arguments(splits, tmp_path):
    train_part, val = splits
    with pytest.raises(TypeError, match="train_data"):
        train(tiny(), train_part.images, val, tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        train(tiny(), train_part, val, tmp_path, TrainConfig(batch_size=1000))
    with pytest.raises(TypeError, match="config"):
        train(tiny(), train_part, val, tmp_path, {"epochs": 1})


def test_field_gain_scales_the_last_norm_of_every_vector_field_once(splits, tmp_path):
    train_part, val = splits
    config = TrainConfig(epochs=2, batch_size=20, lr=1e-12, field_gain=0.1, augment=False)
    before = [b.func.norm3.weight.detach().clone() for _, b in tiny().ode_blocks()]

    def kill(epoch, step):
        if (epoch, step) == (1, 0):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(), train_part, val, tmp_path, config, progress=False, on_step=kill)
    resumed = tiny()  # resuming restores the trained weights: the gain is not applied twice
    train(resumed, train_part, val, tmp_path, config, resume=True, progress=False)
    for w0, (_, b) in zip(before, resumed.ode_blocks(), strict=True):
        torch.testing.assert_close(b.func.norm3.weight.detach(), 0.1 * w0, rtol=1e-6, atol=1e-9)


def _denormal_survives() -> bool:
    """2 x 1e-39 is a float32 denormal (below 1.18e-38): kept as 2e-39, or 0 where the CPU flushes denormals."""
    return float(torch.tensor([1e-39]) * 2) != 0.0


@pytest.mark.parametrize("flush", [True, False])
def test_training_flushes_denormals_only_while_it_runs(splits, tmp_path, flush):
    if not torch.set_flush_denormal(False):  # True where the CPU supports the mode
        pytest.skip("this CPU has no flush-to-zero mode")
    train_part, val = splits
    seen = []
    train(tiny(), train_part, val, tmp_path, TrainConfig(epochs=1, batch_size=20), progress=False,
          on_step=lambda epoch, step: seen.append(_denormal_survives()), flush_denormal=flush)
    assert seen == [not flush] * 2  # two steps, denormals flushed in both when asked
    assert _denormal_survives()  # PyTorch's default again after training


@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16),
                                              ("fp16", torch.float16)])
def test_precision_runs_convolutions_in_that_dtype_and_keeps_float32_parameters(precision, dtype):
    model = tiny()
    model.min_input_size()  # its probe passes (in float32) run before the hook
    seen = []
    model.stem.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    config = TrainConfig(epochs=1, batch_size=4, precision=precision)
    logits, loss, objective, _ = step_loss(model, model, x, y, config, torch.Generator())
    objective.backward()
    assert seen == [dtype]  # torch.autocast casts convolutions, nothing else decides the dtype
    assert loss.dtype == torch.float32
    assert float(loss) == pytest.approx(float(F.cross_entropy(logits.float(), y)))
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.parameters())


def test_precision_is_validated():
    with pytest.raises(ValueError, match="precision.*'fp8'"):
        TrainConfig(precision="fp8")


def test_weight_decay_spares_the_srf_scales():
    model = build_model("dcn-ode", width=2, seed=0, solver=EULER)
    config = TrainConfig(epochs=1, lr=0.5, momentum=0.0, weight_decay=0.1)
    optimizer = config.make_optimizer(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # zero loss gradient: SGD moves a decayed weight by -lr * wd * w, i.e. scales it by 0.95
    scales = [n for n in before if n.endswith("log2_sigma")]
    assert scales
    for n, p in model.named_parameters():
        factor = 1.0 if n in scales else 1 - 0.5 * 0.1
        torch.testing.assert_close(p.detach(), before[n] * factor)


def test_predict_is_the_argmax_of_one_full_batch_in_eval_mode(splits):
    _, val = splits
    model = tiny("odenet").train()
    with torch.no_grad():
        expected = model.eval()(val.images).argmax(1)
    model.train()
    got = predict(model, val.images, batch_size=7)
    assert torch.equal(got, expected) and got.dtype == torch.int64
    assert model.training  # its mode is given back
