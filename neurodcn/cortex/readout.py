"""Reading maps out of any model: the layers a recording holds, the one pass that returns their states, and
where their maps sit on the image.

Layers. The user names the modules to record (names of ``model.named_modules()``, as thingsvision and
torchvision's ``create_feature_extractor`` do); each becomes one block of the recording, in the order given.
Unnamed, a staged classifier (neurodcn.nn.classifier.Classifier) records its blocks, any other model its
continuous blocks, or without any its convolution layers (Conv2d, SRFConv2d, ContinuousConv2d). A layer's
output must be one tensor: a map [N, C, H, W], or a vector [N, F], recorded as F channels of a 1 x 1 map at the
image centre.

Discrete layers (any module). A forward hook keeps the output. A feed-forward layer computes once per image, so
it has one state: a discrete recording has one time point, model time 0 (time_ms = onset_ms, the latency the
user assumes). Depth is not made into time: the blocks already order the layers by depth, and a time per layer
would claim latencies that nothing in the model sets.

Continuous blocks. A module with a ``trajectory`` method meets this protocol (neurodcn's ODEBlock does):

    T                       float: the model time its forward integrates to (forward(h0) returns h(T))
    trajectory(h0, times)   the states [len(times), *h0.shape] at ``times``: a 1-D increasing tensor of model
                            times in h0's dtype, times[0] = 0 (the time of h0), times[-1] = T
    step_times              after a trajectory call: the model times of the solver's own states (1-D, shared
                            by the batch; a fixed-grid solver's grid, an RNN's step indices)
    image_solves (optional) after a trajectory call: per-image solver states instead (an object whose
                            ``step_times`` holds one 1-D array per image; ODEBlock's ImageSolves)
    interpolant (optional)  str: how trajectory returns a state between two of them (e.g. "linear")

During a pass the block's forward is replaced by one trajectory over [0, recorded times, T] whose h(T) is
handed on, so the recorded states and the model's output come from one solve (a forward hook would solve
twice). A recording has one time axis: the named layers are all continuous or all discrete.
"""

from __future__ import annotations

import contextlib
import functools
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from neurodcn.cortex.geometry import MapGeometry, centred_geometry, stage_geometry, traced_geometry
from neurodcn.cortex.inputs import check_times
from neurodcn.nn.cc import ContinuousConv2d
from neurodcn.nn.classifier import Classifier
from neurodcn.nn.srf import SRFConv2d
from neurodcn.validate import check_real, show

__all__ = ["CONVOLUTIONS", "Layer", "Readout", "is_continuous", "trajectory_at", "default_layers", "layer_geometry"]

CONVOLUTIONS = (nn.Conv2d, SRFConv2d, ContinuousConv2d)
"""The modules a model other than a staged classifier records when no layers are named."""


def is_continuous(module: nn.Module) -> bool:
    """Whether ``module`` is a continuous block (has a ``trajectory`` method; see the module docstring)."""
    return callable(getattr(module, "trajectory", None))


def trajectory_at(block: nn.Module, h0: torch.Tensor, times: np.ndarray, T: float):
    """(states [len(times), *h0.shape], h(T)) of a continuous block from one trajectory over [0, times, T]:
    T is always on the solver's grid, so h(T) is what the block's own forward hands on."""
    grid = np.union1d(np.concatenate([[0.0], times]), [T])
    out = block.trajectory(h0, torch.as_tensor(grid, dtype=h0.dtype, device=h0.device))
    return out[torch.as_tensor(np.searchsorted(grid, times), device=out.device)], out[-1]


class Layer(NamedTuple):
    """One recorded layer: module name, the module, and T (model time units) for a continuous block, else None."""

    name: str
    module: nn.Module
    T: float | None


