"""Members of test-time ensembles, run on the model: the logits of every pass that
neurodcn.analysis.ensembles.ensemble_accuracy then scores (the data side never runs the model)."""

from __future__ import annotations

import torch

from neurodcn.cortex.inputs import batch_slices
from neurodcn.cortex.sweep import Sweep, failure_summary
from neurodcn.nn.dcn_cc import scale_sequence
from neurodcn.nn.dynamics import SolverError

__all__ = ["step_order_logits"]


def step_order_logits(model, images: torch.Tensor, orders, batch_size: int = 250, progress: bool = True):
    """Logits [len(orders), N, classes] of a dcn-cc ``model`` (its own solver, every image its own steps:
    neurodcn.cortex.sweep) on images [N, C, H, W] at every step order (scales per step, e.g. from
    neurodcn.nn.dcn_cc.step_orders): members for ensemble_accuracy. A solve that fails raises SolverError."""
    batches = [sl for _, sl in batch_slices(len(images), batch_size, False, "")]
    each = []
    with Sweep(model, progress=progress, desc="step orders", total=len(orders) * len(batches)) as sweep:
        for order in orders:
            with scale_sequence(model, list(order)):
                logits = []
                for sl in batches:
                    done = sweep.run(lambda: model(images[sl]), sl.stop - sl.start)  # noqa: B023
                    if done.codes.any():
                        raise SolverError(f"step order {list(order)}: {failure_summary(done.codes, 'images')}")
                    logits.append(done.result)
                each.append(torch.cat(logits))
    return torch.stack(each)
