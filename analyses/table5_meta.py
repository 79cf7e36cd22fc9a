"""DCN paper Table 5: the meta-parametrised DCNs (sigma(t), sigma(t^2), sigma(t) with alpha(t)).

dcn-sigma-t, dcn-sigma-t2 and dcn-sigma-alpha-t (--models) are trained per seed with analyses/training
(validation-selected, test accuracy on the test split), and the learned scale sigma(t) of every SRF layer
in the ODE blocks is read off with SRFConv2d.sigma_at over t in [0, T] (T: the block's solver end time;
sigma in pixels, clipped to the layer's sigma_range as in the forward pass). The paper's Table 5 accuracies
(mean +- SD over 3 runs, full CIFAR-10) are stored beside ours for comparison only. Writes table5_meta.csv
(model, seed, test_accuracy, ...), table5_meta_sigma.csv (model, seed, layer, t, sigma), table5_meta.nc (both)
and table5_meta.png (sigma(t) curves per ODE-block layer).

    python analyses/table5_meta.py [--quick] [--seeds 0 1 2] [--data DIR] [--out results]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr
from matplotlib.figure import Figure

try:
    from analyses import common, training
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common
    import training

from neurodcn.nn.classifier import Classifier

__all__ = ["run", "main", "MODELS", "PAPER_TABLE5", "sigma_curves"]

NAME = "table5_meta"
MODELS = ("dcn-sigma-t", "dcn-sigma-t2", "dcn-sigma-alpha-t")
PAPER_TABLE5 = {"dcn-sigma-t": (89.97, 0.30), "dcn-sigma-t2": (89.93, 0.28), "dcn-sigma-alpha-t": (89.88, 0.25)}
"""DCN paper Table 5: (mean, SD) accuracy in % over 3 runs on the full CIFAR-10."""

TIME_POINTS = 21


def sigma_curves(model: Classifier, num: int = TIME_POINTS) -> pd.DataFrame:
    """sigma (pixels) of every time-dependent SRF layer of the ODE blocks at ``num`` times evenly spaced in
    [0, T] of its block: columns layer ("blocks.<i>.func.conv<m>"), t (model time), sigma."""
    if not isinstance(model, Classifier):
        raise TypeError(f"model must be a Classifier, got {type(model).__name__}")
    rows = []
    with torch.no_grad():
        for i, block in model.ode_blocks():
            times = np.linspace(0.0, block.solver.T, num)
            for m, layer in enumerate(block.func.srf_layers(), start=1):
                if layer.time_param is None:
                    continue
                for t in times:
                    rows.append({"layer": f"blocks.{i}.func.conv{m}", "t": float(t),
                                 "sigma": float(layer.sigma_at(float(t)))})
    if not rows:
        raise ValueError(f"model {model.config.get('name')!r} has no time-dependent SRF layers")
    return pd.DataFrame(rows)


def _figure(sigma: pd.DataFrame) -> Figure:
    layers = list(dict.fromkeys(sigma["layer"]))
    cols = min(3, len(layers))
    rows = -(-len(layers) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, sharey=True, squeeze=False).ravel()
    for ax in axes[len(layers):]:
        ax.set_visible(False)
    for ax, layer in zip(axes, layers, strict=False):
        for i, model in enumerate(dict.fromkeys(sigma["model"])):
            sub = sigma[(sigma["layer"] == layer) & (sigma["model"] == model)]
            for j, (_, s) in enumerate(sub.groupby("seed")):
                ax.plot(s["t"], s["sigma"], color=f"C{i}", alpha=0.8, label=model if j == 0 else None)
        ax.set_title(layer, fontsize=8)
        ax.set_xlabel("t (model time)")
        ax.set_ylabel("sigma (pixels)")
    axes[0].legend(frameon=False, fontsize=7)
    fig.suptitle("DCN paper Table 5 models: learned sigma(t) (one line per seed)")
    return fig


def run(out="results", quick: bool = False, progress: bool = True, checkpoint=None, data=None, seeds=None,
        epochs=None, width=None, models=None, solver=None) -> common.Result:
    """Train and test every (model, seed), read the sigma(t) curves; write tables, dataset and figure."""
    training.reject_checkpoint(checkpoint)
    models = training.check_models(MODELS if models is None else models, MODELS)
    settings, seeds = training.settings_from_args(quick, epochs, width, seeds, solver)
    train_split, test = training.load_splits(data)
    rows, curves = [], []
    for model in models:
        for seed in seeds:
            r = training.train_and_test(model, train_split, test, None, seed, settings,
                                        training.run_dir(out, NAME, model, None, seed), progress)
            mean, sd = PAPER_TABLE5[model]
            rows.append({"model": model, "seed": seed, "test_accuracy": r["test_accuracy"],
                         "val_accuracy": r["val_accuracy"], "epochs": r["epochs"], "best_epoch": r["best_epoch"],
                         "paper_accuracy_mean": round(mean / 100, 4), "paper_accuracy_sd": round(sd / 100, 4)})
            curves.append(sigma_curves(r["model"]).assign(model=model, seed=seed))
    table = pd.DataFrame(rows)
    sigma = pd.concat(curves, ignore_index=True)[["model", "seed", "layer", "t", "sigma"]]
    acc = training.results_dataset(
        table, ["model", "seed"],
        {"test_accuracy": ("1", "fraction of test images classified correctly"),
         "val_accuracy": ("1", "validation accuracy of the selected epoch"),
         "epochs": ("count", "epochs trained"), "best_epoch": ("count", "epoch selected on validation"),
         "paper_accuracy_mean": ("1", "DCN paper Table 5 mean accuracy (full CIFAR-10)"),
         "paper_accuracy_sd": ("1", "DCN paper Table 5 SD of accuracy over 3 runs")},
        {"model": ("1", "model name"), "seed": ("1", "random seed")},
        NAME, models, settings, "DCN paper Table 5: meta-parametrised DCNs", train_split.source)
    curves_ds = xr.Dataset.from_dataframe(sigma.set_index(["model", "seed", "layer", "t"]))
    curves_ds["layer"] = curves_ds["layer"].astype(str)
    curves_ds["sigma"].attrs.update(units="pixel", long_name="learned SRF scale sigma(t), clipped to sigma_range")
    curves_ds["layer"].attrs.update(units="1", long_name="SRF layer in an ODE block")
    curves_ds["t"].attrs.update(units="1", long_name="model time (depth) t in [0, T]")
    curves_ds["model"] = curves_ds["model"].astype(str)
    ds = xr.merge([acc, curves_ds], combine_attrs="override", join="exact")
    outputs = common.Outputs(out, NAME)
    outputs.dataset(ds, f"{NAME}.nc", "test accuracy per model and seed, and the learned sigma(t) curves")
    outputs.table(table, f"{NAME}.csv", "test accuracy per model and seed (tidy CSV), with the paper's")
    outputs.table(sigma, f"{NAME}_sigma.csv", "learned sigma(t) per model, seed, layer and time (tidy CSV)")
    outputs.figure(_figure(sigma), f"{NAME}.png", "learned sigma(t) of the ODE-block SRF layers")
    summary = training.accuracy_summary(NAME, table)
    return training.finish_common(outputs, settings, seeds, train_split.source, {"models": models}, summary)


def main(argv=None) -> int:
    p = training.add_arguments(common.parser(NAME, __doc__.splitlines()[0], images=False), list(MODELS))
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
