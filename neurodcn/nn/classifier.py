"""The staged classifier every zoo model with blocks shares, its stages, and the options of the built-in ones.

Skeleton: stem -> blocks interleaved with transitions -> head. ``Classifier.stages()`` is the one walk over it
(stem, blocks, transitions in forward order) that recording, map geometry and receptive fields use.
``MODEL_SPECS`` names the DCN paper's classifiers (Table 1 and Table 5); ``check_options`` and ``stage_block``
are the builder helpers that neurodcn.nn.models and neurodcn.nn.dcn_cc share.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import nn

from neurodcn.nn.blocks import ACTIVATIONS, GN_GROUPS, ResBlock
from neurodcn.nn.dynamics import TIME_MODES, NFEStats, ODEBlock, ODEFunc, SolverConfig
from neurodcn.validate import check_bool, check_choice, check_feature_map, check_int, check_real

__all__ = ["Classifier", "Stage", "STAGE_KINDS", "MODEL_SPECS", "default_options", "check_options", "srf_options",
           "stage_block"]

STAGE_KINDS = ("stem", "block", "transition")

# name -> (block kind, conv inside blocks, SRF stem/downsampling, time_param, default activation, default GN groups)
MODEL_SPECS = {
    "dcn-ode": ("ode", "srf", False, None, "celu", "min32"),
    "dcn-full": ("ode", "srf", True, None, "celu", "channels"),
    "dcn-sigma-ji": ("ode", "srf_pair", False, None, "celu", "min32"),
    "odenet": ("ode", "conv", False, None, "relu", "min32"),
    "resnet-blocks": ("res", "conv", False, None, "relu", "min32"),
    "resnet-srf-blocks": ("res", "srf", False, None, "relu", "min32"),
    "resnet-srf-full": ("res", "srf", True, None, "relu", "min32"),
    "dcn-sigma-t": ("ode", "srf", False, "sigma_t", "celu", "min32"),
    "dcn-sigma-t2": ("ode", "srf", False, "sigma_t2", "celu", "min32"),
    "dcn-sigma-alpha-t": ("ode", "srf", False, "sigma_alpha_t", "celu", "min32"),
}


class Stage(NamedTuple):
    """One stage of a Classifier: kind (one of STAGE_KINDS), index (0 for the stem; i for blocks[i] and for
    transitions[i], which follows blocks[i]), the module and its module path ("stem", "blocks.i",
    "transitions.i")."""

    kind: str
    index: int
    module: nn.Module
    path: str


class Classifier(nn.Module):
    """A staged image classifier: stem, blocks interleaved with transitions, head.

    Submodules: ``stem``; ``blocks`` (nn.ModuleList of ODEBlock or ResBlock, one per stage); ``transitions``
    (nn.ModuleList of downsamplings, len(blocks) - 1; transitions[i] follows blocks[i]); ``head`` (GN, act,
    global average pool, flatten, Linear). ``config`` is a JSON-serialisable dict with build_model(**config)
    rebuilding the architecture. Input [B, in_channels, H, W] (values in [0, 1]) -> logits [B, num_classes].
    """

    def __init__(self, stem: nn.Module, blocks: list[nn.Module], transitions: list[nn.Module], head: nn.Module,
                 config: dict):
        super().__init__()
        if len(transitions) != len(blocks) - 1:
            raise ValueError(f"need len(blocks) - 1 = {len(blocks) - 1} transitions, got {len(transitions)}")
        self.stem, self.head = stem, head
        self.blocks, self.transitions = nn.ModuleList(blocks), nn.ModuleList(transitions)
        self.config = config

    def stages(self) -> Iterator[Stage]:
        """The stages in forward order: stem, blocks[0], transitions[0], blocks[1], ..., blocks[-1] (the head is
        the readout, not a stage). Every walk over the model (recording, map geometry, receptive fields, RF size)
        goes through here."""
        yield Stage("stem", 0, self.stem, "stem")
        for i, block in enumerate(self.blocks):
            yield Stage("block", i, block, f"blocks.{i}")
            if i < len(self.transitions):
                yield Stage("transition", i, self.transitions[i], f"transitions.{i}")

    @property
    def in_channels(self) -> int:
        """Channels of the input images."""
        given = self.config.get("in_channels")
        return int(given) if given else next(m.in_channels for m in self.stem.modules() if hasattr(m, "in_channels"))

    def min_input_size(self) -> int:
        """The smallest square input (px) that one image can take through the whole model (found once, by
        passing zeros; smaller maps vanish in the stem or transitions, or leave a norm one value per group).
        Shapes do not depend on the solver, so each ODE block takes one Euler step for the probe."""
        if getattr(self, "_min_input_size", None) is None:
            p, c, training = next(self.parameters()), self.in_channels, self.training
            solvers = {i: b.solver for i, b in self.ode_blocks()}
            self.eval()
            try:
                for i, solver in solvers.items():
                    self.blocks[i].solver = SolverConfig(method="euler", T=solver.T, step_size=solver.T,
                                                         adjoint=False)
                self._min_input_size = next(n for n in range(1, 4097) if self._fits(p.new_zeros(1, c, n, n)))
            finally:
                for i, solver in solvers.items():
                    self.blocks[i].solver = solver
                self.train(training)
        return self._min_input_size

    def _fits(self, x: torch.Tensor) -> bool:
        try:
            with torch.no_grad():
                self.head(self._features(x, len(self.blocks) - 1))
        except (RuntimeError, ValueError):
            return False
        return True

    def check_input(self, x) -> torch.Tensor:
        """``x`` if it is a [B, in_channels, H, W] tensor of the model's floating dtype, at least
        min_input_size() px high and wide; else a ValueError or TypeError saying what is expected."""
        check_feature_map("x", x, self.in_channels, next(self.parameters()).dtype)
        smallest = self.min_input_size()
        if min(x.shape[-2:]) < smallest:
            raise ValueError(f"x must be at least {smallest} x {smallest} px for this model (see min_input_size), "
                             f"got shape {tuple(x.shape)}")
        return x

    def features(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """Feature map after blocks[upto] (default: the last block), before the head: [B, C, H', W']."""
        last = len(self.blocks) - 1 if upto is None else check_int("upto", upto, 0, len(self.blocks) - 1)
        return self._features(self.check_input(x), last)

    def _features(self, x: torch.Tensor, last: int) -> torch.Tensor:
        h = self.stem(x)
        for i in range(last + 1):
            h = self.blocks[i](h if i == 0 else self.transitions[i - 1](h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def ode_blocks(self) -> list[tuple[int, ODEBlock]]:
        """(index in blocks, block) of every ODE block."""
        return [(i, b) for i, b in enumerate(self.blocks) if isinstance(b, ODEBlock)]

    def nfe_report(self) -> list[dict]:
        """Per ODE block, the NFE and step counts of the last pass: dicts with keys "block" (its number, 1-based
        as block1, block2, ... of the datasets) and the NFEStats fields (forward_nfe, backward_nfe,
        accepted_steps, rejected_steps, backward_accepted_steps, backward_rejected_steps, total_nfe). Empty for
        ResNets."""
        return [dict(block=i + 1, **b.nfe.as_dict()) for i, b in self.ode_blocks()]

    def total_nfe(self) -> NFEStats:
        """NFEStats summed over the ODE blocks of the last pass."""
        total = NFEStats()
        for _, b in self.ode_blocks():
            for k, v in vars(b.nfe).items():
                setattr(total, k, getattr(total, k) + v)
        return total

    def reset_nfe(self) -> None:
        for _, b in self.ode_blocks():
            b.reset_nfe()

    def set_solver(self, solver) -> None:
        """Use one solver configuration (SolverConfig or dict) for every ODE block; updates config."""
        solver = SolverConfig.coerce(solver)
        for _, b in self.ode_blocks():
            b.solver = solver
        if "solver" in self.config:
            self.config["solver"] = solver.to_dict()  # the config is JSON


def default_options(name: str) -> dict:
    """The options of built-in classifier ``name`` with their defaults (solver as a SolverConfig)."""
    kind, conv, full, time_param, act, groups = MODEL_SPECS[name]
    d = dict(width=32, num_classes=10, in_channels=3, act=act, gn_groups=groups, seed=None)
    if kind == "ode":
        d.update(solver=SolverConfig(), time_mode="concat", cache_kernels=True)
    if conv != "conv" or full:
        d.update(order=2, sigma_range=[0.05, 8.0])
    if conv == "srf_pair":
        d.update(pair_size=7)
    return d


def check_options(name: str, overrides: dict) -> dict:
    """The options of built-in classifier ``name``: its defaults updated by ``overrides``, validated (solver
    coerced to a SolverConfig object; it becomes JSON only in a model's ``config``)."""
    allowed = default_options(name)
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"{name} does not take {unknown}; its options are {sorted(allowed)}")
    opts = dict(allowed, **overrides)
    for key in ("width", "num_classes", "in_channels"):
        opts[key] = check_int(key, opts[key], minimum=1)
    check_choice("act", opts["act"], ACTIVATIONS)
    check_choice("gn_groups", opts["gn_groups"], GN_GROUPS)
    if opts["seed"] is not None:
        opts["seed"] = check_int("seed", opts["seed"])
    if "solver" in opts:
        opts["solver"] = SolverConfig.coerce(opts["solver"])
        check_choice("time_mode", opts["time_mode"], TIME_MODES)
        check_bool("cache_kernels", opts["cache_kernels"])
    if "sigma_range" in opts:
        sr = opts["sigma_range"]
        if not isinstance(sr, (list, tuple)) or len(sr) != 2:
            raise ValueError(f"sigma_range must be a pair (min, max) in pixels, got {sr!r}")
        opts["sigma_range"] = [check_real("sigma_range", v) for v in sr]
    return opts


def srf_options(opts: dict) -> dict:
    """The SRF options (order, sigma_range, pair_size) present in a classifier's options."""
    return {k: opts[k] for k in ("order", "sigma_range", "pair_size") if k in opts}


def stage_block(config: dict, channels: int) -> nn.Module:
    """A fresh block of the kind a built-in classifier with this config (or options) uses, at the given channel
    count; config["solver"] may be a SolverConfig or its dict."""
    name = config.get("name")
    if name not in MODEL_SPECS:
        raise ValueError(f"stage_block needs a built-in classifier config, one of {list(MODEL_SPECS)}; got {name!r}")
    kind, conv, _, time_param, _, _ = MODEL_SPECS[name]
    srf = srf_options(config)
    if kind == "res":
        return ResBlock(channels, conv, config["act"], config["gn_groups"], **srf)
    func = ODEFunc(channels, conv, time_param=time_param, time_mode=config["time_mode"], act=config["act"],
                   gn_groups=config["gn_groups"], **srf)
    return ODEBlock(func, config["solver"], cache_kernels=config["cache_kernels"])
