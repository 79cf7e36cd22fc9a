"""Image reconstruction (DCN paper Table 3): a classifier's block-3 features decoded back to an image.

Encoder: a built-in classifier up to its last block (4w x 7 x 7 on 32 x 32 inputs). Decoder (its own blocks,
never the encoder's): bilinear upsample x2 -> block(4w) -> upsample x2 -> 1 x 1 conv 4w -> 2w -> block(2w) ->
GN -> CELU -> 1 x 1 conv 2w -> out_channels, giving 28 x 28 on 32 x 32 inputs. The loss is the MSE against the
centre crop of the input of the output's size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurodcn.nn.blocks import activation, group_norm
from neurodcn.nn.classifier import Classifier, stage_block
from neurodcn.nn.dynamics import ODEBlock
from neurodcn.nn.zoo import build_model
from neurodcn.validate import check_bool, check_choice

__all__ = ["RECONSTRUCTION_ENCODERS", "Decoder", "ReconstructionNet", "build_reconstruction", "center_crop",
           "reconstruction_loss"]

RECONSTRUCTION_ENCODERS = ("dcn-ode", "odenet", "resnet-blocks")


class Decoder(nn.Module):
    """[B, 4w, h, w] -> [B, out_channels, 4h, 4w]; ``blocks`` holds its two blocks (kind taken from the encoder's
    config: ODE blocks with that vector field, or ResBlocks)."""

    def __init__(self, encoder_config: dict, out_channels: int = 3):
        super().__init__()
        c = 4 * encoder_config["width"]
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.blocks = nn.ModuleList([stage_block(encoder_config, c), stage_block(encoder_config, c // 2)])
        self.reduce = nn.Conv2d(c, c // 2, 1)
        self.norm, self.act = group_norm(c // 2, encoder_config["gn_groups"]), activation("celu")
        self.out = nn.Conv2d(c // 2, out_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.blocks[0](self.up(z))
        h = self.blocks[1](self.reduce(self.up(h)))
        return self.out(self.act(self.norm(h)))


class ReconstructionNet(nn.Module):
    """Encoder (a Classifier, used up to its last block) + Decoder. With freeze_encoder the encoder's parameters
    do not train and its features are computed without gradient. forward: [B, C, H, W] -> [B, out, H', W']."""

    def __init__(self, encoder: Classifier, out_channels: int = 3, freeze_encoder: bool = True):
        super().__init__()
        if not isinstance(encoder, Classifier) or encoder.config.get("name") not in RECONSTRUCTION_ENCODERS:
            raise ValueError(f"encoder must be a Classifier built as one of {list(RECONSTRUCTION_ENCODERS)}, got "
                             f"{getattr(encoder, 'config', {}).get('name', type(encoder).__name__)!r}")
        self.encoder, self.freeze_encoder = encoder, check_bool("freeze_encoder", freeze_encoder)
        self.decoder = Decoder(encoder.config, out_channels)
        if self.freeze_encoder:
            encoder.requires_grad_(False)
        self.config = dict(encoder=encoder.config, out_channels=out_channels, freeze_encoder=self.freeze_encoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            z = self.encoder.features(x)
        return self.decoder(z)

    def nfe_report(self) -> list[dict]:
        """NFE stats of the last pass: encoder ODE blocks ("part": "encoder") then decoder ones ("decoder")."""
        rows = [dict(part="encoder", **r) for r in self.encoder.nfe_report()]
        return rows + [dict(part="decoder", block=i + 1, **b.nfe.as_dict())
                       for i, b in enumerate(self.decoder.blocks) if isinstance(b, ODEBlock)]

    def reset_nfe(self) -> None:
        self.encoder.reset_nfe()
        for b in self.decoder.blocks:
            if isinstance(b, ODEBlock):
                b.reset_nfe()


def build_reconstruction(encoder="dcn-ode", out_channels: int = 3, freeze_encoder: bool = True,
                         **overrides) -> ReconstructionNet:
    """A ReconstructionNet around ``encoder``: a trained Classifier, or a name in RECONSTRUCTION_ENCODERS (then
    built fresh with overrides, e.g. width, solver), or an encoder config dict (rebuilds a stored
    ReconstructionNet: build_reconstruction(**net.config))."""
    if isinstance(encoder, dict):
        encoder = build_model(**encoder)
    elif isinstance(encoder, str):
        check_choice("encoder", encoder, RECONSTRUCTION_ENCODERS)
        encoder = build_model(encoder, **overrides)
    elif overrides:
        raise ValueError(f"overrides {sorted(overrides)} only apply when the encoder is built by name")
    return ReconstructionNet(encoder, out_channels, freeze_encoder)


def center_crop(images: torch.Tensor, size) -> torch.Tensor:
    """Centre crop [..., H, W] -> [..., h, w] with size = (h, w) or an int; starts at (H - h) // 2, (W - w) // 2."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    H, W = images.shape[-2:]
    if not (0 < h <= H and 0 < w <= W):
        raise ValueError(f"crop size {(h, w)} must be positive and fit the images {(H, W)}")
    top, left = (H - h) // 2, (W - w) // 2
    return images[..., top:top + h, left:left + w]


def reconstruction_loss(output: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Mean squared error between output [B, C, h, w] and the centre h x w crop of images [B, C, H, W]."""
    if output.dim() != 4 or images.dim() != 4 or output.shape[:2] != images.shape[:2]:
        raise ValueError(f"output {tuple(output.shape)} and images {tuple(images.shape)} must be [B, C, ., .] "
                         f"with equal B and C")
    return F.mse_loss(output, center_crop(images, output.shape[-2:]))