def default_layers(model: nn.Module) -> list[str]:
    """The layers recorded when none are named: a staged classifier's blocks; else the continuous blocks (those
    inside no other), else every convolution layer (CONVOLUTIONS), in registration order."""
    if isinstance(model, Classifier):
        return [f"blocks.{i}" for i in range(len(model.blocks))]
    blocks = [n for n, m in model.named_modules() if n and is_continuous(m)]
    names = [n for n in blocks if not any(n.startswith(f"{b}.") for b in blocks)]
    names = names or [n for n, m in model.named_modules() if isinstance(m, CONVOLUTIONS)]
    if not names:
        raise ValueError(f"layers must name the modules of {type(model).__name__} to record (names of "
                         "model.named_modules()); it has no continuous blocks or convolution layers to record "
                         "by default")
    return names


def _end_time(name: str, module: nn.Module) -> float:
    if not hasattr(module, "T"):
        raise TypeError(f"layer {name!r} has a trajectory method but no T: a continuous block needs T, the model "
                        "time its forward integrates to (see neurodcn.cortex.readout)")
    return check_real(f"{name}.T", module.T, lo=0.0, lo_open=True)


class Readout:
    """The named layers of ``model`` (module names; None: default_layers) and the pass that reads them."""

    def __init__(self, model: nn.Module, layers=None):
        modules = dict(model.named_modules())
        names = default_layers(model) if layers is None else layers
        if (not isinstance(names, list | tuple) or not names or not all(isinstance(n, str) for n in names)
                or len(set(names)) != len(names)):
            raise ValueError(f"layers must be a non-empty list of distinct module names, got {show(layers)}")
        unknown = [n for n in names if n not in modules]
        if unknown:
            raise ValueError(f"layers {unknown} are not modules of {type(model).__name__}; its modules are "
                             f"{show([n for n in modules if n])} (model.named_modules())")
        self.model = model
        self.layers = [Layer(n, modules[n], _end_time(n, modules[n]) if is_continuous(modules[n]) else None)
                       for n in names]
        continuous = [layer.name for layer in self.layers if layer.T is not None]
        if continuous and len(continuous) < len(self.layers):
            discrete = [layer.name for layer in self.layers if layer.T is None]
            raise ValueError(f"layers must be all continuous blocks or all discrete layers (a recording has one "
                             f"time axis), got continuous {continuous} and discrete {discrete}: record them with "
                             "two cortices")
        self.step_rows: list[list[np.ndarray] | None] = [None] * len(self.layers)

    @property
    def continuous(self) -> bool:
        """Whether the layers are continuous blocks (else discrete layers, one state at model time 0)."""
        return self.layers[0].T is not None

    @property
    def t_end(self) -> float:
        """The end of the recordable interval: the smallest T of the blocks (0 for discrete layers)."""
        return min(layer.T for layer in self.layers) if self.continuous else 0.0

    def interpolant(self, k: int) -> str:
        """How layer k's trajectory returns states between its solver's own (the block's ``interpolant``)."""
        return str(getattr(self.layers[k].module, "interpolant", "unspecified"))

    def times(self, times=None, default: int = 5) -> np.ndarray:
        """Model times to record: ``times`` checked to lie in [0, t_end] (None: ``default`` evenly spaced); for
        discrete layers only [0.0] (their one state)."""
        if self.continuous:
            return check_times(np.linspace(0.0, self.t_end, default) if times is None else times, self.t_end)
        if times is not None and not np.array_equal(np.ravel(np.asarray(times, dtype=object)), [0.0]):
            raise ValueError(f"times must be None or [0.0] for discrete layers (one state per image, at model time "
                             f"0), got {show(times)}")
        return np.zeros(1)

    def __call__(self, x: torch.Tensor, times: np.ndarray) -> tuple[object, list[torch.Tensor]]:
        """(the model's output, states): states[k] is layer k's [len(times), N, C, H, W] for images x (times from
        :meth:`times`); ``step_rows`` then holds each continuous block's solver states, one array per image."""
        states: list = [None] * len(self.layers)
        with contextlib.ExitStack() as stack:
            for k, layer in enumerate(self.layers):
                if layer.T is None:
                    stack.callback(layer.module.register_forward_hook(functools.partial(self._keep, states, k)).remove)
                else:
                    layer.module.forward = functools.partial(self._solve, states, k, times)
                    stack.callback(delattr, layer.module, "forward")
            out = self.model(x)
        silent = [layer.name for layer, s in zip(self.layers, states, strict=True) if s is None]
        if silent:
            raise RuntimeError(f"layers {silent} did not run in the model's forward pass")
        return out, states

    def _map(self, k: int, h) -> torch.Tensor:
        if not torch.is_tensor(h) or h.dim() not in (2, 4):
            got = list(h.shape) if torch.is_tensor(h) else type(h).__name__
            raise ValueError(f"layer {self.layers[k].name!r} must return one tensor [N, C, H, W] or [N, F] to be "
                             f"recorded, got {got}")
        return h[:, :, None, None] if h.dim() == 2 else h

    def _once(self, states: list, k: int) -> None:
        if states[k] is not None:
            raise RuntimeError(f"layer {self.layers[k].name!r} ran more than once in one forward pass; name a module "
                               "that runs once (a module reused at several places, e.g. one ReLU, has no one output)")

    def _keep(self, states: list, k: int, module, args, out) -> None:
        self._once(states, k)
        states[k] = self._map(k, out).unsqueeze(0)

    def _solve(self, states: list, k: int, times: np.ndarray, h0: torch.Tensor) -> torch.Tensor:
        self._once(states, k)
        block = self.layers[k].module
        traj, end = trajectory_at(block, h0, times, self.layers[k].T)
        solves, step = getattr(block, "image_solves", None), getattr(block, "step_times", None)
        if solves is not None:
            self.step_rows[k] = list(solves.step_times)
        elif step is not None:
            self.step_rows[k] = [torch.as_tensor(step).detach().to(torch.float64).cpu().numpy().ravel()] * len(h0)
        else:
            raise TypeError(f"continuous block {self.layers[k].name!r} must set step_times (the model times of its "
                            "solver's own states) in trajectory; see neurodcn.cortex.readout")
        states[k] = self._map(k, traj.flatten(0, 1)).unflatten(0, (len(times), h0.shape[0]))
        return end


