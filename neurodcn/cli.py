"""The ``neurodcn`` command: train, evaluate, demo (more register themselves with ``register_command``).

    neurodcn train --model dcn-ode --data DIR --epochs 20 --out runs/dcn [--resume] [--width 16]
                   [--solver rk4 --step-size 0.5] [--batch-size 128] [--lr 0.1] [--seed 0] [--test] ...
    neurodcn evaluate runs/dcn/best.pt --data DIR [--split test] [--json result.json]
    neurodcn demo --out results [--quick] [--checkpoint CKPT]

``--data`` defaults to $NEURODCN_CIFAR10. ``torchrun --nproc_per_node=N -m neurodcn.train ...`` runs the train
subcommand data-parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from neurodcn.validate import check_bool, check_callable, check_str

__all__ = ["main", "build_parser", "register_command", "COMMANDS", "dataset_name"]

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}
"""name -> (one-line help, add_arguments(parser), run(args) -> exit code)."""


class CommandError(Exception):
    """A user error: printed as ``neurodcn <command>: error: ...`` with exit code 2."""


def register_command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                     run: Callable[[argparse.Namespace], int], *, replace: bool = False) -> None:
    """Add a subcommand: ``add_arguments(parser)`` declares its options, ``run(args)`` returns the exit code and
    may raise ValueError/TypeError/FileNotFoundError for user errors (reported without a traceback)."""
    if check_str("name", name).startswith("-"):
        raise ValueError(f"name must be a non-empty string not starting with '-', got {name!r}")
    check_callable("add_arguments", add_arguments, "callable as add_arguments(parser)")
    check_callable("run", run, "callable as run(args)")
    replace = check_bool("replace", replace)
    if name in COMMANDS and not replace:
        raise ValueError(f"command {name!r} is already registered (pass replace=True to override it)")
    COMMANDS[name] = (help, add_arguments, run)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value
    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _data_arg(parser: argparse.ArgumentParser) -> None:
    from neurodcn.data.cifar10 import ENV_VAR

    parser.add_argument("--data", default=os.environ.get(ENV_VAR), metavar="DIR",
                        help=f"cifar-10-batches-py folder (default: ${ENV_VAR})")


def _require_data(args) -> str:
    from neurodcn.data.cifar10 import ENV_VAR

    if not args.data:
        raise CommandError(f"--data is required (or set ${ENV_VAR}): the cifar-10-batches-py folder")
    return args.data


def dataset_name(num_train: int, num_test: int | None) -> str:
    """How results on a CIFAR-10 folder are named: "CIFAR-10" only for the full 50,000 / 10,000 images."""
    if num_train == 50_000 and num_test == 10_000:
        return "CIFAR-10"
    test = f" / {num_test:,} test" if num_test is not None else ""
    return f"CIFAR-10 subset ({num_train:,} train{test})"


def _check_output(option: str, text: str, directory: bool) -> None:
    """Before any work: the user's --out / --json path is usable (a run folder, or a file in an existing folder)."""
    p = Path(text)
    if directory:
        if p.exists() and not p.is_dir():
            raise CommandError(f"{option} {text!r} is an existing file; it must be a run folder (new or existing)")
        return
    if p.is_dir():
        raise CommandError(f"{option} {text!r} is an existing folder; it must be a file name (left untouched)")
    if not p.parent.is_dir():
        raise CommandError(f"{option} {text!r}: the folder {str(p.parent)!r} does not exist")
    from neurodcn.io.atomic import check_destination

    try:  # a FIFO, device node or unwritable folder is found now, not after the work
        check_destination(p, overwrite=True)
    except (OSError, ValueError) as err:
        raise CommandError(f"{option} {text!r}: {err}") from None


def _device(name: str):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise CommandError(f"--device {name!r} is not a torch device: {err}") from None


