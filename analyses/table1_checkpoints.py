"""DCN paper Table 1 on trained checkpoints: accuracy with binomial intervals and paired McNemar tests.

Every checkpoint (bundled names or paths) is evaluated on the same test images: the exact test images of
--exact-data (default: the CIFAR-10 subset beside the repository, 932 bit-exact CIFAR-10 test images) and, with
--jpeg-data, all 10,000 test images of a JPEG-degraded CIFAR-10 folder. Each model gets its accuracy with a 95 %
Wilson interval; each pair an exact McNemar test on the images where they disagree. The DCN paper's Table 1
accuracies (full CIFAR-10, width 32, 100 epochs, mean +- SD over 3 runs) stand beside them as the paper's.
Writes table1_checkpoints_accuracy.csv, table1_checkpoints_mcnemar.csv and table1_checkpoints.png.

    python analyses/table1_checkpoints.py [--checkpoints dcn-ode resnet-blocks PATH.pt] [--jpeg-data DIR]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from neurodcn.progress import tqdm

try:
    from analyses import common
    from analyses.table1_accuracy import PAPER_TABLE1
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common
    from table1_accuracy import PAPER_TABLE1

from neurodcn.analysis.accuracy import accuracy_table, mcnemar_table
from neurodcn.analysis.plots.style import new_figure
from neurodcn.data.bundled import bundled_checkpoint, bundled_checkpoints
from neurodcn.data.cifar10 import load_cifar10
from neurodcn.train.checkpoint import load_checkpoint
from neurodcn.train.trainer import predict

NAME = "table1_checkpoints"
DEFAULT = ("dcn-ode", "odenet", "resnet-blocks", "dcn-sigma-ji")


def _load(spec: str):
    path = bundled_checkpoint(spec) if spec in bundled_checkpoints() else spec
    model, card = load_checkpoint(path)
    return model, card


def _correctness(models: dict, images, labels, batch: int, progress: bool) -> pd.DataFrame:
    rows = {}
    for name, model in tqdm(models.items(), desc="evaluate", disable=not progress, leave=False):
        rows[name] = (predict(model, images, batch) == labels).numpy()
    return pd.DataFrame(rows).T


def _figure(tables: dict[str, pd.DataFrame], paper: dict, trained_on: list[str]):
    fig, axes = new_figure(ncols=len(tables), width=4.6, height=0.45 * max(len(t) for t in tables.values()) + 1.6)
    axes = np.atleast_1d(axes)
    for ax, (test_set, t) in zip(axes, tables.items(), strict=True):
        y = np.arange(len(t))
        ax.errorbar(t["accuracy_pct"], y, xerr=[t["accuracy_pct"] - t["ci_low_pct"],
                                                  t["ci_high_pct"] - t["accuracy_pct"]],
                    fmt="o", capsize=3, label="ours, 95 % Wilson interval")
        marks = [(i, paper[m]) for i, m in enumerate(t.index) if m in paper]
        if marks:
            ax.errorbar([v[0] for _, v in marks], [i for i, _ in marks], xerr=[v[1] for _, v in marks], fmt="s",
                        color="0.5", capsize=3, label="paper's (full CIFAR-10, 100 epochs, mean +- SD)")
        ax.set_yticks(y, t.index)
        ax.set_xlabel("test accuracy (%)")
        ax.set_title(test_set, fontsize=9)
    axes[0].legend(frameon=False, fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.08))
    fig.suptitle("trained on " + "; ".join(sorted(set(trained_on))), fontsize=8)
    return fig


def run(out="results", checkpoints=DEFAULT, exact_data=None, jpeg_data=None, batch=500, progress=True,
        **_) -> common.Result:
    """Evaluate ``checkpoints`` on the exact (and JPEG-degraded) test images; write tables and the figure."""
    models, cards = {}, {}
    for spec in checkpoints:
        model, card = _load(spec)
        label = spec if spec in bundled_checkpoints() else card.get("model", {}).get("name", spec)
        models[label], cards[label] = model, card
    exact = load_cifar10(common.default_data_root(exact_data), "test")
    sets = {f"exact CIFAR-10 test images ({len(exact)})": exact}
    if jpeg_data is not None:
        jpeg = load_cifar10(jpeg_data, "test")
        sets[f"CIFAR-10 (JPEG-degraded) test images ({len(jpeg):,})"] = jpeg
    outputs = common.Outputs(out, NAME)
    acc_rows, pair_rows, tables, summary = [], [], {}, []
    paper = {}
    for label, card in cards.items():
        name = card.get("model", {}).get("name", label) if isinstance(card.get("model"), dict) else label
        if name in PAPER_TABLE1:
            paper[label] = PAPER_TABLE1[name]
    for test_set, data in sets.items():
        correct = _correctness(models, data.images, data.labels, batch, progress)
        acc, pairs = accuracy_table(correct), mcnemar_table(correct)
        acc["test_set"], pairs["test_set"] = test_set, test_set
        acc["trained_on"] = [cards[m].get("dataset", "unknown") for m in acc.index]
        acc["paper_accuracy_pct"] = [paper.get(m, (np.nan, np.nan))[0] for m in acc.index]
        acc["paper_sd_pct"] = [paper.get(m, (np.nan, np.nan))[1] for m in acc.index]
        tables[test_set] = acc
        acc_rows.append(acc.reset_index())
        pair_rows.append(pairs)
        summary += [f"{test_set}: " + ", ".join(f"{m} {r.accuracy_pct:.1f} % [{r.ci_low_pct:.1f}, "
                                                 f"{r.ci_high_pct:.1f}]" for m, r in acc.iterrows())]
        summary += [f"  McNemar {r.model_a} vs {r.model_b}: {r.difference_pct:+.1f} points, "
                    f"{r.only_a}/{r.only_b} discordant, p = {r.p_value:.3g}" for r in pairs.itertuples()]
    outputs.table(pd.concat(acc_rows), f"{NAME}_accuracy.csv",
                  "accuracy (%) per model and test set with 95 % Wilson intervals, the paper's beside")
    outputs.table(pd.concat(pair_rows), f"{NAME}_mcnemar.csv", "exact McNemar test for every pair of models")
    trained_on = [c.get("dataset", "unknown") for c in cards.values()]
    outputs.figure(_figure(tables, paper, trained_on), f"{NAME}.png", "test accuracy with intervals, paper beside")
    settings = {"checkpoints": list(checkpoints), "test_sets": list(sets), "batch": batch}
    return outputs.finish(settings, summary)


def main(argv=None) -> int:
    p = common.parser(NAME, __doc__.splitlines()[0], images=False)
    p.add_argument("--checkpoints", nargs="+", default=list(DEFAULT), help="bundled names or checkpoint paths")
    p.add_argument("--exact-data", help="cifar-10-batches-py folder of exact test images (default: the subset)")
    p.add_argument("--jpeg-data", help="cifar-10-batches-py folder of the JPEG-degraded set (its 10,000 test images)")
    p.add_argument("--batch", type=int, default=500, help="evaluation batch (default 500)")
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
