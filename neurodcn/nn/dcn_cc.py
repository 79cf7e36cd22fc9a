"""dcn-cc: a DCN that shrinks its maps gradually, with N-jet continuous convolutions at non-integer scales.

The dcn-ode skeleton (stem Conv2d(in, w, 3), ODE blocks of SRF convolutions at widths w, 2w, 4w, GN-act-pool-
linear head) with each stride-2 downsampling replaced by a ``GradualDownsample``: m steps
[GN, act, ContinuousConv2d with the DCN's N-jet kernel at scale s_i], the channel doubling on the first step.
The default steps 4/5, 5/6, 3/4 multiply to exactly 1/2 and are each a ratio of small integers, so every step
runs by discrete convolutions (the CC paper's rational-period path). Output sizes follow the CC paper's Eq. 4
inside each transition: step j outputs ceil(n * s_1 * ... * s_j) per axis for an input of n pixels, so a
32 x 32 image gives maps 30 -> 24 -> 20 -> 15 -> 12 -> 10 -> 8 (the stride-2 convs of dcn-ode give 30, 15, 7).
"""

from __future__ import annotations

import contextlib
import itertools

import torch
from torch import nn

from neurodcn.nn.blocks import activation, classifier_head, group_norm, make_conv
from neurodcn.nn.cc import ContinuousConv2d
from neurodcn.nn.classifier import Classifier, check_options, stage_block
from neurodcn.nn.grid import check_scale, rational_scale, sequence_sizes
from neurodcn.nn.sampling import PADDINGS
from neurodcn.validate import check_choice, check_real

__all__ = ["GradualDownsample", "build_dcn_cc", "gradual_downsamples", "scale_sequence", "step_orders",
           "DEFAULT_SCALES", "DEFAULT_SUPPORT"]

DEFAULT_SCALES = (0.8, 5 / 6, 0.75)
"""Steps of one transition: 4/5 x 5/6 x 3/4 = 1/2, each close to 2^(-1/3) = 0.794 and each rational."""
DEFAULT_SUPPORT = 4
"""Kernel support of the CC steps in input pixels (the 4 x 4 window of dcn-ode's stride-2 convolution)."""


def _exact_scales(scales) -> tuple:
    """Each scale as a Fraction when it is a ratio of small integers (exact Eq. 4 sizes, by-convs path), else
    float."""
    if not isinstance(scales, list | tuple) or not scales:
        raise ValueError(f"scales must be a non-empty list of scale factors > 0, got {scales!r}")
    floats = [check_scale(s, "scales") for s in scales]
    return tuple(rational_scale(s) or f for s, f in zip(scales, floats, strict=True))