# ----------------------------------------------------------------------------------------------------------- train
def _train_arguments(p: argparse.ArgumentParser) -> None:
    from neurodcn.nn.dynamics import ADAPTIVE_METHODS, FIXED_GRID_METHODS

    p.add_argument("--model", required=True, help="model name (see neurodcn.list_models())")
    _data_arg(p)
    p.add_argument("--out", required=True, metavar="DIR", help="run directory (state.pt, best.pt, metrics.csv)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--epochs", type=positive_int, default=100, help="epochs (default 100)")
    p.add_argument("--per-class", type=positive_int, metavar="N",
                   help="train on N images per class (drawn without replacement; default: all)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of each class held out for model selection (default 0.1)")
    p.add_argument("--width", type=positive_int, help="channels of the first stage (default: the model's, 32)")
    p.add_argument("--solver", choices=ADAPTIVE_METHODS + FIXED_GRID_METHODS, help="ODE solver (default dopri5)")
    p.add_argument("--step-size", type=positive_float, help="step of fixed-grid solvers (model time)")
    p.add_argument("--rtol", type=positive_float, help="relative tolerance of adaptive solvers (default 1e-3)")
    p.add_argument("--atol", type=positive_float, help="absolute tolerance of adaptive solvers (default 1e-3)")
    p.add_argument("--T", type=positive_float, help="integration time of every ODE block (default 2)")
    p.add_argument("--adjoint", action=argparse.BooleanOptionalAction, default=None,
                   help="backpropagate through the adjoint ODE (default: on)")
    p.add_argument("--sigma-range", type=positive_float, nargs=2, metavar=("MIN", "MAX"),
                   help="clip of SRF sigma in pixels (default 0.05 8)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="global batch (default 128)")
    p.add_argument("--lr", type=positive_float, help="initial learning rate (default 0.1 * batch / 128)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="sgd (default) or adam")
    p.add_argument("--kinetic", type=float, default=0.0, metavar="WEIGHT",
                   help="weight of the kinetic-energy regulariser int ||f||^2 dt (default 0: off)")
    p.add_argument("--jacobian", type=float, default=0.0, metavar="WEIGHT",
                   help="weight of the Jacobian Frobenius-norm regulariser (Hutchinson; default 0: off)")
    p.add_argument("--field-gain", type=positive_float, default=1.0, metavar="GAIN",
                   help="scale the last GroupNorm weight of every ODE vector field at the start (default 1)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="forward pass under torch.autocast at this precision (default fp32; bf16 needs a CPU with "
                   "AVX-512 BF16 or AMX to pay, fp16 adds a gradient scaler)")
    p.add_argument("--data-name", metavar="TEXT",
                   help="how results on --data are named in cards (default: 'CIFAR-10' for 50,000 / 10,000 images, "
                   "else 'CIFAR-10 subset (...)'; e.g. 'CIFAR-10 (JPEG-degraded)')")
    p.add_argument("--keep-denormals", action="store_true",
                   help="do not flush denormal floats to zero while training (flushing, the default, keeps weight "
                   "decay's tiny values from slowing CPU arithmetic several times)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--milestones", type=positive_int, nargs="*", metavar="EPOCH",
                   help="epochs where the lr drops (default: 40 %% and 70 %% of --epochs, as 40, 70 of 100)")
    p.add_argument("--gamma", type=positive_float, default=0.1, help="lr factor at each milestone (default 0.1)")
    p.add_argument("--eval-batch-size", type=positive_int, default=1000)
    p.add_argument("--no-augment", action="store_true", help="no random crop + flip")
    p.add_argument("--no-clip-sigma", action="store_true", help="do not project sigma into --sigma-range")
    p.add_argument("--grad-clip", type=positive_float, help="max L2 norm of the gradients")
    p.add_argument("--checkpoint-every", type=positive_int, metavar="STEPS",
                   help="also save the training state every STEPS steps inside an epoch")
    p.add_argument("--seed", type=int, default=0, help="model init, split, batch order, augmentation (default 0)")
    p.add_argument("--test", action="store_true",
                   help="after training, evaluate the selected model on the test split and record it in its card")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _model_overrides(args) -> dict:
    from neurodcn.nn.dynamics import SolverConfig
    from neurodcn.nn.zoo import list_models

    if args.model not in list_models():
        raise CommandError(f"--model {args.model!r} is unknown; known models: {', '.join(list_models())}")
    overrides = {"seed": args.seed}
    if args.width is not None:
        overrides["width"] = args.width
    if args.sigma_range is not None:
        overrides["sigma_range"] = list(args.sigma_range)
    solver_changes = {k: v for k, v in (("method", args.solver), ("step_size", args.step_size), ("rtol", args.rtol),
                                        ("atol", args.atol), ("T", args.T), ("adjoint", args.adjoint))
                      if v is not None}
    if solver_changes:
        overrides["solver"] = SolverConfig().replace(**solver_changes)
    return overrides


def _run_train(args) -> int:
    import torch

    from neurodcn.data.cifar10 import CIFAR10Error, load_cifar10, per_class_subset, train_val_split
    from neurodcn.nn.zoo import build_model
    from neurodcn.train import distributed
    from neurodcn.train.checkpoint import load_checkpoint, save_checkpoint
    from neurodcn.train.trainer import TrainConfig, evaluate, train

    root = _require_data(args)
    _check_output("--out", args.out, directory=True)
    if not 0 < args.val_fraction < 1:
        raise CommandError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = _model_overrides(args)
    schedule = dict(batch_size=args.batch_size, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                    gamma=args.gamma, eval_batch_size=args.eval_batch_size, augment=not args.no_augment,
                    seed=args.seed, clip_sigma=not args.no_clip_sigma, grad_clip=args.grad_clip,
                    checkpoint_every=args.checkpoint_every, optimizer=args.optimizer, kinetic=args.kinetic,
                    jacobian=args.jacobian, field_gain=args.field_gain,
                    precision=args.precision)
    config = (TrainConfig.scaled(args.epochs, **schedule) if args.milestones is None
              else TrainConfig(epochs=args.epochs, milestones=tuple(args.milestones), **schedule))
    full = load_cifar10(root, "train")
    try:
        test = load_cifar10(root, "test")
    except CIFAR10Error:
        if args.test:
            raise
        test = None
    data = full if args.per_class is None else per_class_subset(full, args.per_class, seed=args.seed)
    train_part, val_part = train_val_split(data, val_fraction=args.val_fraction, seed=args.seed)
    name = args.data_name or dataset_name(len(full), None if test is None else len(test))
    device = _device(args.device)
    distributed.setup_from_env()
    try:
        model = build_model(args.model, **overrides).to(device)
        card = {"dataset": name, "command": " ".join(["neurodcn", *(sys.argv[1:] if args.argv is None
                                                                      else args.argv)])}
        result = train(model, train_part, val_part, args.out, config, resume=args.resume,
                       progress=not args.no_progress, card=card,
                       flush_denormal=not args.keep_denormals)
        best = result["best"]
        if distributed.is_main():
            print(f"best validation accuracy {best['val_accuracy']:.4f} at epoch {best['epoch']} "
                  f"(checkpoint {result['best_path']})")
        if args.test and distributed.is_main():
            model, card = load_checkpoint(result["best_path"])
            res = evaluate(model.to(device), test, config.eval_batch_size, progress=not args.no_progress)
            card["test"] = {**res, "split": "test", "data": test.describe()}
            card["epochs_completed"] = len(result["history"])
            save_checkpoint(model, result["best_path"], card)
            print(f"test accuracy {res['accuracy']:.4f} ({res['correct']}/{res['num_images']}) on {name}")
    finally:
        distributed.cleanup()
    return 0


# -------------------------------------------------------------------------------------------------------- evaluate
def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint written by neurodcn train (e.g. best.pt)")
    _data_arg(p)
    p.add_argument("--split", choices=("test", "train"), default="test", help="which images (default test)")
    p.add_argument("--batch-size", type=positive_int,
                   help="evaluation batch (default: the card's eval_batch_size, else 1000)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_evaluate(args) -> int:
    from neurodcn.data.cifar10 import load_cifar10
    from neurodcn.io.atomic import write_text
    from neurodcn.train.checkpoint import load_checkpoint
    from neurodcn.train.trainer import evaluate

    root = _require_data(args)
    if args.json:
        _check_output("--json", args.json, directory=False)
    model, card = load_checkpoint(args.checkpoint)
    batch = args.batch_size or (card.get("schedule") or {}).get("eval_batch_size", 1000)
    data = load_cifar10(root, args.split)
    res = evaluate(model.to(_device(args.device)), data, batch, progress=not args.no_progress)
    solver = card.get("model", {}).get("config", {}).get("solver")
    result = {"checkpoint": str(args.checkpoint), "model": card.get("model", {}).get("name"), "split": args.split,
              "data": data.describe(), "batch_size": batch, "solver": solver, **res}
    print(f"{result['model']} on the {args.split} split ({data.source}): accuracy {res['accuracy']:.4f} "
          f"({res['correct']}/{res['num_images']}), loss {res['loss']:.4f}")
    if args.json:
        write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


register_command("train", "train a model on a local CIFAR-10 folder (resumable)", _train_arguments, _run_train)
register_command("evaluate", "accuracy of a checkpoint on a CIFAR-10 split", _evaluate_arguments, _run_evaluate)

from neurodcn import demo as _demo  # noqa: E402  (imports only the standard library until it runs)

register_command("demo", _demo.HELP, _demo.add_arguments, _demo.run_command)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per registered command."""
    parser = argparse.ArgumentParser(prog="neurodcn", description="Deep Continuous Networks and a virtual cortex.")
    from neurodcn._version import __version__

    parser.add_argument("--version", action="version", version=f"neurodcn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _kept(args) -> str:
    """What an interrupted command leaves behind, in words."""
    if args.command == "train":
        state = Path(args.out) / "state.pt"
        if not state.exists():
            return f"no training state had been saved in {args.out!r} yet"
        return (f"{str(state)!r} keeps the last saved training state (saved after every epoch and every "
                "--checkpoint-every steps); run the same command with --resume to continue")
    if args.command == "demo":
        return f"the analyses finished so far are kept in {args.out!r}; run the demo again to finish"
    return "nothing was written"


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit code. User errors print one line
    ``neurodcn <command>: error: ...`` to stderr and return 2; an interrupt (Ctrl-C) prints one line saying
    what was kept and returns 130."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = None if argv is None else list(argv)
    try:
        return COMMANDS[args.command][2](args)
    except (CommandError, ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError) as err:
        print(f"neurodcn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neurodcn {args.command}: interrupted; {_kept(args)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
