"""Reconstruction encoder-decoder (DCN paper Table 3): shapes, independence from the encoder, the loss."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neurodcn as nd
from neurodcn.nn.dynamics import ODEBlock
from neurodcn.nn.reconstruction import ReconstructionNet, build_reconstruction, center_crop, reconstruction_loss

FAST = dict(method="rk4", step_size=1.0, adjoint=False)


def overrides(name):
    return dict(width=4) if name.startswith("resnet") else dict(width=4, solver=FAST)


@pytest.mark.parametrize("name", ["dcn-ode", "odenet", "resnet-blocks"])
def test_output_is_28x28_and_decoder_owns_its_blocks(name):
    torch.manual_seed(0)
    net = build_reconstruction(name, **overrides(name))
    out = net(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 28, 28)
    enc = {id(p) for p in net.encoder.parameters()}
    dec = {id(p) for p in net.decoder.parameters()}
    assert enc and dec and not enc & dec
    assert not {id(m) for m in net.decoder.modules()} & {id(m) for m in net.encoder.modules()}
    assert type(net.decoder.blocks[0]) is type(net.encoder.blocks[2])
    assert [b.conv1.in_channels if hasattr(b, "conv1") else b.func.norm1.num_channels
            for b in net.decoder.blocks] == [16, 8]


def test_frozen_encoder_gets_no_gradient_and_decoder_does():
    net = build_reconstruction("dcn-ode", width=4, solver=dict(method="rk4", step_size=1.0))
    x = torch.rand(2, 3, 32, 32)
    reconstruction_loss(net(x), x).backward()
    assert all(p.grad is None for p in net.encoder.parameters())
    assert all(p.grad is not None for p in net.decoder.parameters())
    rows = net.nfe_report()
    assert [r["part"] for r in rows] == ["encoder"] * 3 + ["decoder"] * 2
    assert all(r["backward_nfe"] == 8 for r in rows if r["part"] == "decoder")  # adjoint rk4: 2 steps x 4
    assert all(r["backward_nfe"] == 0 for r in rows if r["part"] == "encoder")  # no gradient, no backward solve


def test_unfrozen_encoder_trains_too():
    net = build_reconstruction("resnet-blocks", width=4, freeze_encoder=False)
    x = torch.rand(1, 3, 32, 32)
    reconstruction_loss(net(x), x).backward()
    used = [net.encoder.stem, net.encoder.blocks, net.encoder.transitions]  # the head is not part of the encoder
    assert all(p.grad is not None for m in used for p in m.parameters())
    assert all(p.grad is None for p in net.encoder.head.parameters())


def test_loss_is_mse_against_the_centre_crop():
    images = torch.rand(3, 3, 32, 32)
    out = torch.rand(3, 3, 28, 28)
    expected = ((out - images[:, :, 2:30, 2:30]) ** 2).mean()
    torch.testing.assert_close(reconstruction_loss(out, images), expected)
    assert center_crop(images, (4, 6)).shape == (3, 3, 4, 6)
    torch.testing.assert_close(center_crop(images, (4, 6)), images[..., 14:18, 13:19])
    with pytest.raises(ValueError, match="crop"):
        center_crop(images, 40)
    with pytest.raises(ValueError, match="output"):
        reconstruction_loss(out[:, :1], images)


def test_config_round_trip_and_bad_encoders():
    net = build_reconstruction("odenet", width=4, solver=FAST)
    rebuilt = build_reconstruction(**json.loads(json.dumps(net.config)))
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == [(k, v.shape) for k, v in
                                                                       net.state_dict().items()]
    assert isinstance(rebuilt.decoder.blocks[1], ODEBlock) and rebuilt.decoder.blocks[1].solver.method == "rk4"
    with pytest.raises(ValueError, match="dcn-full"):
        build_reconstruction("dcn-full")
    with pytest.raises(ValueError, match="encoder"):
        ReconstructionNet(nn.Identity())
    trained = nd.build_model("dcn-ode", width=4, solver=FAST)
    assert build_reconstruction(trained).encoder is trained
    with pytest.raises(ValueError, match="overrides"):
        build_reconstruction(trained, width=8)


def test_decoder_upsamples_bilinearly_between_blocks():
    net = build_reconstruction("resnet-blocks", width=4)
    z = torch.rand(1, 16, 7, 7)
    h = net.decoder.blocks[0](F.interpolate(z, scale_factor=2, mode="bilinear", align_corners=False))
    h = net.decoder.blocks[1](net.decoder.reduce(F.interpolate(h, scale_factor=2, mode="bilinear")))
    expected = net.decoder.out(F.celu(net.decoder.norm(h)))
    torch.testing.assert_close(net.decoder(z), expected)
