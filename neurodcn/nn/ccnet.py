"""The CC paper's classification networks (Appendix A, Table 3): CC-Net with gradual scales and the ConvNet
baseline, with the paper's scale augmentation (Eq. 4 output sizes, grid.sequence_sizes) and scale ensembles at
inference.

Both: 8 conv/CC layers (32, 32, 64 x 6 channels; supports 3, 4, 3, 3, 3, 3, 3, 4), ReLU after each, then
FC 512, 512, num_classes. The ConvNet uses strides 1, 2, 1, 1, 1, 1, 1, 2; the CC-Net's first layer has scale 1
and the other seven multiply to target_scale (1/4), each layer's output size following Eq. 4.
"""

from __future__ import annotations

import contextlib
import math
from fractions import Fraction

import torch
from torch import nn

from neurodcn.nn.cc import ContinuousConv2d
from neurodcn.nn.grid import sequence_sizes
from neurodcn.validate import check_bool, check_int, check_real, is_int

__all__ = ["CCNet", "ConvNet", "he_init", "sample_scales", "CHANNELS", "SUPPORTS", "STRIDES"]

CHANNELS = (32, 32, 64, 64, 64, 64, 64, 64)
SUPPORTS = (3, 4, 3, 3, 3, 3, 3, 4)
STRIDES = (1, 2, 1, 1, 1, 1, 1, 2)


def _fraction(name, value) -> Fraction:
    check_real(name, value, lo=0, lo_open=True)
    return value if isinstance(value, Fraction) else Fraction(float(value)).limit_denominator(10**6)


def sample_scales(layers: int = 8, target=Fraction(1, 4), std: float = 0.01, max_denominator: int = 10,
                  generator: torch.Generator | None = None) -> list[tuple[Fraction, Fraction]]:
    """One scale sequence per Appendix A, independently per axis: layer 1 has scale 1; the others are drawn
    from N(target^(1 / (layers - 1)), std), each rounded to the nearest fraction with denominator
    <= max_denominator; then one of them, chosen uniformly, is set so that their product is exactly target.

    Returns ``layers`` pairs (s_y, s_x) of Fractions.
    """
    target = _fraction("target", target)
    layers = check_int("layers", layers, 2)
    std = check_real("std", std, 0)
    max_denominator = check_int("max_denominator", max_denominator, 1)
    n = layers - 1
    mean = float(target) ** (1.0 / n)
    axes = []
    for _ in range(2):
        draws = torch.normal(mean, std, (n,), generator=generator, dtype=torch.float64).tolist()
        scales = [Fraction(max(v, 1e-3)).limit_denominator(max_denominator) for v in draws]
        fixed = int(torch.randint(n, (1,), generator=generator))
        rest = math.prod(s for i, s in enumerate(scales) if i != fixed)
        scales[fixed] = target / rest
        axes.append([Fraction(1)] + scales)
    return list(zip(axes[0], axes[1], strict=True))


def he_init(layer: nn.Conv2d | nn.Linear) -> None:
    """He et al. (2015) initialisation for a layer followed by ReLU: weight ~ N(0, 2 / fan_in), bias 0, so the
    mean square activation is kept from layer to layer. PyTorch's default (variance 1 / (3 fan_in)) divides it
    by 6 at every layer: after the 10 ReLU layers of these networks the logits barely depend on the input, and
    Adam training stays at chance."""
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    nn.init.zeros_(layer.bias)


def _head(in_features: int, fc, num_classes: int) -> nn.Sequential:
    layers, width = [nn.Flatten()], in_features
    for f in fc:
        layers += [nn.Linear(width, f), nn.ReLU()]
        he_init(layers[-2])
        width = f
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _check_common(num_classes, in_channels, input_size, fc):
    for name, v in (("num_classes", num_classes), ("in_channels", in_channels), ("input_size", input_size)):
        check_int(name, v, 1)
    if not all(is_int(f) and f >= 1 for f in fc):
        raise ValueError(f"fc must list integer widths >= 1, got {fc!r}")


