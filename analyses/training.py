"""What the DCN-paper training analyses share (Tables 1, 2, 3, 5): data, settings, one training run, outputs.

One run (:func:`train_and_test`): a zoo model built with ``seed`` is trained with neurodcn.train.train on
``per_class`` images of every class (drawn without replacement, per_class_subset; None: all), the best
epoch is selected on a validation split disjoint from those images (``val_per_class`` further training
images of every class, train_val_split), and its test accuracy is neurodcn.train.evaluate on the test split.
Batches are capped at the number of training images (drop_last would otherwise leave none), with the
reference's lr = 0.1 * batch / 128 and lr x 0.1 at 40 % and 70 % of the epochs (TrainConfig.scaled).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd
import xarray as xr

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

from neurodcn.data.cifar10 import CIFAR10, ENV_VAR, load_cifar10, per_class_subset, train_val_split
from neurodcn.nn.classifier import MODEL_SPECS
from neurodcn.nn.dynamics import SolverConfig
from neurodcn.nn.zoo import build_model
from neurodcn.schema import stamp_provenance
from neurodcn.train.checkpoint import load_checkpoint
from neurodcn.train.trainer import TrainConfig, evaluate, train

__all__ = ["Settings", "QUICK", "FULL", "load_splits", "train_and_test", "add_arguments", "parse_solver",
           "settings_from_args", "check_models", "results_dataset", "reject_checkpoint", "mean_sd",
           "accuracy_summary", "run_dir", "finish_common"]

QUICK_SOLVER = SolverConfig(method="euler", step_size=1.0, adjoint=False)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Training settings of every run of an analysis: epochs, width (channels of stage 1), batch_size (capped
    at the training images), val_per_class (validation images per class, from the training split),
    solver (SolverConfig of ODE models; None: the model's default dopri5), augment (crop + flip)."""

    epochs: int = 100
    width: int = 32
    batch_size: int = 128
    val_per_class: int = 50
    solver: SolverConfig | None = None
    augment: bool = True

    def __post_init__(self):
        for name in ("epochs", "width", "batch_size", "val_per_class"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Settings.{name} must be a positive integer, got {v!r}")
        if self.solver is not None and not isinstance(self.solver, SolverConfig):
            raise TypeError(f"Settings.solver must be a SolverConfig or None, got {type(self.solver).__name__}")

    def to_dict(self) -> dict:
        return dict(dataclasses.asdict(self), solver=None if self.solver is None else self.solver.to_dict())


FULL = Settings()
"""The reference schedule: 100 epochs, width 32, batch 128, adaptive dopri5 with adjoint."""

QUICK = Settings(epochs=2, width=8, batch_size=64, val_per_class=10, solver=QUICK_SOLVER)
"""Minutes on CPU on the CIFAR-10 subset: width 8, 2 epochs, Euler with step 1."""


def load_splits(data=None) -> tuple[CIFAR10, CIFAR10]:
    """(train split, test split) of the CIFAR-10 folder ``data`` (see default_data_root)."""
    root = common.default_data_root(data)
    return load_cifar10(root, "train"), load_cifar10(root, "test")


def check_models(models, allowed) -> list[str]:
    """``models`` as a list of names, each in ``allowed``; ValueError otherwise."""
    models = [models] if isinstance(models, str) else list(models)
    bad = [m for m in models if m not in allowed]
    if not models or bad:
        raise ValueError(f"models must be a non-empty list among {list(allowed)}, got {models!r}")
    return models


def reject_checkpoint(checkpoint) -> None:
    """The shared --checkpoint option does not apply to analyses that train their own models."""
    if checkpoint is not None:
        raise ValueError(f"checkpoint={checkpoint!r}: this analysis trains its own models and takes no checkpoint")


def _model(name: str, seed: int, settings: Settings):
    opts = dict(width=settings.width, seed=seed)
    if MODEL_SPECS[name][0] == "ode" and settings.solver is not None:
        opts["solver"] = settings.solver.to_dict()
    return build_model(name, **opts)


def train_and_test(model_name: str, train_split: CIFAR10, test: CIFAR10, per_class: int | None, seed: int,
                   settings: Settings, run_dir, progress: bool = False) -> dict:
    """Train one zoo model and test it (see the module docstring); resumes a finished or interrupted run found
    in ``run_dir``. Returns {"model" (best-validation weights, eval mode), "train" (the training images),
    "val", "test_accuracy", "test_loss", "val_accuracy", "epochs" (trained), "best_epoch"}."""
    if model_name not in MODEL_SPECS:
        raise ValueError(f"model_name must be one of {list(MODEL_SPECS)}, got {model_name!r}")
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a Settings, got {type(settings).__name__}")
    rest, val = train_val_split(train_split, val_per_class=settings.val_per_class, seed=seed)
    images = rest if per_class is None else per_class_subset(rest, per_class, seed)
    config = TrainConfig.scaled(settings.epochs, batch_size=min(settings.batch_size, len(images)), seed=seed,
                                augment=settings.augment)
    model = _model(model_name, seed, settings)
    result = train(model, images, val, run_dir, config, resume=True, progress=progress,
                   card={"dataset": "CIFAR-10", "per_class": per_class})
    best, _ = load_checkpoint(result["best_path"])
    test_metrics = evaluate(best, test)
    return {"model": best, "train": images, "val": val, "test_accuracy": test_metrics["accuracy"],
            "test_loss": test_metrics["loss"], "val_accuracy": result["best"]["val_accuracy"],
            "epochs": len(result["history"]), "best_epoch": result["best"]["epoch"]}


def add_arguments(p: argparse.ArgumentParser, models: list[str] | None = None) -> argparse.ArgumentParser:
    """Add the training options (--data, --seeds, --epochs, --width and, with ``models``, --models) to ``p``."""
    p.add_argument("--data", default=None, help=f"cifar-10-batches-py folder (default: ${ENV_VAR}, else "
                   "../shared/data/cifar-10-subset beside the repository)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds: model init, subsets, batches "
                   "(default 0 1 2; quick: 0)")
    p.add_argument("--epochs", type=int, default=None, help=f"epochs (default {FULL.epochs}; quick {QUICK.epochs})")
    p.add_argument("--width", type=int, default=None, help=f"width (default {FULL.width}; quick {QUICK.width})")
    p.add_argument("--solver", default=None, metavar="METHOD[:STEP]",
                   help="solver of the ODE models: an adaptive method (e.g. dopri5) or a fixed-grid one with its "
                   "step, e.g. rk4:0.5 (default: dopri5; quick: euler:1); never the adjoint")
    if models is not None:
        p.add_argument("--models", nargs="+", default=None, help=f"models among {models} (default: all)")
    return p


def parse_solver(spec: str) -> SolverConfig:
    """The SolverConfig of ``spec``: "METHOD" (adaptive, e.g. "dopri5") or "METHOD:STEP" (fixed grid, e.g.
    "rk4:0.5"), backpropagated through the solver (no adjoint); ValueError naming the spec otherwise."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"solver must be METHOD or METHOD:STEP (e.g. dopri5, rk4:0.5), got {spec!r}")
    method, _, step = spec.partition(":")
    try:
        return SolverConfig(method=method, step_size=float(step) if step else None, adjoint=False)
    except ValueError as err:
        raise ValueError(f"solver {spec!r}: {err}") from err


def settings_from_args(quick: bool, epochs=None, width=None, seeds=None,
                       solver: str | None = None) -> tuple[Settings, list[int]]:
    """(Settings, seeds) from QUICK or FULL with the command line's epochs, width, seeds and solver
    (:func:`parse_solver`) applied."""
    base = QUICK if quick else FULL
    changes = {k: v for k, v in (("epochs", epochs), ("width", width)) if v is not None}
    if solver is not None:
        changes["solver"] = parse_solver(solver)
    seeds = ([0] if quick else [0, 1, 2]) if seeds is None else list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    return dataclasses.replace(base, **changes), seeds


def results_dataset(table: pd.DataFrame, dims: list[str], variables: dict, coords: dict, experiment: str,
                    models: list[str], settings: Settings, title: str, data: str) -> xr.Dataset:
    """The tidy ``table`` as a Dataset over ``dims`` with provenance. variables: column -> (units, long_name);
    coords: dim -> (units, long_name)."""
    indexed = table.set_index(dims)[list(variables)]
    ds = xr.Dataset.from_dataframe(indexed)
    for name, (units, long_name) in variables.items():
        ds[name].attrs.update(units=units, long_name=long_name)
    for name, (units, long_name) in coords.items():
        ds[name].attrs.update(units=units, long_name=long_name)
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    ds.attrs["data"] = data
    ds.attrs["models"] = ",".join(models)
    solver = settings.solver.to_dict() if settings.solver is not None else SolverConfig().to_dict()
    return stamp_provenance(ds, experiment, ",".join(models), model_config=settings.to_dict(),
                            solver_config=solver, title=title)


def mean_sd(table: pd.DataFrame, by: list[str], column: str) -> pd.DataFrame:
    """Mean and sample SD (ddof 1; NaN for one run) of ``column`` per group of ``by``."""
    g = table.groupby(by, sort=False)[column]
    return pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "runs": g.size()}).reset_index()


def run_dir(out, analysis: str, model: str, per_class, seed: int) -> Path:
    """Where one training run of an analysis keeps its files: <out>/<analysis>_runs/<model>-n<per_class>-s<seed>."""
    return Path(out) / f"{analysis}_runs" / f"{model}-n{'all' if per_class is None else per_class}-s{seed}"


def accuracy_summary(name: str, table: pd.DataFrame) -> list[str]:
    """One line per model: mean test accuracy in % with its SD over seeds."""
    stats = mean_sd(table, ["model"], "test_accuracy")
    return [f"{name}: {m}: {100 * a:.1f} % (sd {100 * s:.1f}, {k} runs)"
            for m, a, s, k in stats[["model", "mean", "sd", "runs"]].itertuples(index=False)]


def finish_common(outputs: common.Outputs, settings: Settings, seeds, data_source: str, extra: dict,
                  summary: list[str]) -> common.Result:
    """Record the run's settings (training settings, seeds, data) in the results index."""
    return outputs.finish({**settings.to_dict(), "seeds": list(seeds), "data": data_source, **extra}, summary)

