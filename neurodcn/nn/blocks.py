"""Building blocks shared by the model zoo: norms, activations, convolution factory, downsampling, ResBlocks.

Every block takes and returns feature maps [B, C, H, W]. Convolutions come in three kinds:
"conv" (an ordinary pixel kernel), "srf" (an N-jet SRF with one learned sigma per layer) and "srf_pair"
(an N-jet SRF with one sigma per input/output pair on a fixed grid, the DCN sigma_ji model).
"""

from __future__ import annotations

import torch
from torch import nn

from neurodcn.nn.srf import SRFConv2d
from neurodcn.validate import check_choice

__all__ = ["CONV_KINDS", "ACTIVATIONS", "GN_GROUPS", "group_norm", "activation", "make_conv", "apply_conv",
           "downsample", "ResBlock", "classifier_head"]

CONV_KINDS = ("conv", "srf", "srf_pair")
ACTIVATIONS = ("celu", "relu")
GN_GROUPS = ("min32", "channels")


def group_norm(channels: int, groups: str = "min32") -> nn.GroupNorm:
    """GroupNorm (affine, eps 1e-5) with min(32, C) groups ("min32") or C groups ("channels")."""
    check_choice("gn_groups", groups, GN_GROUPS)
    n = min(32, channels) if groups == "min32" else channels
    if channels % n:
        raise ValueError(f"channels={channels} cannot form min(32, C) = {n} GroupNorm groups: use <= 32 channels or a "
                         "multiple of 32 (for a zoo model, a width whose stages w, 2w, 4w all qualify, e.g. 8, 16, 32)")
    return nn.GroupNorm(n, channels)


def activation(name: str) -> nn.Module:
    """CELU (alpha 1; the DCNs) or ReLU (the ODE-Net and ResNet baselines)."""
    return nn.CELU(alpha=1.0) if check_choice("activation", name, ACTIVATIONS) == "celu" else nn.ReLU()


def make_conv(kind: str, in_channels: int, out_channels: int, *, kernel_size: int = 3, stride: int = 1,
              padding=1, bias: bool = False, order: int = 2, time_param: str | None = None,
              sigma_range=(0.05, 8.0), pair_size: int = 7) -> nn.Module:
    """A convolution of the given kind.

    "conv": nn.Conv2d(in, out, kernel_size, stride, padding, bias). "srf"/"srf_pair": SRFConv2d with N-jet
    ``order`` and "same" padding (the kernel size follows sigma; ``kernel_size``, ``padding`` and ``bias`` are
    ignored: SRF layers have no bias), ``pair_size`` is the fixed grid of "srf_pair".
    """
    check_choice("conv kind", kind, CONV_KINDS)
    if kind == "conv":
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
    return SRFConv2d(in_channels, out_channels, order=order, sigma_mode="shared" if kind == "srf" else "per_pair",
                     time_param=time_param, stride=stride, padding="same", sigma_range=tuple(sigma_range),
                     kernel_size=pair_size)


def apply_conv(conv: nn.Module, x: torch.Tensor, t=None) -> torch.Tensor:
    """Apply a convolution made by make_conv; t (model time) reaches SRF layers whose filters depend on it."""
    return conv(x, t) if isinstance(conv, SRFConv2d) else conv(x)


def downsample(channels: int, conv: str = "conv", act: str = "celu", gn_groups: str = "min32",
               **srf_options) -> nn.Sequential:
    """[GN(C), act, conv C -> 2C at stride 2]: Conv2d(4, stride 2, padding 1, bias) or a strided SRF ("same")."""
    return nn.Sequential(group_norm(channels, gn_groups), activation(act),
                         make_conv(conv, channels, 2 * channels, kernel_size=4, stride=2, padding=1, bias=True,
                                   **srf_options))


def classifier_head(channels: int, num_classes: int, act: str = "celu", gn_groups: str = "min32") -> nn.Sequential:
    """[GN(C), act, global average pool, flatten, Linear(C, num_classes)]: [B, C, H, W] -> logits [B, classes]."""
    return nn.Sequential(group_norm(channels, gn_groups), activation(act), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(channels, num_classes))


class ResBlock(nn.Module):
    """Pre-activation residual block: x + conv2(act(GN2(conv1(act(GN1(x)))))), shape-preserving.

    conv is "conv" (3 x 3, padding 1, no bias: the ResNet-blocks baseline) or "srf"/"srf_pair" (ResNet-SRF).
    """

    def __init__(self, channels: int, conv: str = "conv", act: str = "relu", gn_groups: str = "min32",
                 **srf_options):
        super().__init__()
        self.norm1, self.norm2 = group_norm(channels, gn_groups), group_norm(channels, gn_groups)
        self.act = activation(act)
        self.conv1 = make_conv(conv, channels, channels, **srf_options)
        self.conv2 = make_conv(conv, channels, channels, **srf_options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = apply_conv(self.conv1, self.act(self.norm1(x)))
        return x + apply_conv(self.conv2, self.act(self.norm2(h)))