class GradualDownsample(nn.Module):
    """m steps [GN(C_i), act, ContinuousConv2d(C_i -> C_{i+1}, N-jet kernel) at scale s_i] with C_1 = in_channels
    and C_i = out_channels after the first step.

    Args:
        in_channels, out_channels: channel counts of the transition.
        scales: per-step scale factors s_1 .. s_m (> 0; the map shrinks by their product).
        support: kernel support in input pixels of each step. act, gn_groups: as in neurodcn.nn.blocks.
        order, sigma_range: N-jet order and sigma clip (pixels) of the kernels. padding: CC padding mode.

    forward(x [B, in_channels, H, W]) -> [B, out_channels, H_m, W_m] with the Eq. 4 sizes of ``plan``.
    """

    def __init__(self, in_channels: int, out_channels: int, scales=DEFAULT_SCALES, support=DEFAULT_SUPPORT,
                 act: str = "celu", gn_groups: str = "min32", order: int = 2, sigma_range=(0.05, 8.0),
                 padding: str = "zeros"):
        super().__init__()
        self.scales = _exact_scales(scales)
        widths = [in_channels] + [out_channels] * len(self.scales)
        self.norms = nn.ModuleList(group_norm(c, gn_groups) for c in widths[:-1])
        self.act = activation(act)
        self.convs = nn.ModuleList(
            ContinuousConv2d(widths[i], widths[i + 1], kernel="njet", support=support, padding=padding,
                             kernel_options={"order": order, "sigma_range": tuple(sigma_range)})
            for i in range(len(self.scales)))
        self.in_channels, self.out_channels = in_channels, out_channels

    def plan(self, in_hw) -> list[tuple[object, tuple[int, int]]]:
        """(scale, (H_j, W_j)) of each step for an input of in_hw = (H, W) pixels: Eq. 4, H_j = ceil(H prod s)."""
        return list(zip(self.scales, sequence_sizes(tuple(int(n) for n in in_hw), list(self.scales)), strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for norm, conv, (s, size) in zip(self.norms, self.convs, self.plan(x.shape[-2:]), strict=True):
            x = conv(self.act(norm(x)), scale=s, out_size=size)
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, scales=[{', '.join(str(s) for s in self.scales)}]"


def gradual_downsamples(model: nn.Module) -> list[GradualDownsample]:
    """The GradualDownsample transitions of ``model``, in forward order; ValueError for a model without them."""
    transitions = [m for m in model.modules() if isinstance(m, GradualDownsample)]
    if not transitions:
        raise ValueError(f"model must hold GradualDownsample transitions (a dcn-cc); {type(model).__name__} has none")
    return transitions


@contextlib.contextmanager
def scale_sequence(model: nn.Module, scales):
    """Inside the with-block, every GradualDownsample of ``model`` runs its steps at ``scales`` (one scale > 0 per
    step, as many steps as the model was built with) instead of the trained ones; map sizes follow Eq. 4 for
    the new steps and each step's learned kernel is resampled at its new scale. The trained scales come back on
    exit. E.g. ``with scale_sequence(net, [0.75, 0.8, 5 / 6]): net(x)`` runs the same halving in another order."""
    transitions = gradual_downsamples(model)
    new = _exact_scales(scales)
    steps = {len(t.convs) for t in transitions}
    if steps != {len(new)}:
        raise ValueError(f"scales must hold one scale per step ({sorted(steps)} steps per transition), got "
                         f"{len(new)}: {scales!r}")
    trained = [t.scales for t in transitions]
    try:
        for t in transitions:
            t.scales = new
        yield model
    finally:
        for t, s in zip(transitions, trained, strict=True):
            t.scales = s


def step_orders(model: nn.Module) -> list[tuple]:
    """Every distinct order of the model's trained step scales, the trained order first (the others in
    lexicographic order of step positions): each shrinks the map by the same factor through other sizes."""
    transitions = gradual_downsamples(model)
    trained = tuple(transitions[0].scales)
    orders = list(dict.fromkeys(itertools.permutations(trained)))
    return [trained] + [o for o in orders if o != trained]


_OWN = dict(scales=list(DEFAULT_SCALES), cc_support=DEFAULT_SUPPORT, cc_padding="zeros")


def build_dcn_cc(**overrides) -> Classifier:
    """The dcn-cc classifier. Options: those of dcn-ode (width, num_classes, in_channels, act, gn_groups, seed,
    solver, time_mode, cache_kernels, order, sigma_range) plus ``scales`` (the steps of every transition, default
    [0.8, 5/6, 0.75]), ``cc_support`` (pixels, default 4) and ``cc_padding`` (default "zeros").
    Input [B, in_channels, H, W] in [0, 1] -> logits [B, num_classes]."""
    overrides.pop("name", None)
    own = {k: overrides.pop(k, v) for k, v in _OWN.items()}
    opts = check_options("dcn-ode", overrides)
    scales = _exact_scales(own["scales"])
    support = check_real("cc_support", own["cc_support"], lo=0, lo_open=True)
    check_choice("cc_padding", own["cc_padding"], PADDINGS)
    config = dict(name="dcn-cc", **opts, scales=[float(s) for s in own["scales"]], cc_support=own["cc_support"],
                  cc_padding=own["cc_padding"])
    config["solver"] = opts["solver"].to_dict()  # the config is JSON; the blocks take the object
    w, act, groups = opts["width"], opts["act"], opts["gn_groups"]
    rng = torch.random.fork_rng(devices=[]) if opts["seed"] is not None else contextlib.nullcontext()
    with rng:
        if opts["seed"] is not None:
            torch.manual_seed(opts["seed"])
        stem = make_conv("conv", opts["in_channels"], w, kernel_size=3, padding=0, bias=True)
        widths = [w, 2 * w, 4 * w]
        ode_options = dict(opts, name="dcn-ode")
        blocks, transitions = [], []
        for i, c in enumerate(widths):
            blocks.append(stage_block(ode_options, c))
            if i < len(widths) - 1:
                transitions.append(GradualDownsample(c, 2 * c, scales, support, act, groups, opts["order"],
                                                     opts["sigma_range"], own["cc_padding"]))
        head = classifier_head(4 * w, opts["num_classes"], act, groups)
    return Classifier(stem, blocks, transitions, head, config)