class CCNet(nn.Module):
    """CC-Net (Table 3): 8 ContinuousConv2d layers with gradual scales, then FC layers.

    forward(x, scales=None): scales is a list of 8 pairs (s_y, s_x); None takes, in training mode with
    scale_augmentation, a fresh sample_scales draw (Appendix A) and otherwise ``default_scales`` (layer 1 at 1,
    then the rounded mean scale, the last layer completing target_scale). Output sizes follow Eq. 4, the last
    layer's being input x target_scale. x [B, in_channels, input_size, input_size] -> logits [B, num_classes].

    Reproducible augmentation: the draw of training step n comes from a generator seeded by (seed, n), with n
    the buffer ``augment_step`` (saved in the state dict, advanced by each augmented forward), so a run resumed
    from a checkpoint continues with the same scale sequences. A state dict without it (written before the
    buffer existed) loads with n = 0.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
                 channels=CHANNELS, supports=SUPPORTS, fc=(512, 512), target_scale: float = 0.25,
                 scale_std: float = 0.01, max_denominator: int = 10, kernel: str = "internal_net",
                 padding: str = "zeros", scale_augmentation: bool = True, seed: int = 0):
        super().__init__()
        channels, supports, fc = tuple(channels), tuple(supports), tuple(fc)
        _check_common(num_classes, in_channels, input_size, fc)
        if len(channels) != len(supports) or len(channels) < 2:
            raise ValueError(f"channels and supports must have the same length >= 2, got {channels}, {supports}")
        seed = check_int("seed", seed, 0, 2**31 - 1)
        scale_augmentation = check_bool("scale_augmentation", scale_augmentation)
        scale_std, max_denominator = check_real("scale_std", scale_std, 0), check_int("max_denominator",
                                                                                      max_denominator, 1)
        target = _fraction("target_scale", target_scale)
        if (input_size * target).denominator != 1:
            raise ValueError(f"input_size x target_scale must be an integer, got {input_size} x {target_scale}")
        self.config = {"name": "ccnet", "num_classes": num_classes, "in_channels": in_channels,
                       "input_size": input_size, "channels": list(channels), "supports": list(supports),
                       "fc": list(fc), "target_scale": float(target_scale), "scale_std": scale_std,
                       "max_denominator": max_denominator, "kernel": kernel, "padding": padding,
                       "scale_augmentation": scale_augmentation, "seed": seed}
        self.target = target
        widths = (in_channels, *channels)
        with torch.random.fork_rng(devices=[]):  # the initialisation is the seed's, whatever the global RNG
            torch.manual_seed(seed)
            # the Internal-Net's own init keeps the mean square activation through the 8 CC layers (its taps
            # share one bias, so they add coherently); the FC head takes He's
            self.layers = nn.ModuleList(ContinuousConv2d(widths[i], widths[i + 1], kernel=kernel,
                                                         support=supports[i], padding=padding)
                                        for i in range(len(channels)))
            side = int(input_size * target)
            self.head = _head(channels[-1] * side * side, fc, num_classes)
        self.register_buffer("augment_step", torch.zeros((), dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "augment_step", torch.zeros((), dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def step_generator(self, step: int | None = None) -> torch.Generator:
        """The generator of augmentation step ``step`` (default: the current ``augment_step``)."""
        step = int(self.augment_step) if step is None else step
        return torch.Generator().manual_seed(self.config["seed"] * 2**32 + step)

    def sample_scales(self, generator: torch.Generator | None = None) -> list[tuple[Fraction, Fraction]]:
        """A random scale sequence (Appendix A) from ``generator`` (default: that of the current step)."""
        c = self.config
        return sample_scales(len(self.layers), self.target, c["scale_std"], c["max_denominator"],
                             generator if generator is not None else self.step_generator())

    def default_scales(self) -> list[tuple[Fraction, Fraction]]:
        """The deterministic sequence: 1, then the mean target^(1/7) rounded, the last layer completing it."""
        n = len(self.layers) - 1
        mean = Fraction(float(self.target) ** (1.0 / n)).limit_denominator(self.config["max_denominator"])
        last = self.target / mean ** (n - 1)
        return [(Fraction(1), Fraction(1))] + [(mean, mean)] * (n - 1) + [(last, last)]

    def features(self, x: torch.Tensor, scales=None) -> torch.Tensor:
        """Output of the last CC layer (after ReLU): [B, channels[-1], input x target, input x target]."""
        if scales is None:
            if self.training and self.config["scale_augmentation"]:
                scales = self.sample_scales()
                self.augment_step += 1
            else:
                scales = self.default_scales()
        if len(scales) != len(self.layers):
            raise ValueError(f"scales must hold {len(self.layers)} pairs (s_y, s_x), got {len(scales)}")
        hw = tuple(x.shape[-2:])
        sizes = sequence_sizes(hw, list(scales[:-1])) + [tuple(math.ceil(n * self.target) for n in hw)]
        for layer, s, size in zip(self.layers, scales, sizes, strict=True):
            x = torch.relu(layer(x, scale=s, out_size=size))
        return x

    def forward(self, x: torch.Tensor, scales=None) -> torch.Tensor:
        return self.head(self.features(x, scales))

    @torch.no_grad()
    def scale_ensemble(self, x: torch.Tensor, k: int = 3, seed: int = 0) -> torch.Tensor:
        """Scale ensemble (Sec. 4): mean logits over k scale sequences drawn with a generator seeded by seed."""
        k = check_int("k", k, 1)
        gen = torch.Generator().manual_seed(check_int("seed", seed, 0))
        return torch.stack([self(x, self.sample_scales(gen)) for _ in range(k)]).mean(0)


class ConvNet(nn.Module):
    """The baseline ConvNet (Table 3): conv 3x3 / 4x4 with strides 1, 2, 1, 1, 1, 1, 1, 2 ("same"-style padding
    1, so 32 -> 16 -> 8), ReLU after each, then FC layers. x [B, in_channels, S, S] -> logits [B, num_classes].
    seed: initialise from this seed (None: from the global RNG)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
                 channels=CHANNELS, supports=SUPPORTS, strides=STRIDES, fc=(512, 512), seed: int | None = None):
        super().__init__()
        channels, supports, strides, fc = tuple(channels), tuple(supports), tuple(strides), tuple(fc)
        _check_common(num_classes, in_channels, input_size, fc)
        if not len(channels) == len(supports) == len(strides):
            raise ValueError(f"channels, supports and strides must have one entry per layer, got {channels}, "
                             f"{supports}, {strides}")
        self.config = {"name": "convnet", "num_classes": num_classes, "in_channels": in_channels,
                       "input_size": input_size, "channels": list(channels), "supports": list(supports),
                       "strides": list(strides), "fc": list(fc)}
        if seed is not None:  # only then in the config, so configs written without it stay as they were
            self.config["seed"] = seed = check_int("seed", seed, 0)
        rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
        with rng:
            if seed is not None:
                torch.manual_seed(seed)
            widths, layers, side = (in_channels, *channels), [], input_size
            for i, (k, s) in enumerate(zip(supports, strides, strict=True)):
                layers += [nn.Conv2d(widths[i], widths[i + 1], k, stride=s, padding=1), nn.ReLU()]
                he_init(layers[-2])
                side = (side + 2 - k) // s + 1
            self.convs = nn.Sequential(*layers)
            self.head = _head(channels[-1] * side * side, fc, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the last conv layer (after ReLU)."""
        return self.convs(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x))
