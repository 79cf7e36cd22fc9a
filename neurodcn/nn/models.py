"""The model zoo: DCNs and their baselines (DCN paper, Table 1 and Table 5), built by name.

Every classifier here has the same skeleton (width w, default 32):
    stem -> block(w) -> DS(w -> 2w) -> block(2w) -> DS(2w -> 4w) -> block(4w) -> head
with blocks either ODE blocks (Eq. 2) or pre-activation ResBlocks. Plain stem: Conv2d(in, w, 3, no padding,
bias); "full" models use SRF layers ("same" padding) in the stem and the downsampling too. On 32 x 32 inputs the
maps are 30 -> 15 -> 7 (plain) or 32 -> 16 -> 8 (full). Other modules add models with
neurodcn.nn.zoo.register_model; the zoo registers every name of MODEL_SPECS with build_classifier.
"""

from __future__ import annotations

import contextlib

import torch

from neurodcn.nn.blocks import classifier_head, downsample, make_conv
from neurodcn.nn.classifier import MODEL_SPECS, Classifier, check_options, srf_options, stage_block

__all__ = ["build_classifier"]


def build_classifier(name: str, **overrides) -> Classifier:
    """Built-in classifier ``name`` (a key of MODEL_SPECS) with its options changed by ``overrides``; its
    ``config`` (JSON, solver as a dict) rebuilds it through neurodcn.nn.zoo.build_model."""
    opts = check_options(name, overrides)
    _, _, full, _, _, _ = MODEL_SPECS[name]
    config = dict(name=name, **opts)
    if "solver" in opts:
        config["solver"] = opts["solver"].to_dict()  # the config is JSON; the blocks take the object
    w, act, groups = opts["width"], opts["act"], opts["gn_groups"]
    srf = {k: v for k, v in srf_options(opts).items() if k != "pair_size"}
    rng = torch.random.fork_rng(devices=[]) if opts["seed"] is not None else contextlib.nullcontext()
    with rng:
        if opts["seed"] is not None:
            torch.manual_seed(opts["seed"])
        stem = make_conv("srf" if full else "conv", opts["in_channels"], w, kernel_size=3, padding=0, bias=True,
                         **srf)
        widths = [w, 2 * w, 4 * w]
        blocks, transitions = [], []
        for i, c in enumerate(widths):
            blocks.append(stage_block(dict(opts, name=name), c))
            if i < len(widths) - 1:
                transitions.append(downsample(c, "srf" if full else "conv", act, groups, **srf))
        head = classifier_head(4 * w, opts["num_classes"], act, groups)
    return Classifier(stem, blocks, transitions, head, config)
