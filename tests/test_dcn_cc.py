"""dcn-cc: parameter count by hand, Eq. 4 map sizes, gradients, a few SGD steps, and the virtual cortex on it."""

import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

import neurodcn as nd
from neurodcn.cortex.geometry import MapGeometry
from neurodcn.nn.dcn_cc import GradualDownsample
from neurodcn.nn.grid import projected_grid

EULER = {"method": "euler", "step_size": 1.0, "adjoint": False}


def _ode_func(d):  # the reference implementation's DCN ODE function of width d
    return 6 * d + 12 * d * (d + 1) + 2


def _transition(c, steps=3):  # GN(c), CC c -> 2c, then (GN(2c), CC 2c -> 2c) per further step
    first = 2 * c + (6 * c * 2 * c + 1 + 2 * c)  # N-jet order 2: 6 alphas per pair, one log2 sigma, a bias
    rest = 4 * c + (6 * 2 * c * 2 * c + 1 + 2 * c)
    return first + (steps - 1) * rest


def test_parameter_count_by_hand():
    w = 4
    stem = 3 * w * 9 + w
    head = 2 * 4 * w + 4 * w * 10 + 10
    expected = stem + sum(_ode_func(d) for d in (w, 2 * w, 4 * w)) + _transition(w) + _transition(2 * w) + head
    assert expected == 9854  # worked out on paper: 112 + 4542 + 1027 + 3971 + 202
    model = nd.build_model("dcn-cc", width=w, seed=0)
    assert sum(p.numel() for p in model.parameters()) == expected
    two = nd.build_model("dcn-cc", width=w, scales=[0.75, 2 / 3], seed=0)
    assert sum(p.numel() for p in two.parameters()) == expected - (_transition(w) - _transition(w, 2)) \
        - (_transition(2 * w) - _transition(2 * w, 2))


def test_registered_config_round_trip_and_structure():
    assert "dcn-cc" in nd.list_models()
    model = nd.build_model("dcn-cc", width=4, seed=3, solver=EULER)
    again = nd.build_model(**model.config)
    assert again.config == model.config
    assert [type(b).__name__ for b in model.blocks] == ["ODEBlock"] * 3
    assert all(isinstance(t, GradualDownsample) for t in model.transitions) and len(model.transitions) == 2
    seeded = nd.build_model("dcn-cc", width=4, seed=3, solver=EULER)
    for a, b in zip(model.state_dict().values(), seeded.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def _sizes(n, scales):
    """Eq. 4 by hand with exact fractions: ceil(n * s_1 ... s_j)."""
    out, cum = [], Fraction(1)
    for s in scales:
        cum *= s
        out.append(math.ceil(n * cum))
    return out


RATIONAL = [Fraction(4, 5), Fraction(5, 6), Fraction(3, 4)]


@pytest.mark.parametrize("scales, sizes", [
    (RATIONAL, _sizes(30, RATIONAL) + _sizes(15, RATIONAL)),
    # 30 * 2^(-1/3) = 23.8, 30 * 2^(-2/3) = 18.9, 30 / 2 = 15; 15 * 2^(-1/3) = 11.9, 15 * 2^(-2/3) = 9.4, 7.5
    ([2 ** (-1 / 3)] * 3, [24, 19, 15, 12, 10, 8]),
])
def test_step_sizes_follow_eq4(scales, sizes):
    assert sizes[:3] != [24, 20, 16]  # rounding up at every step would give 16, not 15
    model = nd.build_model("dcn-cc", width=4, scales=[float(s) for s in scales], seed=0, solver=EULER)
    model.min_input_size()  # its probe passes (once per model) would otherwise reach the hooks too
    seen = []
    hooks = [c.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape))) for t in model.transitions
             for c in t.convs]
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert model(x).shape == (2, 10)
    for h in hooks:
        h.remove()
    assert seen == [(2, c, n, n) for c, n in zip([8, 8, 8, 16, 16, 16], sizes, strict=True)]
    assert model.features(x, upto=2).shape == (2, 16, 8, 8)


