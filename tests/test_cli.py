"""The neurodcn command, run in-process on a synthetic CIFAR-10 folder."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from neurodcn.cli import COMMANDS, build_parser, dataset_name, main, register_command
from neurodcn.data.bundled import bundled_checkpoint, bundled_checkpoints
from neurodcn.data.cifar10 import load_cifar10
from neurodcn.train.checkpoint import load_checkpoint
from neurodcn.train.trainer import evaluate

TINY = ["--model", "dcn-ode", "--width", "2", "--solver", "euler", "--step-size", "1.0", "--no-adjoint",
        "--batch-size", "35", "--per-class", "8", "--no-progress", "--threads", "1"]  # 70 train / 10 val images


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_train_then_evaluate_reproduces_the_card(synthetic_cifar, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--data", str(synthetic_cifar.root), "--epochs", "2", "--out", str(out),
                 "--test", "--lr", "0.3"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    model, card = load_checkpoint(out / "best.pt")
    assert card["dataset"] == "CIFAR-10 subset (200 train / 40 test)"
    assert card["schedule"]["base_lr"] == 0.3 and card["schedule"]["milestones"] == [1]  # 40 % of 2 epochs
    assert (card["solver"]["method"], card["solver"]["step_size"], card["solver"]["adjoint"]) == ("euler", 1.0, False)
    assert card["data"]["train"]["num_images"] == 70 and card["data"]["validation"]["num_images"] == 10
    assert "per_class_subset(n=8, seed=0)" in card["data"]["train"]["source"]
    assert len(pd.read_csv(out / "metrics.csv")) == 2
    test = load_cifar10(synthetic_cifar.root, "test")
    expected = evaluate(model, test, 1000)
    assert card["test"]["accuracy"] == expected["accuracy"] and card["test"]["num_images"] == 40
    assert card["epochs_completed"] == 2 and card["best_epoch"] in (1, 2)

    result_file = tmp_path / "eval.json"
    assert main(["evaluate", str(out / "best.pt"), "--data", str(synthetic_cifar.root), "--json", str(result_file),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    result = json.loads(result_file.read_text())
    assert result["accuracy"] == card["test"]["accuracy"] and result["correct"] == expected["correct"]
    assert f"({expected['correct']}/40)" in printed and result["solver"]["method"] == "euler"


def test_resume_continues_a_finished_run_to_more_epochs_only_with_the_same_settings(synthetic_cifar, tmp_path,
                                                                                   capsys):
    args = ["train", *TINY, "--data", str(synthetic_cifar.root), "--epochs", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    assert main(args) == 2  # the run directory holds a run: --resume is needed
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0  # nothing left to do: same settings, 1 of 1 epochs done
    assert len(pd.read_csv(tmp_path / "metrics.csv")) == 1


def test_data_defaults_to_the_environment_variable(synthetic_cifar, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURODCN_CIFAR10", str(synthetic_cifar.root))
    assert main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    monkeypatch.delenv("NEURODCN_CIFAR10")
    assert main(["evaluate", str(tmp_path / "run" / "best.pt"), "--split", "train", "--no-progress"]) == 2


@pytest.mark.parametrize("extra, message", [
    (["--model", "no-such-model"], "no-such-model"),
    (["--solver", "dopri5"], "step_size"),  # a step size (from TINY) with an adaptive method
    (["--val-fraction", "1.5"], "--val-fraction"),
    (["--batch-size", "7000"], "batch_size"),
])
def test_bad_train_arguments_give_one_line_errors(synthetic_cifar, tmp_path, capsys, extra, message):
    args = ["train", *TINY, "--data", str(synthetic_cifar.root), "--epochs", "1", "--out", str(tmp_path), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("neurodcn train: error:") and message in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["train", "--epochs", "0"], ["train", "--lr", "-1"], ["frobnicate"],
                                  ["evaluate"]])
def test_argparse_rejects_malformed_command_lines(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "error" in capsys.readouterr().err


def test_missing_data_folder_and_checkpoint_are_reported(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "none.pt"), "--data", str(tmp_path)]) == 2
    assert "none.pt" in capsys.readouterr().err
    assert main(["train", "--model", "odenet", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_help_lists_the_options(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--data" in text and (("--resume" in text and "--step-size" in text) if command == "train"
                                 else "--split" in text)


def test_new_subcommands_register_themselves(capsys):
    def add(p):
        p.add_argument("--n", type=int, default=2)

    register_command("echo-test", "print n", add, lambda args: print(args.n * 3) or 0)
    try:
        assert "echo-test" in build_parser().format_help()
        assert main(["echo-test", "--n", "5"]) == 0 and capsys.readouterr().out.strip() == "15"
        with pytest.raises(ValueError, match="already registered"):
            register_command("echo-test", "again", add, lambda args: 0)
    finally:
        COMMANDS.pop("echo-test")


def test_dataset_names():
    assert dataset_name(50_000, 10_000) == "CIFAR-10"
    assert dataset_name(4_660, 932) == "CIFAR-10 subset (4,660 train / 932 test)"
    assert dataset_name(4_660, None) == "CIFAR-10 subset (4,660 train)"


REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO.parent / "shared" / "data" / "cifar-10-subset"


@pytest.mark.slow
@pytest.mark.skipif(not SUBSET.is_dir(), reason=f"the CIFAR-10 subset is not at {SUBSET}")
@pytest.mark.parametrize("name", sorted(bundled_checkpoints()))
def test_bundled_checkpoints_reproduce_their_cards(name, tmp_path, capsys):
    path = bundled_checkpoint(name)
    result_file = tmp_path / "result.json"
    assert main(["evaluate", str(path), "--data", str(SUBSET), "--json", str(result_file), "--no-progress"]) == 0
    result = json.loads(result_file.read_text())
    _, card = load_checkpoint(path)
    trained_on = "CIFAR-10 subset (4,660 train / 932 test)" if name.endswith("-subset") else "CIFAR-10 (JPEG-degraded)"
    assert card["dataset"] == trained_on
    assert card["model"]["name"] == name.removesuffix("-subset").removesuffix("-euler")
    assert json.loads(path.with_suffix(".card.json").read_text()) == card
    assert result["num_images"] == card["test"]["num_images"] == 932
    assert result["correct"] == card["test"]["correct"] and result["accuracy"] == card["test"]["accuracy"]
    assert result["solver"] == card.get("solver")
