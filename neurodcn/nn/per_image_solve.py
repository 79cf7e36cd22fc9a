"""Adaptive ODE solves in which every image keeps its own steps, inside one batched call (torchode).

An adaptive solver run on a batch with torchdiffeq takes one step sequence for the whole batch, so an image's
h(t), NFE and solver states depend on the other images in its batch. Here each image has its own step size, its
own accept/reject decisions (error norm: RMS over that image's elements), its own dense output at the requested
times and its own status, while the vector field is evaluated on the whole batch at once. The field is called
as f(t, h) with t of shape [B, 1, 1, 1] (each image at its own time), which ODEFunc's "concat" and "offset" time
modes accept.
"""

from __future__ import annotations

import dataclasses

import torch
import torchode

from neurodcn.validate import check_choice, check_increasing, check_int, check_real

__all__ = ["PerImageSolution", "solve_per_image", "METHODS", "STATUS_NAMES"]

METHODS = {"dopri5": torchode.Dopri5, "tsit5": torchode.Tsit5}
"""Adaptive methods with per-image steps: name -> torchode stepper. Both are 7-stage first-same-as-last
methods: 6 new evaluations per step attempt."""
STAGES = 6

STATUS_NAMES = {0: "ok", 1: "non_finite", 2: "dt_underflow", 3: "max_num_steps", 4: "non_finite"}
"""torchode status code -> the virtual cortex's failure name (general errors come from non-finite values)."""


@dataclasses.dataclass(frozen=True)
class PerImageSolution:
    """h at the requested times, per image. h: [B, len(times), C, H, W]; steps, accepted, rejected, nfe: [B]
    int64 (nfe = 2 for the initial step-size selection + stages per attempted step); status: B names from
    STATUS_NAMES (what was computed before a failure is kept in h, NaN after it)."""

    times: torch.Tensor
    h: torch.Tensor
    steps: torch.Tensor
    accepted: torch.Tensor
    rejected: torch.Tensor
    nfe: torch.Tensor
    status: tuple[str, ...]


def solve_per_image(func, h0: torch.Tensor, times, *, rtol: float = 1e-3, atol: float = 1e-3,
                    method: str = "dopri5", max_num_steps: int | None = None) -> PerImageSolution:
    """Solve dh/dt = func(t, h) from h0 [B, C, H, W] at t = times[0] to every time in ``times`` (model time,
    strictly increasing), each image with its own adaptive steps. No gradient (recording and analysis).
    max_num_steps: an image that needs more step attempts than this stops with status "max_num_steps"."""
    check_choice("method", method, tuple(METHODS))
    rtol, atol = (check_real(n, v, lo=0, lo_open=True) for n, v in (("rtol", rtol), ("atol", atol)))
    if max_num_steps is not None:
        max_num_steps = check_int("max_num_steps", max_num_steps, minimum=1)
    if not torch.is_tensor(h0) or h0.dim() != 4 or not h0.is_floating_point():
        raise ValueError(f"h0 must be a float tensor [B, C, H, W], got {getattr(h0, 'shape', type(h0).__name__)}")
    t = torch.as_tensor(check_increasing("times", times, min_size=2), dtype=h0.dtype, device=h0.device)
    batch, shape = h0.shape[0], h0.shape[1:]

    def field(tb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return func(tb.view(-1, 1, 1, 1), y.view(-1, *shape)).reshape(len(y), -1)

    term = torchode.ODETerm(field)
    stepper = METHODS[method](term=term)
    controller = torchode.IntegralController(atol=atol, rtol=rtol, term=term)
    # torchode stops an image once its attempts reach max_steps; one more lets an image that needs exactly
    # max_num_steps attempts finish, as torchdiffeq's cap does
    solver = torchode.AutoDiffAdjoint(stepper, controller,
                                      max_steps=None if max_num_steps is None else max_num_steps + 1)
    problem = torchode.InitialValueProblem(y0=h0.reshape(batch, -1), t_eval=t.expand(batch, -1))
    with torch.no_grad():
        sol = solver.solve(problem)
    steps, accepted = sol.stats["n_steps"].long(), sol.stats["n_accepted"].long()
    return PerImageSolution(times=t, h=sol.ys.view(batch, len(t), *shape), steps=steps, accepted=accepted,
                            rejected=steps - accepted, nfe=2 + STAGES * steps,
                            status=tuple(STATUS_NAMES.get(int(s), "non_finite") for s in sol.status))
