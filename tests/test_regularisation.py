"""Kinetic and Jacobian regularisation integrals against the closed forms of a linear field f(t, h) = A h."""

import math

import pytest
import torch
from torch import nn

import neurodcn as nd
from neurodcn.nn.regularisation import regularisation_terms, regularised


class Linear(nn.Module):
    def __init__(self, A: torch.Tensor):
        super().__init__()
        self.A = nn.Parameter(A.clone())

    def forward(self, t, h):
        return h @ self.A.T


def _block(A, **solver):
    cfg = {**dict(method="dopri5", rtol=1e-9, atol=1e-9, T=1.5, adjoint=False), **solver}
    return nd.ODEBlock(Linear(A), solver=nd.SolverConfig(**cfg)).double()


def _kinetic_closed_form(a: torch.Tensor, h0: torch.Tensor, T: float) -> torch.Tensor:
    """int_0^T mean_i (a_i h_i(t))^2 dt with h_i(t) = h0_i exp(a_i t), per sample."""
    return (a**2 * h0**2 * torch.expm1(2 * a * T) / (2 * a)).mean(1)


def test_kinetic_integral_matches_closed_form_and_its_gradient():
    a = torch.tensor([-1.0, -0.3, 0.4, 0.8], dtype=torch.float64)
    h0 = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    block = _block(torch.diag(a))
    with regularised(block, kinetic=True):
        block(h0)
    K = block.regularisation["kinetic"]
    torch.testing.assert_close(K, _kinetic_closed_form(a, h0, 1.5), rtol=1e-6, atol=0)
    (grad,) = torch.autograd.grad(regularisation_terms(block)["kinetic"], block.func.A)
    a_ref = a.clone().requires_grad_(True)
    (grad_ref,) = torch.autograd.grad(_kinetic_closed_form(a_ref, h0, 1.5).mean(), a_ref)
    torch.testing.assert_close(torch.diagonal(grad), grad_ref, rtol=1e-5, atol=1e-9)


def test_jacobian_integral_is_exact_for_diagonal_fields_and_unbiased_otherwise():
    a = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    h0 = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    block = _block(torch.diag(a))
    with regularised(block, kinetic=False, jacobian=True, generator=torch.Generator().manual_seed(2)):
        block(h0)
    # Rademacher eps: (eps^T diag(a))_i^2 = a_i^2 exactly, so J = T ||A||_F^2 / D for every sample
    torch.testing.assert_close(block.regularisation["jacobian"], torch.full((3,), 1.5 * float((a**2).mean()),
                                                                            dtype=torch.float64))
    A = torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 0.3
    block = _block(A, T=1.0)
    h0 = torch.randn(4000, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    with regularised(block, jacobian=True, kinetic=False, generator=torch.Generator().manual_seed(5)):
        block(h0)
    J = block.regularisation["jacobian"]
    expected = float((A**2).sum()) / 6  # E[(eps^T A)^2 summed over i] = ||A||_F^2, averaged over D = 6
    J = J.detach()
    assert abs(float(J.mean()) - expected) < 4 * float(J.std()) / math.sqrt(len(J))


def test_regulariser_leaves_the_solution_and_the_steps_unchanged():
    A = torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(6)) * 0.5
    h0 = torch.randn(8, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    block = _block(A, rtol=1e-4, atol=1e-4)
    plain = block(h0)
    steps = block.nfe.as_dict()
    with regularised(block, kinetic=True, jacobian=True):
        reg = block(h0)
    torch.testing.assert_close(reg, plain, rtol=0, atol=0)
    assert block.nfe.as_dict() == steps
    with torch.no_grad(), regularised(block, kinetic=True):  # no gradient: nothing is integrated
        block.regularisation = {}
        block(h0)
    assert block.regularisation == {}


@pytest.mark.parametrize("kw", [dict(kinetic=1), dict(jacobian="yes"), dict(generator=3)])
def test_regularised_rejects_bad_arguments(kw):
    with pytest.raises(TypeError, match=next(iter(kw))):
        with regularised(_block(torch.eye(2)), **kw):
            pass


def test_integrals_ride_along_a_real_dcn_solve_as_the_solver_steps_them():
    """Explicit Euler, step 0.5 over [0, 2]: K = sum_k 0.5 mean(f(t_k, h_k)^2) with h_{k+1} = h_k + 0.5 f."""
    model = nd.build_model("dcn-ode", width=4, seed=0, solver=dict(method="euler", step_size=0.5, adjoint=False))
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with regularised(model, kinetic=True):
        model(x)
    block = model.blocks[0]
    h = model.stem(x)
    expected = torch.zeros(3)
    with torch.no_grad():
        for k in range(4):
            f = block.func(torch.tensor(0.5 * k), h)
            expected += 0.5 * f.pow(2).flatten(1).mean(1)
            h = h + 0.5 * f
    torch.testing.assert_close(block.regularisation["kinetic"].detach(), expected, rtol=1e-5, atol=1e-7)
    terms = regularisation_terms(model)
    total = sum(float(b.regularisation["kinetic"].mean()) for _, b in model.ode_blocks())
    assert float(terms["kinetic"]) == pytest.approx(total, rel=1e-6)
