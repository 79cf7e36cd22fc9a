"""DCN paper Table 2: test accuracy of dcn-ode, odenet and resnet-blocks trained on n images per class.

For every model, n (--per-class) and seed (--seeds) one run of analyses/training.train_and_test: n images of
every class drawn without replacement from the training split (the reference draws with replacement), best
epoch selected on a validation split of other training images (the reference selects on the test set), test
accuracy on the test split. The paper's Table 2 (mean +- SD over 3 runs on the full CIFAR-10, 100 epochs) is
stored beside ours as paper_accuracy_mean / paper_accuracy_sd, for comparison only. Writes
table2_small_data.csv (model, per_class, seed, test_accuracy, val_accuracy, epochs, ...), .nc and .png
(accuracy against images per class, log x, mean +- SD over seeds). n larger than the data holds are dropped.
With two models or more, table2_small_data_mcnemar.csv: an exact McNemar test of every pair of models trained on
the same images (same n and seed) on the same test images, and per n over all seeds together (the seeds' test
images pooled as pairs: discordant counts summed, difference = mean over seeds). With --eval-solver, every ODE
model is also tested under that solver (each image its own steps): column test_accuracy_eval_solver, and the
McNemar tests once per solver (column solver: "training" or the eval solver).

    python analyses/table2_small_data.py [--quick] [--per-class 2 4 8] [--seeds 0 1 2] [--data DIR] [--out results]
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

from neurodcn.analysis.accuracy import mcnemar_table
from neurodcn.cortex.faithfulness import solved_outputs
from neurodcn.cortex.sweep import ode_blocks
from neurodcn.train.trainer import predict

__all__ = ["run", "main", "MODELS", "PAPER_PER_CLASS", "PAPER_TABLE2"]

NAME = "table2_small_data"
MODELS = ("dcn-ode", "odenet", "resnet-blocks")
PAPER_PER_CLASS = (2, 4, 8, 16, 32, 52, 64, 103, 128, 512, 1024)
"""The columns (images per class) of the paper's Table 2."""

PAPER_TABLE2 = {
    "resnet-blocks": ((16.7, 0.8), (19.6, 1.0), (22.0, 1.3), (28.1, 1.7), (35.4, 0.9), (39.8, 0.6), (41.6, 1.5),
                      (49.0, 0.2), (50.9, 0.6), (70.4, 1.2), (76.8, 0.7)),
    "odenet": ((16.8, 2.8), (20.5, 0.8), (23.1, 2.5), (29.8, 0.8), (36.4, 1.0), (41.7, 1.2), (42.3, 0.2),
               (48.6, 0.5), (50.7, 0.7), (71.7, 1.5), (77.4, 0.5)),
    "dcn-ode": ((16.4, 1.6), (19.8, 0.7), (26.5, 0.9), (31.2, 0.6), (37.7, 0.6), (44.5, 0.8), (48.0, 1.3),
                (54.2, 0.8), (58.2, 0.7), (75.5, 0.8), (79.7, 0.3)),
}
"""DCN paper Table 2: (mean, SD) accuracy in % per PAPER_PER_CLASS column (3 runs, full CIFAR-10)."""

QUICK_PER_CLASS = (2, 4)


def _paper(model: str, n: int) -> tuple[float, float]:
    if n in PAPER_PER_CLASS:
        return PAPER_TABLE2[model][PAPER_PER_CLASS.index(n)]
    return (np.nan, np.nan)


