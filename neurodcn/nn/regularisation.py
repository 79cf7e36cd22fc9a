"""Vector-field regularisation that keeps neural-ODE dynamics cheap to solve (Finlay et al. 2020, "How to train
your neural ODE").

Two integrals over a block's solve [0, T], per sample b:
    kinetic energy      K_b = int_0^T mean(f(t, h_b)^2) dt
    Jacobian norm       J_b = int_0^T mean((eps_b^T df/dh)^2) dt,   E_eps[J_b] = int_0^T ||df/dh||_F^2 / D dt
where the mean runs over the D = C*H*W elements of one sample's feature map (so the weights do not depend on the
map size) and eps_b is one Rademacher vector per sample, drawn once per solve (Hutchinson's estimator, one
vector-Jacobian product per evaluation). Both integrals ride along the solve as extra scalar states per sample,
so no second solve is needed. The solver's error control looks at h alone: steps are the same with or without
the regulariser.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch import nn

from neurodcn.validate import check_bool, check_type

__all__ = ["Regulariser", "regularised", "regularisation_terms"]


@dataclasses.dataclass(frozen=True)
class Regulariser:
    """Which integrals ride along a solve. generator: draws the Hutchinson vectors (None: torch's global RNG)."""

    kinetic: bool = False
    jacobian: bool = False
    generator: torch.Generator | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n in ("kinetic", "jacobian") if getattr(self, n))

    def initial_state(self, h0: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(h0, one zero per integral [B] ...)."""
        return (h0, *(h0.new_zeros(h0.shape[0]) for _ in self.names))

    def field(self, f, h0: torch.Tensor):
        """The augmented field (t, (h, K, J)) -> (f, mean f^2, mean (eps^T df/dh)^2) for the vector field f."""
        eps = None
        if self.jacobian:
            eps = torch.randint(0, 2, h0.shape, generator=self.generator, dtype=torch.int64,
                                device="cpu" if self.generator is None else self.generator.device)
            eps = (2 * eps - 1).to(device=h0.device, dtype=h0.dtype)
        kinetic = self.kinetic

        def augmented(t, state):
            h = state[0]
            with torch.enable_grad():
                if eps is not None and not h.requires_grad:
                    h = h.detach().requires_grad_(True)
                dh = f(t, h)
                out = [dh]
                if kinetic:
                    out.append(dh.pow(2).flatten(1).mean(1))
                if eps is not None:
                    (vjp,) = torch.autograd.grad(dh, h, eps, create_graph=True)
                    out.append(vjp.pow(2).flatten(1).mean(1))
            return tuple(out)

        return augmented

    @staticmethod
    def norm(state) -> torch.Tensor:
        """Error norm of the augmented state: RMS of h alone (torchdiffeq's default for a single tensor)."""
        return state[0].pow(2).mean().sqrt()


def _ode_blocks(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` that take a Regulariser (ODE blocks)."""
    return [m for m in model.modules() if hasattr(m, "regulariser")]


@contextlib.contextmanager
def regularised(model: nn.Module, kinetic: bool = True, jacobian: bool = False,
                generator: torch.Generator | None = None):
    """Within this scope every ODE block of ``model`` integrates the chosen terms along its solves (while
    gradients are enabled); read them with ``regularisation_terms(model)`` after the forward pass."""
    kinetic, jacobian = check_bool("kinetic", kinetic), check_bool("jacobian", jacobian)
    if generator is not None:
        check_type("generator", generator, torch.Generator, "a torch.Generator or None")
    blocks = _ode_blocks(model)
    reg = Regulariser(kinetic, jacobian, generator) if (kinetic or jacobian) else None
    for b in blocks:
        b.regulariser, b.regularisation = reg, {}
    try:
        yield blocks
    finally:
        for b in blocks:
            b.regulariser = None


def regularisation_terms(model: nn.Module) -> dict[str, torch.Tensor]:
    """The integrals of the last forward pass, summed over ODE blocks and averaged over the batch:
    {"kinetic": scalar tensor, "jacobian": scalar tensor} (only the terms that were integrated; differentiable)."""
    out: dict[str, torch.Tensor] = {}
    for b in _ode_blocks(model):
        for name, per_sample in getattr(b, "regularisation", {}).items():
            out[name] = out.get(name, 0.0) + per_sample.mean()
    return out

