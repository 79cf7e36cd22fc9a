"""The one runner of every experiment that sweeps a model over batches of images: evaluation mode, no gradient,
per-image solves under bounds, per-image failures and one progress bar.

Per-image solves. Inside a sweep every ODE block gives each image its own adaptive steps
(neurodcn.nn.dynamics.SolveLimits; torchode for dopri5), so what an experiment reports for an image - h(t), NFE,
solver states, its class - does not depend on which other images share its batch.

Bounds. An image's solve takes at most ``max_num_steps`` step attempts per block (the lower of this and the
block's own SolverConfig.max_num_steps); one pass (one batch through the model) stops after ``solve_budget_s``
seconds; once ``time_budget_s`` seconds have passed since the sweep started, the running pass stops and no other
is started. A failure is a per-image code (FAILURE_MEANINGS), never an exception: the step cap, a step-size
underflow, a non-finite state or output, or time. An image keeps the first failure along the model's blocks; its
states after the failure are NaN, what it computed before is kept, and the other images are unaffected.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from neurodcn.cortex.inputs import batch_slices
from neurodcn.nn.dynamics import ImageSolves, ODEBlock, SolveLimits, SolverConfig, SolverError
from neurodcn.progress import tqdm
from neurodcn.validate import check_int, check_real

__all__ = ["FAILURE_MEANINGS", "DEFAULT_MAX_NUM_STEPS", "DEFAULT_SOLVE_BUDGET_S", "failure_attrs", "ode_blocks",
           "ode_end_time", "solved_with", "Pass", "Sweep", "per_image_nfe", "sweep_readout", "failure_summary"]

DEFAULT_MAX_NUM_STEPS = 1000
"""Step attempts per image and block solve (solves of the bundled models at rtol 1e-3 take a few dozen)."""
DEFAULT_SOLVE_BUDGET_S = 600.0
"""Wall-clock seconds one pass (one batch through the model) may take."""

FAILURE_MEANINGS = ("ok", "max_num_steps", "dt_underflow", "non_finite", "time_budget")
"""Codes 0..4 of a solver_failure flag."""
OK, STEPS, UNDERFLOW, NON_FINITE, TIME = range(5)


def failure_attrs(what: str) -> dict:
    """CF flag attrs of a solver_failure variable; ``what`` says what each value is about."""
    return {"long_name": f"why the ODE solve of {what} failed (0: it did not)", "units": "1",
            "flag_values": list(range(len(FAILURE_MEANINGS))), "flag_meanings": " ".join(FAILURE_MEANINGS)}


def ode_blocks(model: nn.Module) -> list[ODEBlock]:
    """The model's ODE blocks, in registration (forward) order."""
    return [m for m in model.modules() if isinstance(m, ODEBlock)]


def ode_end_time(model: nn.Module) -> float:
    """The common end time of the model's ODE blocks: the smallest T (model time units)."""
    blocks = ode_blocks(model)
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no ODE blocks, so no model time to report")
    return min(b.T for b in blocks)


@contextlib.contextmanager
def solved_with(model: nn.Module, solver) -> Iterator[SolverConfig]:
    """Within this block every ODE block of ``model`` is solved with ``solver`` (a SolverConfig or dict of its
    fields); the blocks' own solvers come back afterwards, and the model's config is never touched."""
    solver = SolverConfig.coerce(solver)
    blocks = ode_blocks(model)
    own = [b.solver for b in blocks]
    try:
        for b in blocks:
            b.solver = solver
        yield solver
    finally:
        for b, s in zip(blocks, own, strict=True):
            b.solver = s


class Pass(NamedTuple):
    """One pass of a batch: codes [m] int8 (FAILURE_MEANINGS, per image), the pass's result (None when it did not
    run), and the per-image solves of every ODE block that ran ({block: ImageSolves})."""

    codes: np.ndarray
    result: object
    solves: dict


