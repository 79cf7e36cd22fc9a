"""Data-parallel training equals one process with the same global batch.

Two ranks each take half of every global batch; DistributedDataParallel averages their gradients, which is the
gradient of the global mean loss. The one difference is the order of floating-point sums (per-rank means, then
the all-reduce), so the comparison runs in float64, where reordering costs ~1e-16 relative per operation and a
few steps stay far below the 1e-10 tolerance; a float32 run through torchrun is compared at 1e-5.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from neurodcn.cli import main
from neurodcn.data.cifar10 import load_cifar10, per_class_subset, train_val_split
from neurodcn.nn.zoo import build_model
from neurodcn.train import distributed
from neurodcn.train.checkpoint import load_training_state
from neurodcn.train.trainer import TrainConfig, train

CONFIG = TrainConfig(epochs=1, batch_size=20, lr=0.2)  # 40 training images: 2 steps


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _splits(root):
    data = per_class_subset(load_cifar10(root), 6, seed=0)
    return train_val_split(data, val_per_class=2, seed=0)


def _model():
    return build_model("dcn-ode", width=2, seed=0, solver=dict(method="euler", step_size=1.0, adjoint=False)).double()


def _worker(rank, port, root, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        assert distributed.world_size() == 2 and distributed.rank() == rank
        train_part, val = _splits(root)
        train(_model(), train_part, val, out, CONFIG, progress=False)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_equal_one_with_the_same_global_batch(synthetic_cifar, tmp_path):
    train_part, val = _splits(synthetic_cifar.root)
    single = _model()
    result = train(single, train_part, val, tmp_path / "one", CONFIG, progress=False)
    mp.spawn(_worker, args=(_free_port(), str(synthetic_cifar.root), str(tmp_path / "two")), nprocs=2, join=True)
    parallel = _model()
    info = load_training_state(tmp_path / "two" / "state.pt", model=parallel, restore_rng=False)
    assert info["card"]["world_size"] == 2 and info["epoch"] == 1
    a, b = single.state_dict(), parallel.state_dict()
    moved = max(float((a[k] - _model().state_dict()[k]).abs().max()) for k in a)
    assert moved > 1e-3  # the two steps really changed the weights
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-10)
    row_one, row_two = result["history"][0], info["metrics"]["history"][0]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):  # reduced over ranks
        assert row_two[key] == pytest.approx(row_one[key], rel=1e-12)


def test_shard_splits_a_global_batch_evenly_and_refuses_uneven_ones(monkeypatch):
    x = torch.arange(12)
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    parts = []
    for r in range(3):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        parts.append(distributed.shard(x)[0])
    assert torch.equal(torch.cat(parts), x) and all(len(p) == 4 for p in parts)
    with pytest.raises(ValueError, match="divisible"):
        distributed.shard(torch.arange(10))


def test_single_process_is_untouched():
    assert not distributed.setup_from_env() or distributed.is_distributed()
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model) is model and distributed.unwrap(model) is model
    assert distributed.world_size() == 1 and distributed.is_main()


@pytest.mark.slow
def test_torchrun_runs_the_train_command(synthetic_cifar, tmp_path):
    args = ["--model", "dcn-ode", "--data", str(synthetic_cifar.root), "--epochs", "1", "--width", "2",
            "--solver", "euler", "--step-size", "1.0", "--no-adjoint", "--batch-size", "40", "--seed", "0",
            "--no-progress", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run([*torchrun, "-m", "neurodcn", "train", *args, "--out", str(tmp_path / "two")], env=env,
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["train", *args, "--out", str(tmp_path / "one")]) == 0  # one process, same global batch
    models = []
    for run in ("one", "two"):
        m = build_model("dcn-ode", width=2, seed=0, solver=dict(method="euler", step_size=1.0, adjoint=False))
        info = load_training_state(tmp_path / run / "state.pt", model=m, restore_rng=False)
        assert info["card"]["world_size"] == (2 if run == "two" else 1)
        models.append(m.state_dict())
    for k in models[0]:  # float32: only the order of sums differs
        torch.testing.assert_close(models[1][k], models[0][k], rtol=0, atol=1e-5)
