"""analyses/table1_checkpoints.py: per-model accuracy and pairwise McNemar on the same test images, checked
against each model's own forward pass."""

import pandas as pd
import pytest
import torch

from analyses import table1_checkpoints
from neurodcn import SolverConfig, build_model
from neurodcn.data.cifar10 import load_cifar10
from neurodcn.train.checkpoint import save_checkpoint

EULER = SolverConfig(method="euler", step_size=1.0, adjoint=False)


def test_accuracy_and_pairs_match_each_models_own_predictions(synthetic_cifar, tmp_path):
    paths, models = [], {}
    for name in ("dcn-ode", "resnet-blocks"):
        model = build_model(name, width=2, seed=0, **({"solver": EULER} if name == "dcn-ode" else {}))
        paths.append(str(save_checkpoint(model, tmp_path / f"{name}.pt", {"dataset": "synthetic"})))
        models[name] = model.eval()
    result = table1_checkpoints.run(out=tmp_path / "out", checkpoints=paths, exact_data=synthetic_cifar.root,
                                    progress=False)
    acc = pd.read_csv(result.files["table1_checkpoints_accuracy.csv"]).set_index("model")
    test = load_cifar10(synthetic_cifar.root, "test")
    with torch.no_grad():
        right = {n: (m(test.images).argmax(1) == test.labels) for n, m in models.items()}
    for name, r in right.items():
        assert acc.loc[name, "correct"] == int(r.sum()) and acc.loc[name, "images"] == len(test)
        assert acc.loc[name, "trained_on"] == "synthetic"
    assert acc.loc["dcn-ode", "paper_accuracy_pct"] == 89.5  # the paper's Table 1, beside ours
    pair = pd.read_csv(result.files["table1_checkpoints_mcnemar.csv"]).iloc[0]
    a, b = right[pair.model_a], right[pair.model_b]
    assert (pair.only_a, pair.only_b) == (int((a & ~b).sum()), int((b & ~a).sum()))
    assert 0 <= pair.p_value <= 1


def test_unknown_checkpoints_are_refused(synthetic_cifar, tmp_path):
    with pytest.raises((ValueError, FileNotFoundError), match="no-such"):
        table1_checkpoints.run(out=tmp_path, checkpoints=["no-such-model"], exact_data=synthetic_cifar.root,
                               progress=False)
