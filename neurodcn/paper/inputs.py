"""What every paper function starts from: the model (a checkpoint, default the bundled dcn-ode), the stimuli
(a neurodcn.load_stimuli source, default the bundled CIFAR-10 demo images) and its settings."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from neurodcn.cortex.sweep import ode_blocks
from neurodcn.cortex.virtual_cortex import VirtualCortex
from neurodcn.data.bundled import DEFAULT_CHECKPOINT, bundled_checkpoint, bundled_checkpoints, bundled_name
from neurodcn.data.stimulus_sets import Stimuli, load_stimuli
from neurodcn.nn.dynamics import ADAPTIVE_METHODS
from neurodcn.validate import check_choice, check_type

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_STIMULI",
    "load_cortex",
    "load_inputs",
    "input_settings",
    "with_overrides",
    "checkpoint_label",
    "parameter_count",
]

DEFAULT_MODEL = DEFAULT_CHECKPOINT
"""The bundled model the paper functions use when no checkpoint is given."""

DEFAULT_STIMULI = "cifar10-demo"
"""The bundled stimulus set (neurodcn.load_stimuli) the paper functions use by default."""


def _is_bundled_name(checkpoint) -> bool:
    """Whether ``checkpoint`` names a bundled checkpoint (and is not also a file, which would take precedence)."""
    return bundled_name(checkpoint) is not None and not Path(checkpoint).is_file()


def load_cortex(checkpoint=None, progress: bool = True, solver: str | None = None) -> VirtualCortex:
    """A VirtualCortex on ``checkpoint`` (a path, or the name of a bundled checkpoint that is not also a file;
    None: the bundled DEFAULT_MODEL), default visual field and time map. ``solver``: an adaptive method
    (``ADAPTIVE_METHODS``, e.g. "dopri5") that replaces the method of every ODE block at the block's own
    tolerances (e.g. to measure solver effort on a model trained with fixed rk4 steps); None keeps the
    checkpoint's solver."""
    if solver is not None:
        check_choice("solver", solver, ADAPTIVE_METHODS)
    if checkpoint is None:
        vc = VirtualCortex.pretrained(DEFAULT_MODEL, progress=progress)
    else:
        check_type("checkpoint", checkpoint, str | os.PathLike, "None, a str or os.PathLike")
        if _is_bundled_name(checkpoint):
            vc = VirtualCortex.pretrained(checkpoint, progress=progress)
        elif not Path(checkpoint).is_file():
            raise FileNotFoundError(f"checkpoint {str(checkpoint)!r} is neither a file nor a bundled checkpoint "
                                    f"({sorted(bundled_checkpoints())})")
        else:
            vc = VirtualCortex.from_checkpoint(checkpoint, progress=progress)
    if solver is not None:
        for block in ode_blocks(vc.model):
            block.solver = block.solver.replace(method=solver, step_size=None)
    return vc


def load_inputs(checkpoint, images_from, num_images: int | None, seed: int, progress: bool = True,
                solver: str | None = None):
    """(VirtualCortex, Stimuli): the cortex on ``checkpoint`` (:func:`load_cortex`, with ``solver``) and
    ``num_images`` images (None: all) drawn with ``seed`` from the neurodcn.load_stimuli source ``images_from``."""
    return load_cortex(checkpoint, progress=progress, solver=solver), load_stimuli(images_from, num_images, seed)


def input_settings(checkpoint, vc: VirtualCortex, stim: Stimuli, seed: int) -> dict:
    """What a result records of the inputs of :func:`load_inputs`: checkpoint label, model name, stimulus
    source, seed and number of images."""
    solvers = {b.solver.method for b in ode_blocks(vc.model)}
    return {
        "checkpoint": checkpoint_label(checkpoint),
        "model": vc.name,
        **({"solver": ", ".join(sorted(solvers))} if solvers else {}),
        "stimuli": stim.source,
        "seed": seed,
        "num_images": int(stim.images.shape[0]),
    }


def with_overrides(defaults: dict, **given) -> dict:
    """``defaults`` updated with the ``given`` settings that are not None (None: keep the default)."""
    return {**defaults, **{k: v for k, v in given.items() if v is not None}}


def checkpoint_label(checkpoint=None) -> str:
    """How results name the model's source: "bundled <name>" for a bundled one, else the path as given (a
    machine's absolute path to the package never goes into a result)."""
    if checkpoint is None:
        checkpoint = DEFAULT_MODEL
    if _is_bundled_name(checkpoint):
        return f"bundled {checkpoint} ({bundled_checkpoint(checkpoint).name})"
    return str(checkpoint)


def parameter_count(model: torch.nn.Module) -> int:
    """Number of trainable-parameter elements of ``model``."""
    return sum(p.numel() for p in model.parameters())
