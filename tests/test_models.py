"""Model zoo: exact parameter counts (DCN paper / reference code), config round-trip, structure, registry."""

import json

import pytest
import torch
from torch import nn

import neurodcn as nd
from neurodcn.nn.classifier import Classifier
from neurodcn.nn.dynamics import ODEBlock
from neurodcn.nn.srf import SRFConv2d

PARAMETER_COUNTS = {  # exact counts of the reference implementation, CIFAR-10 defaults
    "dcn-ode": 428_752,
    "dcn-full": 325_843,
    "dcn-sigma-ji": 472_202,
    "odenet": 559_562,
    "resnet-blocks": 554_634,
    "resnet-srf-blocks": 425_616,
    "resnet-srf-full": 322_707,
    "dcn-sigma-t": 428_758,
    "dcn-sigma-t2": 428_764,
    "dcn-sigma-alpha-t": 689_494,
}
FAST = dict(method="rk4", step_size=1.0, adjoint=False)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(PARAMETER_COUNTS))
def test_default_parameter_counts_are_exact(name):
    assert n_params(nd.build_model(name)) == PARAMETER_COUNTS[name]


def test_block_parameter_formulas():
    """DCN ODE function of width d: 6d + 12 d (d + 1) + 2 (reference code); offset time: the time channel's
    6 d weights per layer become d offsets."""
    m = nd.build_model("dcn-ode")
    assert [n_params(b) for b in m.blocks] == [12_866, 50_306, 198_914]
    offset = nd.build_model("dcn-ode", time_mode="offset")
    assert n_params(offset) == 428_752 - 2 * 5 * (32 + 64 + 128)


def test_list_models_has_all_ten_and_unknown_names_are_listed():
    assert set(PARAMETER_COUNTS) <= set(nd.list_models())
    with pytest.raises(ValueError, match=r"name must be one of \[.*'dcn-ode'.*\], got 'dcn-odee'"):
        nd.build_model("dcn-odee")
    with pytest.raises(ValueError, match="solver"):
        nd.build_model("resnet-blocks", solver={})  # no ODE blocks: option refused by name
    with pytest.raises(ValueError, match="width"):
        nd.build_model("dcn-ode", width=0)


@pytest.mark.parametrize("name", list(PARAMETER_COUNTS))
def test_config_round_trips_through_json(name):
    model = nd.build_model(name, width=4, num_classes=7, seed=3)
    config = json.loads(json.dumps(model.config))
    assert config["name"] == name
    rebuilt = nd.build_model(**config)
    assert rebuilt.config == model.config
    a, b = model.state_dict(), rebuilt.state_dict()
    assert list(a) == list(b)
    for k in a:  # same seed: the same initial weights
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


@pytest.mark.parametrize("name, sizes", [("dcn-ode", [30, 15, 7]), ("dcn-full", [32, 16, 8]),
                                         ("resnet-srf-full", [32, 16, 8]), ("odenet", [30, 15, 7])])
def test_pieces_compose_to_forward_with_paper_map_sizes(name, sizes):
    torch.manual_seed(0)
    overrides = dict(width=4) if name.startswith("resnet") else dict(width=4, solver=FAST)
    m = nd.build_model(name, **overrides)
    assert len(m.blocks) == 3 and len(m.transitions) == 2
    x = torch.rand(2, 3, 32, 32)
    h = m.stem(x)
    for i, block in enumerate(m.blocks):
        h = block(h if i == 0 else m.transitions[i - 1](h))
        assert h.shape == (2, 4 * 2**i, sizes[i], sizes[i])
        torch.testing.assert_close(m.features(x, upto=i), h)
    logits = m.head(h)
    assert logits.shape == (2, 10)
    torch.testing.assert_close(m(x), logits)


