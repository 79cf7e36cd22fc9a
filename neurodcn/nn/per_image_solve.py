"""Adaptive ODE solves in which every image keeps its own steps, inside one batched call (torchode).

An adaptive solver run on a batch with torchdiffeq takes one step sequence for the whole batch, so an image's
h(t), NFE and solver states depend on the other images in its batch. Here each image has its own step size, its
own accept/reject decisions (error norm: RMS over that image's elements), its own dense output at the requested
times, its own solver states and its own status, while the vector field is evaluated on the whole batch at once.

The field is called as f(t, h) with t of shape [B, 1, 1, 1] (each image at its own time), which ODEFunc's
"concat" and "offset" time modes accept; a field that needs one scalar t (SRF filters that change with t) is
called once per distinct time instead (``per_sample_time=False``).

Failures stay per image. torchode stops a whole call when one image fails; the images it stopped unfinished are
solved again without the failed ones (their solves do not depend on the others), so a failure costs the others
nothing but time. What an image computed before its failure is kept; its later times are NaN.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
import torchode

from neurodcn.validate import check_bool, check_choice, check_increasing, check_int, check_real

__all__ = ["PerImageSolution", "solve_per_image", "METHODS", "STATUS_NAMES"]

METHODS = {"dopri5": torchode.Dopri5, "tsit5": torchode.Tsit5}
"""Adaptive methods with per-image steps: name -> torchode stepper. Both are 7-stage first-same-as-last
methods: 6 new evaluations per step attempt."""
STAGES = 6
DT_UNDERFLOW = 2  # torchode's code of a step too small to move t
TIME_BUDGET = 5  # an image stopped at the wall-clock deadline (torchode's own codes are 0..4)

STATUS_NAMES = {0: "ok", 1: "non_finite", 2: "dt_underflow", 3: "max_num_steps", 4: "non_finite",
                TIME_BUDGET: "time_budget"}
"""Status code -> the virtual cortex's failure name (torchode's general error comes from non-finite values)."""


@dataclasses.dataclass(frozen=True)
class PerImageSolution:
    """h at the requested times, per image. h: [B, len(times), C, H, W]; steps, accepted, rejected, nfe: [B]
    int64 (nfe = 2 for the initial step-size selection + 6 per attempted step); step_times: B float64 arrays,
    the model times of each image's own solver states (its initial time, then every accepted step's end);
    status: B names from STATUS_NAMES (what was computed before a failure is kept in h, NaN after it)."""

    times: torch.Tensor
    h: torch.Tensor
    steps: torch.Tensor
    accepted: torch.Tensor
    rejected: torch.Tensor
    nfe: torch.Tensor
    step_times: tuple[np.ndarray, ...]
    status: tuple[str, ...]


class _Controller(torchode.IntegralController):
    """torchode's integral controller that also keeps every image's accepted step ends, flags a step too small
    to move t (torchdiffeq's "underflow in dt") and stops the images still running once the wall clock passes
    ``deadline`` (time.monotonic() seconds)."""

    def __init__(self, *args, deadline: float | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline, self.ends, self.t_end = deadline, [], None

    def init(self, term, problem, method_order, dt0, *, stats, args):
        self.t_end, self.ends = problem.t_end, []
        return super().init(term, problem, method_order, dt0, stats=stats, args=args)

    def adapt_step_size(self, t0, dt, y0, step_result, state, stats):
        accept, dt_next, state, status = super().adapt_step_size(t0, dt, y0, step_result, state, stats)
        running = t0 < self.t_end
        self.ends.append(torch.where(accept & running, t0 + dt, torch.nan).double())
        status = torch.where(running & (t0 + dt == t0), DT_UNDERFLOW, status)
        if self.deadline is not None and time.monotonic() > self.deadline:
            status = torch.where(running, TIME_BUDGET, status)
        return accept, dt_next, state, status


def _field(func, shape: torch.Size, per_sample_time: bool):
    """torchode's f(t [B], y [B, F]) from func(t, h [B, *shape]): t as [B, 1, 1, 1], or one call per distinct t."""
    def field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = y.view(-1, *shape)
        if per_sample_time:
            return func(t.view(-1, 1, 1, 1), h).reshape(len(y), -1)
        out = torch.empty_like(y)
        for value in torch.unique(t):
            rows = t == value
            out[rows] = func(value, h[rows]).reshape(int(rows.sum()), -1)
        return out
    return field


def _solve(field, y0: torch.Tensor, t: torch.Tensor, method, rtol, atol, max_steps, deadline):
    """One torchode call on y0 [B, F]: (ys [B, T, F] NaN where not reached, steps, accepted, status codes,
    step ends [steps, B] with NaN where a step was rejected or the image had finished)."""
    term = torchode.ODETerm(field)
    controller = _Controller(atol=atol, rtol=rtol, term=term, deadline=deadline)
    solver = torchode.AutoDiffAdjoint(METHODS[method](term=term), controller, max_steps=max_steps)
    sol = solver.solve(torchode.InitialValueProblem(y0=y0, t_eval=t.expand(len(y0), -1)))
    reached = torch.arange(len(t), device=y0.device)[None, :] < sol.stats["n_initialized"][:, None]
    ys = torch.where(reached[..., None], sol.ys, torch.nan)
    ends = torch.stack(controller.ends) if controller.ends else y0.new_zeros(0, len(y0), dtype=torch.float64)
    return ys, sol.stats["n_steps"].long(), sol.stats["n_accepted"].long(), sol.status.long(), ends, reached[:, -1]


def solve_per_image(func, h0: torch.Tensor, times, *, rtol: float = 1e-3, atol: float = 1e-3,
                    method: str = "dopri5", max_num_steps: int | None = None, deadline: float | None = None,
                    per_sample_time: bool = True) -> PerImageSolution:
    """Solve dh/dt = func(t, h) from h0 [B, C, H, W] at t = times[0] to every time in ``times`` (model time,
    strictly increasing), each image with its own adaptive steps. No gradient (recording and analysis).

    max_num_steps: an image that needs more step attempts than this stops with status "max_num_steps".
    deadline: a time.monotonic() value (s); images still running then stop with status "time_budget".
    per_sample_time: whether func takes t as [B, 1, 1, 1] (else it is called once per distinct scalar t).
    An image whose h0 is not finite is not solved (status "non_finite", h NaN).
    """
    check_choice("method", method, tuple(METHODS))
    rtol, atol = (check_real(n, v, lo=0, lo_open=True) for n, v in (("rtol", rtol), ("atol", atol)))
    if max_num_steps is not None:
        max_num_steps = check_int("max_num_steps", max_num_steps, minimum=1)
    if deadline is not None:
        deadline = check_real("deadline", deadline)
    per_sample_time = check_bool("per_sample_time", per_sample_time)
    if not torch.is_tensor(h0) or h0.dim() != 4 or not h0.is_floating_point():
        raise ValueError(f"h0 must be a float tensor [B, C, H, W], got {getattr(h0, 'shape', type(h0).__name__)}")
    t = torch.as_tensor(check_increasing("times", times, min_size=2), dtype=h0.dtype, device=h0.device)
    batch, shape = h0.shape[0], h0.shape[1:]
    field = _field(func, shape, per_sample_time)
    y0 = h0.reshape(batch, -1)
    ys = y0.new_full((batch, len(t), y0.shape[1]), torch.nan)
    steps, accepted = (torch.zeros(batch, dtype=torch.long, device=h0.device) for _ in range(2))
    status = torch.where(torch.isfinite(y0).all(dim=1), 0, 1).to(h0.device)
    step_times = [np.array([float(t[0])])] * batch
    # torchode stops an image once its attempts reach max_steps; one more lets an image that needs exactly
    # max_num_steps attempts finish, as torchdiffeq's cap does
    max_steps = None if max_num_steps is None else max_num_steps + 1
    pending = torch.nonzero(status == 0).flatten()
    solved = torch.zeros(batch, dtype=torch.bool, device=h0.device)
    with torch.no_grad():
        while len(pending):
            if deadline is not None and time.monotonic() > deadline:
                status[pending] = TIME_BUDGET
                break
            out, n, acc, code, ends, finished = _solve(field, y0[pending], t, method, rtol, atol, max_steps,
                                                       deadline)
            done = finished | (code != 0)  # the rest were stopped unfinished by another image's failure
            if not bool(done.any()):
                raise RuntimeError("torchode stopped without finishing or failing any image")
            solved[pending[done]] = True
            for j in torch.nonzero(done).flatten().tolist():
                i = int(pending[j])
                ys[i], steps[i], accepted[i], status[i] = out[j], n[j], acc[j], code[j]
                row = ends[:, j].cpu().numpy()
                step_times[i] = np.concatenate([[float(t[0])], row[np.isfinite(row)]])
            pending = pending[~done]
    return PerImageSolution(times=t, h=ys.view(batch, len(t), *shape), steps=steps, accepted=accepted,
                            rejected=steps - accepted, nfe=torch.where(solved, 2 + STAGES * steps, 0),
                            step_times=tuple(step_times),
                            status=tuple(STATUS_NAMES.get(int(s), "non_finite") for s in status))
