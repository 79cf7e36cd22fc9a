"""What every paper function starts from: the model (a checkpoint, default the bundled dcn-ode)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from neurodcn.cortex.virtual_cortex import VirtualCortex
from neurodcn.data.bundled import bundled_checkpoint

__all__ = ["DEFAULT_MODEL", "DEFAULT_STIMULI", "load_cortex", "checkpoint_label", "parameter_count"]

DEFAULT_MODEL = "dcn-ode"
"""The bundled model the paper functions use when no checkpoint is given."""

DEFAULT_STIMULI = "cifar10-demo"
"""The bundled stimulus set (neurodcn.load_stimuli) the paper functions use by default."""


def load_cortex(checkpoint=None, progress: bool = True) -> VirtualCortex:
    """A VirtualCortex on ``checkpoint`` (a path; None: the bundled DEFAULT_MODEL), default visual field and
    time map."""
    if checkpoint is None:
        return VirtualCortex.pretrained(DEFAULT_MODEL, progress=progress)
    if not isinstance(checkpoint, str | os.PathLike):
        raise TypeError(f"checkpoint must be None, a str or os.PathLike, got {type(checkpoint).__name__}")
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {str(checkpoint)!r} does not exist")
    return VirtualCortex.from_checkpoint(checkpoint, progress=progress)


def checkpoint_label(checkpoint=None) -> str:
    """How results name the model's source: "bundled <name>" for the default, else the path as given (a
    machine's absolute path to the package never goes into a result)."""
    if checkpoint is None:
        return f"bundled {DEFAULT_MODEL} ({bundled_checkpoint(DEFAULT_MODEL).name})"
    return str(checkpoint)


def parameter_count(model: torch.nn.Module) -> int:
    """Number of trainable-parameter elements of ``model``."""
    return sum(p.numel() for p in model.parameters())
