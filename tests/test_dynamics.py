"""ODE vector field, SolverConfig, ODEBlock: against scipy, hand-written Eq. 2, solver identities, autograd."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.integrate import solve_ivp
from torch import nn

import neurodcn as nd
from neurodcn.nn.dynamics import ODEBlock, ODEFunc, SolverConfig, SolverError, solver_errors


def small_func(channels=4, seed=0, sigma_log2=0.0, **kw):
    """An ODEFunc in float64 with fixed scales (sigma = 2^sigma_log2 px: 7 x 7 kernels, the cached direct path)."""
    torch.manual_seed(seed)
    f = ODEFunc(channels, **kw).double()
    with torch.no_grad():
        for layer in f.srf_layers():
            layer.log2_sigma.fill_(sigma_log2)
        for norm in (f.norm1, f.norm2, f.norm3):  # non-trivial affine GN parameters
            norm.weight.normal_(1.0, 0.2)
            norm.bias.normal_(0.0, 0.2)
    return f


def h0_for(channels=4, size=5, batch=1, seed=1):
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


# ----------------------------------------------------------------------------------------------- vector field
@pytest.mark.parametrize("time_param", [None, "sigma_t"])
def test_concat_field_matches_eq2_written_out(time_param):
    f = small_func(time_param=time_param)
    h, t = h0_for(size=6, batch=2), torch.tensor(0.7, dtype=torch.float64)

    def layer(conv, x):
        w = conv.kernel(t)
        x = torch.cat([torch.full_like(x[:, :1], 0.7), x], 1)
        return F.conv2d(x, w, padding=w.shape[-1] // 2)

    def gn(norm, x):
        return F.group_norm(x, norm.num_groups, norm.weight, norm.bias, 1e-5)

    x = layer(f.conv1, F.celu(gn(f.norm1, h)))
    expected = gn(f.norm3, layer(f.conv2, F.celu(gn(f.norm2, x))))
    torch.testing.assert_close(f(t, h), expected, rtol=1e-12, atol=1e-12)


def test_offset_field_adds_per_channel_d_t():
    f = small_func(time_mode="offset")
    h, t = h0_for(size=6), torch.tensor(1.3, dtype=torch.float64)
    x = f.conv1(F.celu(f.norm1(h))) + 1.3 * f.offset1.view(1, -1, 1, 1)
    expected = f.norm3(f.conv2(F.celu(f.norm2(x))) + 1.3 * f.offset2.view(1, -1, 1, 1))
    torch.testing.assert_close(f(t, h), expected, rtol=1e-12, atol=1e-12)
    assert f.conv1.in_channels == 4  # no time channel in offset mode


def test_odenet_field_uses_relu_and_3x3_with_bias():
    f = ODEFunc(8, "conv", act="relu")
    assert isinstance(f.act, nn.ReLU) and f.conv1.weight.shape == (8, 9, 3, 3) and f.conv1.bias is not None
    assert f.norm1.num_groups == 8 and ODEFunc(64, "conv").norm1.num_groups == 32
    assert ODEFunc(8, gn_groups="channels").norm2.num_groups == 8 and isinstance(ODEFunc(8).act, nn.CELU)


# ----------------------------------------------------------------------------------------------- solver vs scipy
@pytest.mark.parametrize("kw", [dict(), dict(time_mode="offset"), dict(conv="conv", act="relu"),
                                dict(time_param="sigma_t2")])
def test_odeblock_matches_scipy_solve_ivp(kw):
    f = small_func(**kw).requires_grad_(False)
    h0 = h0_for()
    block = ODEBlock(f, dict(rtol=1e-6, atol=1e-6, T=2.0, adjoint=False))
    got = block(h0).numpy().ravel()

    def rhs(t, y):
        y = torch.from_numpy(y).view_as(h0)
        return f(torch.tensor(t, dtype=torch.float64), y).numpy().ravel()

    ref = solve_ivp(rhs, (0.0, 2.0), h0.numpy().ravel(), method="DOP853", rtol=1e-9, atol=1e-10).y[:, -1]
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) <= 1e-3
    assert block.nfe.forward_nfe > 0


# ----------------------------------------------------------------------------------------------- NFE accounting
def test_dopri5_nfe_identity_forward_and_adjoint_backward():
    f = small_func(channels=8)
    block = ODEBlock(f, dict(rtol=1e-5, atol=1e-5))
    block(h0_for(channels=8, size=6, batch=3)).pow(2).sum().backward()
    s = block.nfe
    assert s.accepted_steps > 0 and s.backward_accepted_steps > 0
    assert s.forward_nfe == 2 + 6 * (s.accepted_steps + s.rejected_steps)
    assert s.backward_nfe == 2 + 6 * (s.backward_accepted_steps + s.backward_rejected_steps)


def test_rk4_fixed_grid_counts_four_evaluations_per_step():
    block = ODEBlock(small_func(), dict(method="rk4", step_size=0.5, adjoint=False))
    block(h0_for())
    assert (block.nfe.forward_nfe, block.nfe.accepted_steps, block.nfe.backward_nfe) == (16, 4, 0)


def test_nfe_resets_each_pass_and_backward_never_leaks_into_a_later_pass():
    block = ODEBlock(small_func(), dict(rtol=1e-4, atol=1e-4))
    x = h0_for(size=6, batch=2)
    loss = block(x).sum()
    train = block.nfe
    with torch.no_grad():
        block(x)  # an evaluation pass between forward and backward
    evaluation = block.nfe
    assert evaluation is not train and evaluation.forward_nfe == train.forward_nfe
    loss.backward()
    assert evaluation.backward_nfe == 0 and train.backward_nfe > 0
    block(x)
    assert block.nfe.forward_nfe == train.forward_nfe and block.nfe.backward_nfe == 0
    block.reset_nfe()
    assert block.nfe.total_nfe == 0


def test_seminorm_needs_fewer_backward_evaluations():
    counts = {}
    for semi in (False, True):
        block = ODEBlock(small_func(channels=8), dict(rtol=1e-5, atol=1e-5, seminorm=semi))
        block(h0_for(channels=8, size=8, batch=4)).pow(2).sum().backward()
        counts[semi] = block.nfe.backward_nfe
    assert counts[True] < counts[False]


# ----------------------------------------------------------------------------------------------- trajectory
def test_trajectory_end_equals_forward_and_starts_at_h0():
    block = ODEBlock(small_func(), dict(adjoint=False))
    h0 = h0_for()
    torch.testing.assert_close(block.trajectory(h0, [0.0, 2.0])[-1], block(h0), rtol=0, atol=1e-12)
    traj = block.trajectory(h0, [0.0, 0.5, 1.0, 2.0])
    assert traj.shape == (4, *h0.shape)
    torch.testing.assert_close(traj[0], h0)
    torch.testing.assert_close(traj[-1], block(h0), rtol=1e-10, atol=1e-10)
    late = block.trajectory(h0, [1.0, 2.0])  # 0 is added to the grid and dropped again
    torch.testing.assert_close(late, traj[2:], rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="times"):
        block.trajectory(h0, [1.0, 0.5])


# ----------------------------------------------------------------------------------------------- gradients, caching
def _grads(block, x):
    block.zero_grad()
    x = x.clone().requires_grad_(True)
    block(x).pow(2).sum().backward()
    return [x.grad.clone()] + [p.grad.clone() for p in block.func.parameters()]


def test_adjoint_and_direct_gradients_agree_and_converge():
    """On one fixed rk4 grid, the adjoint gradient differs from backprop through the solver by O(step^4): tiny
    and shrinking with the step (order >= 2 seen: CELU's second-derivative kink keeps it under rk4's nominal 16x
    per halving). Adaptive steps are avoided: with them the adjoint's own error control is the limit."""
    f = small_func()
    x = h0_for(size=4, batch=1)
    errors = []
    for step in (0.02, 0.01):
        cfg = dict(method="rk4", step_size=step, T=1.0)
        direct = _grads(ODEBlock(f, dict(cfg, adjoint=False)), x)
        adjoint = _grads(ODEBlock(f, dict(cfg, adjoint=True)), x)
        errors.append(max(((a - d).norm() / d.norm()).item() for a, d in zip(adjoint, direct, strict=True)))
    assert errors[1] < 1e-6 and errors[0] / errors[1] > 4


