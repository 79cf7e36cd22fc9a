"""CC-Net and ConvNet of the CC paper (Table 3), scale augmentation (Appendix A, Eq. 4), scale ensembles."""

from fractions import Fraction as Fr

import pytest
import torch

from neurodcn.nn.ccnet import CCNet, ConvNet, sample_scales
from neurodcn.nn.grid import sequence_sizes

# Table 4, augmentation example 1 of the CC paper: per-layer scales [H, W] and output shapes from a 32 x 32 input
TABLE4_SCALES = [(Fr(1), Fr(1)), (Fr(5, 6), Fr(7, 9)), (Fr(5, 6), Fr(4, 5)), (Fr(8, 9), Fr(5, 6)),
                 (Fr(189, 250), Fr(3, 4)), (Fr(6, 7), Fr(6, 7)), (Fr(5, 6), Fr(7, 8)), (Fr(3, 4), Fr(6, 7))]
TABLE4_SHAPES = [(32, 32), (27, 25), (23, 20), (20, 17), (15, 13), (13, 11), (11, 10), (8, 8)]


def test_eq4_reproduces_table4():
    assert sequence_sizes(32, TABLE4_SCALES) == TABLE4_SHAPES


def test_sampled_scales_follow_appendix_a():
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        scales = sample_scales(generator=gen)
        assert len(scales) == 8 and scales[0] == (1, 1)
        for axis in (0, 1):
            seq = [s[axis] for s in scales[1:]]
            prod = Fr(1)
            for s in seq:
                prod *= s
            assert prod == Fr(1, 4)  # exactly
            assert sum(s.denominator > 10 for s in seq) <= 1  # all but the fixed layer are rounded
            assert all(0.7 < s < 1.0 for s in seq if s.denominator <= 10)  # N(0.82, 0.01), rounded


def test_sampling_is_seeded():
    a = sample_scales(generator=torch.Generator().manual_seed(1))
    b = sample_scales(generator=torch.Generator().manual_seed(1))
    c = sample_scales(generator=torch.Generator().manual_seed(2))
    assert a == b and a != c


def small_ccnet(**kw):
    torch.manual_seed(0)
    return CCNet(channels=(4, 4, 8, 8, 8, 8, 8, 8), fc=(16, 16), input_size=16, **kw)


def test_ccnet_shapes_and_gradients():
    net = small_ccnet()
    x = torch.randn(2, 3, 16, 16)
    net.train()
    out = net(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.eval()
    assert net.features(x).shape == (2, 8, 4, 4)
    torch.testing.assert_close(net(x), net(x, net.default_scales()))  # eval: deterministic default scales


def test_default_scales_multiply_to_target():
    scales = small_ccnet().default_scales()
    prod = Fr(1)
    for sy, _ in scales:
        prod *= sy
    assert prod == Fr(1, 4) and scales[1][0] == Fr(5, 6)  # round(0.25^(1/7) = 0.820) with denominator <= 10


def test_scale_ensemble_is_mean_of_members():
    net = small_ccnet().eval()
    x = torch.randn(2, 3, 16, 16)
    gen = torch.Generator().manual_seed(5)
    members = [net(x, net.sample_scales(gen)) for _ in range(3)]
    torch.testing.assert_close(net.scale_ensemble(x, k=3, seed=5), torch.stack(members).mean(0))


def test_convnet_matches_table3():
    net = ConvNet()
    convs = [m for m in net.convs if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64, 64, 64, 64, 64]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 1, 1, 1, 1, 2]
    assert net.features(torch.randn(1, 3, 32, 32)).shape == (1, 64, 8, 8)
    fcs = [m for m in net.head if isinstance(m, torch.nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(4096, 512), (512, 512), (512, 10)]


def test_registered_and_rebuilt_from_config():
    from neurodcn.nn.zoo import build_model, list_models
    assert {"ccnet", "convnet"} <= set(list_models())
    net = build_model("convnet", fc=[8, 8])
    again = build_model(**net.config)
    assert again.config == net.config


def test_validation():
    with pytest.raises(ValueError, match="target_scale"):
        CCNet(input_size=30)
    with pytest.raises(ValueError, match="scales"):
        small_ccnet()(torch.randn(1, 3, 16, 16), scales=[(1, 1)])
    with pytest.raises(ValueError, match="k"):
        small_ccnet().scale_ensemble(torch.randn(1, 3, 16, 16), k=0)


def test_augmentation_is_keyed_by_the_step_counter_and_resumes_bit_identically():
    """A run continued from a saved state dict draws the same scale sequences as an uninterrupted one."""
    net = small_ccnet().train()
    expected = [sample_scales(generator=net.step_generator(n)) for n in range(3)]
    x = torch.randn(2, 3, 16, 16)
    first = net(x)
    assert int(net.augment_step) == 1
    state = {k: v.clone() for k, v in net.state_dict().items()}
    straight = [net(x) for _ in range(2)]
    resumed = small_ccnet().train()
    resumed.load_state_dict(state)
    assert int(resumed.augment_step) == 1
    for a, b in zip(straight, [resumed(x) for _ in range(2)], strict=True):
        assert torch.equal(a, b)
    torch.testing.assert_close(first, small_ccnet().train()(x, expected[0]))  # step 0 drew sequence 0
    assert int(net.augment_step) == 3 and expected[1] != expected[2]
    net.eval()
    net(x)
    assert int(net.augment_step) == 3  # evaluation draws nothing


def test_state_dict_without_step_counter_loads():
    """Checkpoints written before the augment_step buffer existed load strictly, with the counter at 0."""
    net = small_ccnet()
    old = {k: v for k, v in net.state_dict().items() if k != "augment_step"}
    fresh = small_ccnet()
    fresh.augment_step += 5
    fresh.load_state_dict(old)
    assert int(fresh.augment_step) == 0


def test_seed_fixes_the_initialisation():
    """neurodcn train passes seed to every zoo model: ConvNet and CC-Net initialise from it alone."""
    from neurodcn.nn.zoo import build_model
    for name in ("convnet", "ccnet"):
        torch.manual_seed(1)
        a = build_model(name, seed=3)
        torch.manual_seed(2)
        b = build_model(name, seed=3)
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert "seed" not in ConvNet().config and ConvNet(seed=3).config["seed"] == 3


def test_he_init_keeps_the_mean_square_activation():
    """He et al. (2015): with weight variance 2 / fan_in, a ReLU layer keeps E[x^2] of its input on average
    (for any input). Over a 64 -> 512 -> 512 stack of 256 random draws the ratio stays near 1, whereas
    PyTorch's default init (variance 1 / (3 fan_in)) divides it by 6 per layer."""
    from neurodcn.nn.ccnet import he_init

    torch.manual_seed(0)
    x = torch.randn(256, 64)
    with torch.no_grad():
        for f in (512, 512):
            layer = torch.nn.Linear(x.shape[1], f)
            he_init(layer)
            y = torch.relu(layer(x))
            assert float(y.pow(2).mean() / x.pow(2).mean()) == pytest.approx(1.0, rel=0.15)
            x = y
        # the whole ConvNet: 8 ReLU convs keep the input's mean square within a factor 4 (default init: 6^-8)
        x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        ratio = float(ConvNet(seed=0).features(x).pow(2).mean() / x.pow(2).mean())
    assert 0.25 < ratio < 4