class Sweep:
    """Runs passes of batches through ``model`` under one set of bounds (see the module docstring).

    Use as a context manager: inside, the model is in evaluation mode (its mode comes back afterwards), gradients
    are off, and a progress bar of ``total`` passes (``desc``) is shown when ``progress``. max_num_steps: step
    attempts per image and block solve (integer >= 1); solve_budget_s: seconds per pass (> 0); time_budget_s:
    seconds for the whole sweep (> 0) or None. The total clock starts when the sweep is entered.
    """

    def __init__(self, model: nn.Module, *, max_num_steps: int = DEFAULT_MAX_NUM_STEPS,
                 solve_budget_s: float = DEFAULT_SOLVE_BUDGET_S, time_budget_s: float | None = None,
                 progress: bool = False, desc: str = "", total: int | None = None, unit: str = "batch"):
        self.model = model
        self.max_num_steps = check_int("max_num_steps", max_num_steps, minimum=1)
        self.solve_budget_s = check_real("solve_budget_s", solve_budget_s, lo=0.0, lo_open=True)
        self.time_budget_s = None if time_budget_s is None else check_real(
            "time_budget_s", time_budget_s, lo=0.0, lo_open=True)
        self._bar = tqdm(total=total, desc=desc, unit=unit, disable=not progress, leave=False)
        self._blocks = ode_blocks(model)
        self._start = 0.0  # set when the sweep is entered
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> Sweep:
        self._start = time.monotonic()
        stack = contextlib.ExitStack()
        stack.enter_context(self._bar)
        stack.enter_context(torch.no_grad())
        stack.callback(self.model.train, self.model.training)
        self.model.eval()
        stack.callback(self._set_limits, None)
        self._stack = stack
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _set_limits(self, limits: SolveLimits | None) -> None:
        for b in self._blocks:
            b.limits = limits

    def exhausted(self) -> bool:
        """Whether the total time budget is spent (then no further pass is started)."""
        return self.time_budget_s is not None and time.monotonic() - self._start >= self.time_budget_s

    def run(self, fn: Callable[[], object], size: int, logits: Callable[[object], object] | None = None) -> Pass:
        """Run one pass ``fn()`` of ``size`` images under the bounds and advance the bar by one.

        logits: picks the model's output [size, ...] from the result (default: its first element when the result
        is a tuple); an image whose output is not finite fails as non_finite.
        """
        if self._stack is None:
            raise RuntimeError("Sweep.run needs the sweep entered: `with Sweep(model, ...) as sweep:`")
        self._bar.update()
        codes = np.zeros(size, np.int8)
        if self.exhausted():
            return Pass(codes + TIME, None, {})
        end = float("inf") if self.time_budget_s is None else self._start + self.time_budget_s
        self._set_limits(SolveLimits(self.max_num_steps, min(time.monotonic() + self.solve_budget_s, end)))
        for b in self._blocks:
            b.reset_nfe()
        try:
            result = fn()
        except SolverError as err:  # a continuous block of the user's that is not an ODEBlock
            return Pass(codes + FAILURE_MEANINGS.index(err.reason), None, {})
        finally:
            self._set_limits(None)
        solves = {b: b.image_solves for b in self._blocks if b.image_solves is not None}
        for s in solves.values():  # the first failure along the blocks
            failed = np.array([FAILURE_MEANINGS.index(name) for name in s.status], np.int8)
            codes = np.where(codes == OK, failed, codes)
        out = logits(result) if logits is not None else result[0] if isinstance(result, tuple) else result
        if torch.is_tensor(out) and out.dim() >= 1 and len(out) == size:
            finite = torch.isfinite(out.reshape(size, -1)).all(dim=1).cpu().numpy()
            codes = np.where((codes == OK) & ~finite, NON_FINITE, codes).astype(np.int8)
        return Pass(codes, result, solves)


def per_image_nfe(solves: dict, blocks: list[ODEBlock], size: int) -> np.ndarray:
    """Forward NFE [size, len(blocks)] of each image in each of ``blocks`` (NaN for a block that did not run)."""
    out = np.full((size, len(blocks)), np.nan)
    for j, b in enumerate(blocks):
        s: ImageSolves | None = solves.get(b)
        if s is not None:
            out[:, j] = s.nfe
    return out


def sweep_readout(vc, x: torch.Tensor, times: np.ndarray, desc: str, on_batch: Callable[[slice, Pass], None],
                  progress: bool | None = None, **bounds) -> np.ndarray:
    """Read the cortex's recorded layers (vc.readout) at model ``times`` for images x [N, C, H, W], batch by batch
    in one sweep (bounds: Sweep's max_num_steps, solve_budget_s, time_budget_s). ``on_batch(slice, pass)`` gets
    every batch's Pass: result = (model output, states), states[k] = [len(times), b, C, H, W] of layer k
    (result None when the batch did not run); vc.readout.step_rows then holds its solver states. progress: show
    a bar (None: the cortex's setting). Returns the failure codes [N] (FAILURE_MEANINGS)."""
    n = x.shape[0]
    codes = np.zeros(n, np.int8)
    batches = [sl for _, sl in batch_slices(n, vc.batch_size, False, "")]
    show = vc.progress if progress is None else progress
    with Sweep(vc.model, progress=show, desc=desc, total=len(batches), **bounds) as sweep:
        for sl in batches:
            done = sweep.run(lambda: vc.readout(x[sl], times), sl.stop - sl.start)  # noqa: B023
            codes[sl] = done.codes
            on_batch(sl, done)
    return codes


def failure_summary(codes: np.ndarray, what: str) -> str:
    """One line: how many of ``what`` failed, and why (e.g. "3 of 500 stimuli failed: 2 max_num_steps, ...")."""
    counts = {FAILURE_MEANINGS[c]: int((codes == c).sum()) for c in np.unique(codes) if c}
    detail = ", ".join(f"{v} {k}" for k, v in counts.items())
    return f"{int((codes > 0).sum())} of {codes.size} {what} failed: {detail}"