@pytest.mark.parametrize("adjoint", [False, True])
def test_kernel_cache_gives_same_gradients_and_builds_once_per_solve(adjoint, monkeypatch):
    f = small_func()
    x = h0_for(size=6, batch=2)
    builds = []
    for layer in f.srf_layers():
        original = layer.kernel
        monkeypatch.setattr(layer, "kernel", lambda t=None, _k=original: builds.append(1) or _k(t))
    result = {}
    for cache in (False, True):
        builds.clear()
        block = ODEBlock(f, dict(rtol=1e-4, atol=1e-4, adjoint=adjoint), cache_kernels=cache)
        result[cache] = _grads(block, x)
        solves = 2 if adjoint else 1
        evaluations = block.nfe.total_nfe
        assert len(builds) == (2 * solves if cache else 2 * evaluations)
        assert all(layer._cache is None for layer in f.srf_layers())  # no scope left open
    for c, n in zip(result[True], result[False], strict=True):
        torch.testing.assert_close(c, n, rtol=1e-12, atol=1e-14)
    assert result[True][2].abs().sum() > 0  # alpha of conv1 gets a gradient


# ----------------------------------------------------------------------------------------------- config, errors
def test_solver_config_defaults_and_json_round_trip():
    cfg = SolverConfig()
    assert (cfg.method, cfg.rtol, cfg.atol, cfg.T) == ("dopri5", 1e-3, 1e-3, 2.0)
    assert cfg.adjoint and not cfg.seminorm
    other = SolverConfig(method="rk4", step_size=0.25, adjoint=False, T=1)
    for c in (cfg, other, SolverConfig(seminorm=True, max_num_steps=50)):
        assert SolverConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert nd.SolverConfig is SolverConfig and nd.ODEBlock is ODEBlock


