"""Members of test-time ensembles, run on the model: the logits of every pass that
neurodcn.analysis.ensembles.ensemble_accuracy then scores (the data side never runs the model)."""

from __future__ import annotations

import torch

from neurodcn.data.cifar10 import batches
from neurodcn.nn.dcn_cc import scale_sequence
from neurodcn.progress import tqdm

__all__ = ["step_order_logits"]


def step_order_logits(model, images: torch.Tensor, orders, batch_size: int = 250, progress: bool = True):
    """Logits [len(orders), N, classes] of a dcn-cc ``model`` (eval mode, its own solver) on images [N, C, H, W]
    at every step order (scales per step, e.g. from neurodcn.nn.dcn_cc.step_orders): members for
    ensemble_accuracy."""
    model.eval()
    each = []
    with torch.no_grad():
        for order in tqdm(orders, desc="step orders", disable=not progress):
            with scale_sequence(model, list(order)):
                each.append(torch.cat([model(x) for (x,) in batches(images, batch_size=batch_size, shuffle=False)]))
    return torch.stack(each)