def test_architecture_choices():
    full = nd.build_model("dcn-full")
    assert isinstance(full.stem, SRFConv2d) and isinstance(full.transitions[0][2], SRFConv2d)
    assert all(g.num_groups == g.num_channels for g in full.modules() if isinstance(g, nn.GroupNorm))
    ode = nd.build_model("dcn-ode")
    assert isinstance(ode.stem, nn.Conv2d) and ode.stem.padding == (0, 0) and ode.stem.bias is not None
    assert {g.num_groups for g in ode.modules() if isinstance(g, nn.GroupNorm)} == {32}
    assert isinstance(ode.blocks[0].func.act, nn.CELU) and isinstance(ode.head[1], nn.CELU)
    odenet = nd.build_model("odenet")
    assert isinstance(odenet.blocks[1].func.act, nn.ReLU) and odenet.blocks[1].func.conv1.bias is not None
    pair = nd.build_model("dcn-sigma-ji").blocks[0].func.conv1
    assert pair.sigma_mode == "per_pair" and pair.kernel(None).shape[-1] == 7
    assert nd.build_model("dcn-sigma-t2").blocks[2].func.conv2.time_param == "sigma_t2"
    res = nd.build_model("resnet-srf-blocks")
    assert not res.ode_blocks() and res.nfe_report() == [] and isinstance(res.blocks[0].conv1, SRFConv2d)
    assert nd.build_model("dcn-ode", order=1).blocks[0].func.conv1.alpha.shape[0] == 3  # (N+1)(N+2)/2
    assert nd.build_model("dcn-ode", sigma_range=(0.1, 2.0)).blocks[0].func.conv1.sigma_range == (0.1, 2.0)


def test_solver_override_and_nfe_report_reset():
    m = nd.build_model("dcn-sigma-alpha-t", width=4, solver=FAST)
    assert all(b.solver == nd.SolverConfig(**FAST) for b in m.blocks)
    m(torch.rand(1, 3, 16, 16))
    report = m.nfe_report()
    assert [r["block"] for r in report] == [1, 2, 3]
    assert all(r["forward_nfe"] == 8 and r["accepted_steps"] == 2 for r in report)  # rk4: 2 steps x 4 stages
    assert m.total_nfe().forward_nfe == 24
    m.reset_nfe()
    assert all(r["total_nfe"] == 0 for r in m.nfe_report())
    m.set_solver(dict(method="euler", step_size=0.5, adjoint=False))
    m(torch.rand(1, 3, 16, 16))
    assert m.total_nfe().forward_nfe == 12 and m.config["solver"]["method"] == "euler"


def test_dcn_trains_one_step_with_the_default_adaptive_adjoint_solver():
    m = nd.build_model("dcn-ode", width=4, seed=0)
    assert isinstance(m.blocks[0], ODEBlock) and m.blocks[0].solver.adjoint
    x, y = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    nn.functional.cross_entropy(m(x), y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    for r in m.nfe_report():
        assert r["forward_nfe"] == 2 + 6 * (r["accepted_steps"] + r["rejected_steps"]) and r["backward_nfe"] > 0


def test_register_model():
    def builder(**overrides):
        stem, head = nn.Identity(), nn.Sequential(nn.Flatten(), nn.LazyLinear(2))
        return Classifier(stem, [nn.Identity()], [], head, dict(name="tiny-test-model", **overrides))

    nd.register_model("tiny-test-model", builder)
    try:
        assert "tiny-test-model" in nd.list_models()
        assert nd.build_model("tiny-test-model", extra=1).config == {"name": "tiny-test-model", "extra": 1}
        with pytest.raises(ValueError, match="already registered"):
            nd.register_model("tiny-test-model", builder)
    finally:
        from neurodcn.nn import zoo
        zoo._REGISTRY.pop("tiny-test-model")


def test_width_that_groupnorm_cannot_split_is_refused_clearly():
    # stage 3 of width 12 has 48 channels: min(32, 48) = 32 groups do not divide 48
    with pytest.raises(ValueError, match="channels=48 cannot form"):
        nd.build_model("dcn-ode", width=12)
