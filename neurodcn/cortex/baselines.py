"""Baselines to record from like any model: the pixels themselves, and an untrained copy of a zoo model.

Without them no similarity score can be read: on monkey IT, raw pixels already reach a good part of a trained
model's. Both are ordinary modules, so VirtualCortex records and compares them as it does trained models.
"""

from __future__ import annotations

from torch import nn

from neurodcn.data.bundled import bundled_checkpoints, bundled_name
from neurodcn.nn.zoo import build_model, list_models
from neurodcn.train.checkpoint import load_checkpoint
from neurodcn.validate import check_choice, check_int, check_type

__all__ = ["Pixels", "untrained_model", "untrained_copy"]


class Pixels(nn.Module):
    """The pixel baseline: its one layer ``image`` returns the input image [N, in_channels, H, W] unchanged
    (the image at the model's input, i.e. after VirtualCortex resized it to image_size)."""

    def __init__(self, in_channels: int = 3):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.image = nn.Identity()
        self.config = {"name": "pixels", "in_channels": self.in_channels}

    def forward(self, x):
        return self.image(x)


def untrained_model(name: str, seed: int | None = None) -> nn.Module:
    """An untrained copy of model ``name``: a bundled checkpoint's architecture (its card's config) or a zoo
    model's defaults, initialised by the zoo's builder with its seed rule (a forked RNG seeded with ``seed``;
    None: the seed the config records, so a bundled model's copy is its own initialisation, else 0)."""
    bundled = bundled_name(name)
    if bundled is None:
        check_choice("name", name, sorted(set(bundled_checkpoints()) | set(list_models())))
    config = load_checkpoint(bundled_checkpoints()[bundled])[1]["model"]["config"] if bundled else {"name": name}
    return untrained_copy(config, seed)


def untrained_copy(config: dict, seed: int | None = None) -> nn.Module:
    """An untrained model (eval mode) of the architecture ``config`` (a model's config dict, "name" included),
    built by the zoo's builder with its seed rule: a forked RNG seeded with ``seed`` (None: the seed the config
    records, else 0), so a trained model's copy from its own config is its own initialisation when that was
    seeded."""
    config = check_type("config", config, dict, "a model config dict")
    if "name" not in config:
        raise ValueError(f"config must name its zoo model (a 'name' entry), got keys {sorted(config)}")
    seed = (config.get("seed") or 0) if seed is None else check_int("seed", seed, minimum=0)
    return build_model(**dict(config, seed=seed)).eval()