def layer_geometry(readout: Readout, in_channels: int, image_hw: tuple[int, int], like: torch.Tensor):
    """(maps, strides, how): per layer the MapGeometry of its map for images of image_hw px, found by walking
    the model ("walked": a staged classifier's stages, or the torch.fx graph of the forward) or assumed
    ("centred": neurodcn.cortex.geometry.centred_geometry, from the map size a probe pass gives); strides maps
    id(SRF layer) -> stride of its input map (px) where walked. like: a tensor of the model's dtype and device.
    A staged classifier's stages need no probe (their geometry is exact; Classifier.min_input_size checks the
    size).
    """
    model, names = readout.model, [layer.name for layer in readout.layers]
    if isinstance(model, Classifier) and set(names) <= {s.path for s in model.stages()}:
        maps, strides = stage_geometry(model, in_channels, image_hw)
        return [maps[n] for n in names], strides, ["walked"] * len(names)
    maps, strides = traced_geometry(model, names, in_channels, image_hw, is_continuous)
    with torch.no_grad():
        _, states = readout(like.new_zeros(1, in_channels, *image_hw), readout.times([readout.t_end]))
    out, how = [], []
    for name, s in zip(names, states, strict=True):
        c, h, w = s.shape[2:]
        g: MapGeometry | None = maps.get(name)
        walked = g is not None and (g.channels, g.height, g.width) == (c, h, w)
        out.append(g if walked else centred_geometry(c, (h, w), image_hw))
        how.append("walked" if walked else "centred")
    return out, strides, how