@pytest.mark.parametrize("field, value", [("method", "rk45"), ("rtol", 0.0), ("atol", -1e-3), ("T", float("inf")),
                                          ("adjoint", 1), ("max_num_steps", 0), ("step_size", 0.1),
                                          ("seminorm", "yes")])
def test_bad_solver_fields_raise_value_error_naming_them(field, value):
    with pytest.raises(ValueError, match=field):
        SolverConfig(**{field: value})


def test_solver_config_cross_field_rules():
    with pytest.raises(ValueError, match="step_size"):
        SolverConfig(method="rk4")
    with pytest.raises(ValueError, match="seminorm"):
        SolverConfig(seminorm=True, adjoint=False)
    with pytest.raises(ValueError, match="bogus"):
        SolverConfig.from_dict({"bogus": 1})


class Blowup(nn.Module):
    def forward(self, t, h):  # dh/dt = h^2: h(t) = h0 / (1 - h0 t) diverges at t = 1/h0
        return h * h


def test_solver_failures_raise_solver_error():
    block = ODEBlock(Blowup(), dict(adjoint=False, T=2.0))
    with pytest.raises(SolverError):
        block(torch.ones(1, 1, 1, 1, dtype=torch.float64))
    capped = ODEBlock(small_func(), dict(rtol=1e-9, atol=1e-9, max_num_steps=2, adjoint=False))
    with pytest.raises(SolverError, match="max_num_steps"):
        capped(h0_for())
    with pytest.raises(AssertionError), solver_errors():  # other assertions pass through unchanged
        raise AssertionError("unrelated")
