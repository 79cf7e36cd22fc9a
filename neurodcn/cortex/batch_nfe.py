"""NFE per batch as the DCN paper counts it (Fig. 5): one adaptive torchdiffeq solve per batch of images.

The paper's code evaluates test batches (128 images) with the model's own batched forward: every ODE block solves
the whole batch with one sequence of steps, whose error norm spans all its images, so a batch's NFE is set by its
hardest images and is not any one image's. :func:`batch_nfe` runs exactly that: the plain batched solve (no
per-image engine; neurodcn.cortex.sweep's bounds are not set), evaluation mode, no gradient, input c * image, with
the regime's integration times and map scales (neurodcn.cortex.contrast.regime_settings through
neurodcn.cortex.record.propagate; at regime "naive" this is ``model(c * x)``). What one image costs on its own
solve is the per-image NFE of ``contrast_sweep(..., per_image=True)``.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from neurodcn.cortex.contrast import regime_settings
from neurodcn.cortex.inputs import batch_slices
from neurodcn.cortex.record import propagate
from neurodcn.nn.classifier import Classifier
from neurodcn.validate import check_int, check_real

__all__ = ["PAPER_BATCH_SIZE", "batch_nfe"]

PAPER_BATCH_SIZE = 128
"""Test batch size of the DCN paper's code (images)."""


def batch_nfe(vc, images, contrast: float, regime: str = "naive", batch_size: int = PAPER_BATCH_SIZE) -> xr.Dataset:
    """Forward NFE of each ODE block's batched solve of each batch of ``images`` at ``contrast`` in ``regime``.

    Args:
        vc: a VirtualCortex on a staged classifier (neurodcn.nn.classifier.Classifier).
        images: [N, C, H, W] in [0, 1], taken in order in batches of ``batch_size`` (the last may be smaller).
        contrast: factor c > 0 (input = c * image).
        regime: one of neurodcn.cortex.contrast.REGIMES.
        batch_size: images per batch (default 128, the paper's).

    Returns:
        A Dataset (experiment "batch_nfe") on dims batch and block: ``nfe`` (batch, block), the forward NFE of
        the block's solve of the batch (``model.nfe_report()``), and ``batch_images`` (batch); scalar coords
        contrast and regime; attr batch_size. A solve that fails raises (torchdiffeq's error), as the paper's
        forward would.
    """
    model = vc.model
    if not isinstance(model, Classifier):
        raise ValueError(f"batch_nfe needs a staged classifier (neurodcn.nn.classifier.Classifier), got "
                         f"{type(model).__name__}")
    c = check_real("contrast", contrast, lo=0, lo_open=True)
    batch_size = check_int("batch_size", batch_size, 1)
    T, scale = regime_settings(model, regime, c)
    x = vc.check_images(images)
    slices = [sl for _, sl in batch_slices(len(x), batch_size, vc.progress, f"batch NFE ({regime}, c = {c:g})")]
    nfe = np.zeros((len(slices), len(model.ode_blocks())), np.int64)
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for b, sl in enumerate(slices):
                propagate(model, x[sl] * c, T=T, input_scale=scale)
                nfe[b] = [r["forward_nfe"] for r in model.nfe_report()]
    finally:
        model.train(training)
    ds = xr.Dataset(
        {
            "nfe": (("batch", "block"), nfe, {"long_name": "forward function evaluations of the block's one "
                                              "adaptive solve of the whole batch", "units": "count"}),
            "batch_images": ("batch", np.array([sl.stop - sl.start for sl in slices]),
                             {"long_name": "images in the batch", "units": "count"}),
        },
        coords={
            "batch": ("batch", np.arange(len(slices)), {"long_name": "batch (images in order)", "units": "1"}),
            "block": ("block", np.array([i + 1 for i, _ in model.ode_blocks()], dtype=np.int64),
                      {"long_name": "ODE block", "units": "1"}),
            "contrast": ((), c, {"long_name": "contrast factor c (input = c * image)", "units": "1"}),
            "regime": ((), regime, {"long_name": "contrast regime (neurodcn.cortex.contrast.REGIMES)"}),
        },
        attrs={"batch_size": batch_size},
    )
    return vc.stamp(ds, "batch_nfe", title=f"batch_nfe {regime} c = {c:g} ({vc.name})",
                    stimulus_size=np.shape(images)[-2:])
