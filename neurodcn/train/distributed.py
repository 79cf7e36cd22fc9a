"""Data-parallel training under torchrun: process-group setup, the rank's share of a global batch, sums.

Every rank draws the same global batch (same seed, same order, same augmentation) and keeps the contiguous slice
``[rank * B / W, (rank + 1) * B / W)``; DistributedDataParallel averages the gradients of the per-rank mean
losses, which equals the gradient of the global mean loss when the shares are equal (so B must be divisible by
W). The only difference from one process with the same global batch is the order of floating-point sums.
Backend: "nccl" when the model lives on CUDA, otherwise "gloo".
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from neurodcn.validate import check_choice

__all__ = ["is_distributed", "rank", "world_size", "is_main", "setup_from_env", "cleanup", "wrap", "unwrap",
           "shard", "all_reduce_sum", "barrier"]

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def is_distributed() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0 (and in a single process): the rank that writes files and shows progress."""
    return rank() == 0


def setup_from_env(backend: str | None = None) -> bool:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, ...).

    Returns False (and does nothing) when those variables are absent or WORLD_SIZE is 1. ``backend`` defaults
    to "nccl" when CUDA is available, else "gloo". On CUDA, each rank uses device LOCAL_RANK.
    """
    if is_distributed():
        return True
    if not all(v in os.environ for v in _TORCHRUN_VARS) or int(os.environ["WORLD_SIZE"]) == 1:
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    check_choice("backend", backend, ("gloo", "nccl"))
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend=backend)
    return True


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()


def wrap(model: nn.Module) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel inside a process group; unchanged otherwise."""
    if not is_distributed():
        return model
    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def shard(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """This rank's contiguous share of a global batch (first dimension B, divisible by the world size)."""
    w, r = world_size(), rank()
    if w == 1:
        return tensors
    b = tensors[0].shape[0]
    if b % w:
        raise ValueError(f"a global batch of {b} cannot be split evenly over {w} processes; use a batch size "
                         f"divisible by the number of processes")
    n = b // w
    return tuple(t[r * n:(r + 1) * n] for t in tensors)


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` over all ranks, as a float64 copy on the device of ``values``."""
    out = values.detach().to(torch.float64).clone()
    if is_distributed():
        if dist.get_backend() == "nccl" and out.device.type != "cuda":  # nccl reduces CUDA tensors only
            out = out.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(values.device)


def barrier() -> None:
    if is_distributed():
        dist.barrier()