def _figure(table: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    stats = training.mean_sd(table, ["model", "per_class"], "test_accuracy")
    for i, model in enumerate(dict.fromkeys(table["model"])):
        s = stats[stats["model"] == model]
        color = f"C{i}"
        ax.errorbar(s["per_class"], 100 * s["mean"], yerr=100 * s["sd"].fillna(0), marker="o", capsize=3,
                    color=color, label=f"{model} (ours)")
        paper = np.array(PAPER_TABLE2[model])
        ax.errorbar(PAPER_PER_CLASS, paper[:, 0], yerr=paper[:, 1], ls="--", marker="x", capsize=2, color=color,
                    alpha=0.5, label=f"{model} (paper, full CIFAR-10)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training images per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("DCN paper Table 2: small-data regime (mean +- SD over seeds)")
    ax.legend(frameon=False, fontsize=7)
    return fig


def _paired_tests(correct: dict) -> pd.DataFrame:
    """McNemar tests from {(per_class, seed): {model: bool [test images]}}: per (per_class, seed), then per
    per_class with the seeds' images pooled (seed "all")."""
    tables, pooled = [], {}
    for (n, seed), by_model in correct.items():
        frame = pd.DataFrame(by_model).T
        tables.append(mcnemar_table(frame).assign(per_class=n, seed=str(seed)))
        pooled.setdefault(n, []).append(frame)
    for n, frames in pooled.items():
        stacked = pd.concat(frames, axis=1, ignore_index=True)
        tables.append(mcnemar_table(stacked).assign(per_class=n, seed="all"))
    table = pd.concat(tables, ignore_index=True)
    return table[["per_class", "seed", "model_a", "model_b", "only_a", "only_b", "difference_pct", "p_value"]]


def _correct(model, test, solver=None) -> np.ndarray:
    """Per test image, whether ``model`` classifies it correctly: under its own solver (``solver`` None), else
    under ``solver`` with every image its own steps."""
    if solver is None:
        return (predict(model, test.images) == test.labels).numpy()
    logits, _, _ = solved_outputs(model, test.images, solver, desc=f"test under {solver.method}")
    return (logits.argmax(1) == test.labels).numpy()


def run(out="results", quick: bool = False, progress: bool = True, checkpoint=None, data=None, seeds=None,
        epochs=None, width=None, models=None, per_class=None, solver=None, eval_solver=None) -> common.Result:
    """Train and test every (model, per_class, seed); write the table, dataset and figure to ``out``.
    eval_solver: "METHOD[:STEP]" under which the ODE models are also tested (None: not)."""
    training.reject_checkpoint(checkpoint)
    models = training.check_models(MODELS if models is None else models, MODELS)
    settings, seeds = training.settings_from_args(quick, epochs, width, seeds, solver)
    evaluation = {"training": None}
    if eval_solver is not None:
        evaluation[eval_solver] = training.parse_solver(eval_solver)
    train_split, test = training.load_splits(data)
    available = int(train_split.class_counts().min()) - settings.val_per_class
    wanted = list(per_class) if per_class is not None else list(QUICK_PER_CLASS if quick else PAPER_PER_CLASS)
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in wanted):
        raise ValueError(f"per_class must be positive integers, got {wanted!r}")
    counts = sorted({n for n in wanted if n <= available})
    if not counts:
        raise ValueError(f"per_class {wanted} all exceed the {available} training images per class left beside "
                         f"the validation split of {train_split.source}")
    rows, correct = [], {name: {} for name in evaluation}
    for model in models:
        for n in counts:
            for seed in seeds:
                r = training.train_and_test(model, train_split, test, n, seed, settings,
                                            training.run_dir(out, NAME, model, n, seed), progress)
                own = _correct(r["model"], test)  # a model without ODE blocks answers the same under any solver
                for name, how in evaluation.items():
                    correct[name].setdefault((n, seed), {})[model] = (
                        own if how is None or not ode_blocks(r["model"]) else _correct(r["model"], test, how))
                mean, sd = _paper(model, n)
                rows.append({"model": model, "per_class": n, "seed": seed, "test_accuracy": r["test_accuracy"],
                             "val_accuracy": r["val_accuracy"], "epochs": r["epochs"], "best_epoch": r["best_epoch"],
                             "num_train": len(r["train"]), "num_test": len(test),
                             "paper_accuracy_mean": round(mean / 100, 4), "paper_accuracy_sd": round(sd / 100, 4)})
                if eval_solver is not None:
                    rows[-1]["test_accuracy_eval_solver"] = float(correct[eval_solver][(n, seed)][model].mean())
    table = pd.DataFrame(rows)
    acc = ("1", "fraction of test images classified correctly")
    extra = {} if eval_solver is None else {
        "test_accuracy_eval_solver": ("1", f"fraction of test images classified correctly under {eval_solver}")}
    ds = training.results_dataset(
        table, ["model", "per_class", "seed"],
        {"test_accuracy": acc, **extra, "val_accuracy": ("1", "validation accuracy of the selected epoch"),
         "epochs": ("count", "epochs trained"), "best_epoch": ("count", "epoch selected on validation"),
         "num_train": ("count", "training images"), "num_test": ("count", "test images"),
         "paper_accuracy_mean": ("1", "DCN paper Table 2 mean accuracy (full CIFAR-10; NaN: not listed)"),
         "paper_accuracy_sd": ("1", "DCN paper Table 2 SD of accuracy over 3 runs")},
        {"model": ("1", "model name"), "per_class": ("count", "training images per class"),
         "seed": ("1", "random seed")},
        NAME, models, settings, "DCN paper Table 2: small-data regime", train_split.source)
    outputs = common.Outputs(out, NAME)
    outputs.dataset(ds, f"{NAME}.nc", "test accuracy per model, images per class and seed, with the paper's")
    outputs.table(table, f"{NAME}.csv", "the same as a tidy CSV table")
    outputs.figure(_figure(table), f"{NAME}.png", "test accuracy against images per class, ours and the paper's")
    stats = training.mean_sd(table, ["model", "per_class"], "test_accuracy")
    summary = [f"{NAME}: {m} n={n}: {100 * a:.1f} % (sd {100 * s:.1f}, {k} runs)"
               for m, n, a, s, k in stats[["model", "per_class", "mean", "sd", "runs"]].itertuples(index=False)]
    if len(models) > 1:
        pairs = pd.concat([_paired_tests(c).assign(solver=name) for name, c in correct.items()], ignore_index=True)
        outputs.table(pairs, f"{NAME}_mcnemar.csv", "exact McNemar tests between models trained on the same "
                      "images, per seed and with the seeds pooled, under each solver tested")
        summary += [f"{NAME}: n={r.per_class}, seeds pooled, {r.solver} solver: {r.model_a} - {r.model_b} "
                    f"{r.difference_pct:+.1f} points, McNemar p = {r.p_value:.2g}"
                    for r in pairs[pairs["seed"] == "all"].itertuples()]
    return training.finish_common(outputs, settings, seeds, train_split.source,
                                  {"models": models, "per_class": counts, "eval_solver": eval_solver}, summary)


def main(argv=None) -> int:
    p = common.parser(NAME, __doc__.splitlines()[0], images=False)
    training.add_arguments(p, list(MODELS))
    p.add_argument("--per-class", type=int, nargs="+", default=None,
                   help=f"images per class (default: the paper's {list(PAPER_PER_CLASS)}; quick "
                   f"{list(QUICK_PER_CLASS)}), capped by what the data holds")
    p.add_argument("--eval-solver", default=None, metavar="METHOD[:STEP]",
                   help="also test the ODE models under this solver, e.g. dopri5 (each image its own steps)")
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