def test_gradients_reach_every_parameter():
    model = nd.build_model("dcn-cc", width=4, seed=1, solver=EULER)
    x = torch.rand(3, 3, 20, 20, generator=torch.Generator().manual_seed(2))
    F.cross_entropy(model(x), torch.tensor([0, 1, 2])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for t in model.transitions:
        for conv in t.convs:
            assert conv.kernel.alpha.grad.abs().sum() > 0 and conv.kernel.log2_sigma.grad != 0


@pytest.mark.slow
def test_sgd_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = nd.build_model("dcn-cc", width=4, seed=0, solver=EULER)
    x = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    y = torch.arange(8) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(b < a for a, b in zip(losses[:-1], losses[1:], strict=True)), losses  # every step lowers it
    assert losses[-1] < 0.95 * losses[0], losses


def test_invalid_options_name_the_argument():
    with pytest.raises(ValueError, match="scales"):
        nd.build_model("dcn-cc", scales=[])
    with pytest.raises(ValueError, match="scales"):
        nd.build_model("dcn-cc", scales=[0.5, -1.0])
    with pytest.raises(ValueError, match="cc_support"):
        nd.build_model("dcn-cc", cc_support=0)
    with pytest.raises(ValueError, match="cc_padding"):
        nd.build_model("dcn-cc", cc_padding="wrap")
    with pytest.raises(ValueError, match="does not take"):
        nd.build_model("dcn-cc", stride=2)


def test_resample_geometry_matches_eq2_by_hand():
    # 30 px at stride 1, offset 1 (after the 3x3 valid stem), scale 1/2 to 15 px: g_0 = 14.5 - 14 / 1 = 0.5
    g = MapGeometry(4, 30, 30, 1.0, 1.0, 1.0).resample(8, Fraction(1, 2), (15, 15))
    assert g == MapGeometry(8, 15, 15, 2.0, 1.5, 1.5)
    # three steps compose to the single step of their product (the grids are affine in n)
    h = MapGeometry(4, 30, 30, 1.0, 1.0, 1.0)
    for s, n in zip((Fraction(4, 5), Fraction(5, 6), Fraction(3, 4)), (24, 20, 15), strict=True):
        h = h.resample(8, s, (n, n))
    assert h.stride == g.stride and h.offset_y == pytest.approx(g.offset_y, abs=1e-12)
    # pixel n of the output sits where projected_grid says, in input pixels
    rows = g.stride * torch.arange(15, dtype=torch.float64) + g.offset_y
    assert torch.allclose(rows, 1.0 + projected_grid(30, 15, 0.5), atol=1e-12)


def test_virtual_cortex_records_and_reads_receptive_fields():
    model = nd.build_model("dcn-cc", width=4, seed=0, solver=EULER)
    vc = nd.VirtualCortex(model, image_size=32, progress=False)
    assert [(g.height, g.stride) for g in vc.geometry] == [(30, 1.0), (15, 2.0), (8, 4.0)]
    assert vc.geometry[2].offset_x == 1.5  # 8 map pixels at 1.5, 5.5, ..., 29.5: centred on the image (15.5)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    ds = vc.record(images, times=[0.0, 1.0, 2.0])
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(ds["block3"]["h"].values[:, -1]), model.features(images), atol=1e-5)
    assert ds["block3"]["x_deg"].values.tolist() == pytest.approx([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
    rf = vc.receptive_fields()
    assert rf["map_stride_px"].values.tolist() == [1.0, 1.0, 2.0, 2.0, 4.0, 4.0]


def test_scale_sequence_runs_another_step_order_and_restores_the_trained_one():
    from neurodcn.nn.dcn_cc import scale_sequence, step_orders

    model = nd.build_model("dcn-cc", width=4, seed=0, solver=EULER).eval()
    model.min_input_size()
    orders = step_orders(model)
    assert orders[0] == tuple(RATIONAL) and len(orders) == 6 and len(set(orders)) == 6  # 3! distinct orders
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        trained = model(x)
        with scale_sequence(model, list(RATIONAL)):  # the trained order: the same pass
            assert torch.equal(model(x), trained)
        seen = []
        hooks = [c.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1])) for c in model.transitions[0].convs]
        with scale_sequence(model, [0.75, 0.8, 5 / 6]):
            other = model(x)
        for h in hooks:
            h.remove()
    # Eq. 4 by hand from 30 px: ceil(30 * 3/4) = 23, ceil(30 * 3/5) = 18, ceil(30 / 2) = 15
    assert seen == [23, 18, 15] and not torch.allclose(other, trained)
    assert [t.scales for t in model.transitions] == [tuple(RATIONAL)] * 2  # restored on exit
    with pytest.raises(RuntimeError), scale_sequence(model, [0.75, 0.8, 5 / 6]):
        raise RuntimeError("inside")
    assert model.transitions[1].scales == tuple(RATIONAL)  # restored after an error too
    with pytest.raises(ValueError, match="one scale per step"):
        with scale_sequence(model, [0.5]):
            pass
    with pytest.raises(ValueError, match="GradualDownsample"):
        with scale_sequence(nd.build_model("dcn-ode", width=4, seed=0), [0.5]):
            pass
