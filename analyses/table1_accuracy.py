"""DCN paper Table 1: CIFAR-10 test accuracy of the zoo models over several seeds.

Each model (--models, default all ten of the DCN paper) is trained per seed with analyses/training
(train_and_test on all training images less a validation split, best epoch selected on validation, test
accuracy on the test split). The paper's Table 1 accuracies (mean +- SD over 3 runs, full CIFAR-10, 100
epochs; the three meta-parametrised models are in Table 5, see table5_meta.py) are stored beside ours as
paper_accuracy_mean / paper_accuracy_sd for comparison only. Writes table1_accuracy.csv (model, seed,
test_accuracy, val_accuracy, epochs, ...), .nc and .png (bars: mean +- SD over seeds, ours and the paper's).

    python analyses/table1_accuracy.py [--quick] [--models dcn-ode odenet] [--seeds 0 1 2] [--data DIR]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

try:
    from analyses import common, training
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common
    import training

from neurodcn.nn.classifier import MODEL_SPECS

__all__ = ["run", "main", "MODELS", "PAPER_TABLE1"]

NAME = "table1_accuracy"
MODELS = tuple(MODEL_SPECS)
QUICK_MODELS = ("dcn-ode", "odenet")

PAPER_TABLE1 = {
    "odenet": (89.6, 0.3),
    "resnet-blocks": (89.0, 0.2),
    "resnet-srf-blocks": (88.3, 0.03),
    "resnet-srf-full": (89.3, 0.4),
    "dcn-ode": (89.5, 0.2),
    "dcn-full": (89.2, 0.3),
    "dcn-sigma-ji": (89.7, 0.3),
}
"""DCN paper Table 1: (mean, SD) accuracy in % over 3 runs on the full CIFAR-10."""


def _figure(table: pd.DataFrame) -> Figure:
    stats = training.mean_sd(table, ["model"], "test_accuracy")
    fig = Figure(figsize=(max(5.0, 0.8 * len(stats) + 2), 4.0), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(stats))
    ax.bar(x - 0.2, 100 * stats["mean"], yerr=100 * stats["sd"].fillna(0), width=0.4, capsize=3, label="ours")
    paper = np.array([PAPER_TABLE1.get(m, (np.nan, np.nan)) for m in stats["model"]])
    ax.bar(x + 0.2, paper[:, 0], yerr=paper[:, 1], width=0.4, capsize=3, label="paper (full CIFAR-10)")
    ax.set_xticks(x, stats["model"], rotation=40, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("DCN paper Table 1: accuracy, mean +- SD over seeds (no paper bar: not in Table 1)")
    ax.legend(frameon=False)
    return fig


def run(out="results", quick: bool = False, progress: bool = True, checkpoint=None, data=None, seeds=None,
        epochs=None, width=None, models=None, solver=None) -> common.Result:
    """Train and test every (model, seed); write the table, dataset and figure to ``out``."""
    training.reject_checkpoint(checkpoint)
    models = training.check_models((QUICK_MODELS if quick else MODELS) if models is None else models, MODELS)
    settings, seeds = training.settings_from_args(quick, epochs, width, seeds, solver)
    train_split, test = training.load_splits(data)
    rows = []
    for model in models:
        for seed in seeds:
            r = training.train_and_test(model, train_split, test, None, seed, settings,
                                        training.run_dir(out, NAME, model, None, seed), progress)
            mean, sd = PAPER_TABLE1.get(model, (np.nan, np.nan))
            rows.append({"model": model, "seed": seed, "test_accuracy": r["test_accuracy"],
                         "val_accuracy": r["val_accuracy"], "epochs": r["epochs"], "best_epoch": r["best_epoch"],
                         "num_train": len(r["train"]), "num_test": len(test),
                         "paper_accuracy_mean": round(mean / 100, 4), "paper_accuracy_sd": round(sd / 100, 4)})
    table = pd.DataFrame(rows)
    ds = training.results_dataset(
        table, ["model", "seed"],
        {"test_accuracy": ("1", "fraction of test images classified correctly"),
         "val_accuracy": ("1", "validation accuracy of the selected epoch"),
         "epochs": ("count", "epochs trained"), "best_epoch": ("count", "epoch selected on validation"),
         "num_train": ("count", "training images"), "num_test": ("count", "test images"),
         "paper_accuracy_mean": ("1", "DCN paper Table 1 mean accuracy (full CIFAR-10; NaN: not listed)"),
         "paper_accuracy_sd": ("1", "DCN paper Table 1 SD of accuracy over 3 runs")},
        {"model": ("1", "model name"), "seed": ("1", "random seed")},
        NAME, models, settings, "DCN paper Table 1: CIFAR-10 accuracy", train_split.source)
    outputs = common.Outputs(out, NAME)
    outputs.dataset(ds, f"{NAME}.nc", "test accuracy per model and seed, with the paper's")
    outputs.table(table, f"{NAME}.csv", "the same as a tidy CSV table")
    outputs.figure(_figure(table), f"{NAME}.png", "bar chart of test accuracy, ours and the paper's")
    summary = training.accuracy_summary(NAME, table)
    return training.finish_common(outputs, settings, seeds, train_split.source, {"models": models}, summary)


def main(argv=None) -> int:
    p = training.add_arguments(common.parser(NAME, __doc__.splitlines()[0], images=False), list(MODELS))
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
