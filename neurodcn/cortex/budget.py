"""A bound on solver effort for the experiments that sweep a model over many solves (record, contrast_sweep,
pattern_completion), so no sweep can run on indefinitely.

Per solve (one batch through the model): adaptive ODE blocks take at most ``max_num_steps`` steps per output
interval (the lower of this and the block's own SolverConfig.max_num_steps), and the solve stops after
``solve_budget_s`` seconds of wall-clock time. In total: once ``time_budget_s`` seconds have passed since the
sweep started, the running solve stops and the remaining ones are not started. A stopped or failed solve is a
flagged failure, never an exception; the flag records why (FAILURE_MEANINGS): the step cap, a step-size
underflow, a non-finite state or logits, or time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import torch
from torch import nn

from neurodcn.nn.dynamics import ODEBlock, SolverError
from neurodcn.validate import check_int, check_real

__all__ = ["FAILURE_MEANINGS", "DEFAULT_MAX_NUM_STEPS", "DEFAULT_SOLVE_BUDGET_S", "SolveBudget", "failure_attrs"]

DEFAULT_MAX_NUM_STEPS = 1000
"""Adaptive steps per output interval (solves of the bundled models at rtol 1e-3 take a few dozen)."""
DEFAULT_SOLVE_BUDGET_S = 600.0
"""Wall-clock seconds one solve (one batch through the model) may take."""

FAILURE_MEANINGS = ("ok", "max_num_steps", "dt_underflow", "non_finite", "time_budget")
"""Codes 0..4 of a solver_failure flag."""
OK, STEPS, UNDERFLOW, NON_FINITE, TIME = range(5)


class _OutOfTime(SolverError):
    """A solve passed its wall-clock deadline."""


def failure_attrs(what: str) -> dict:
    """CF flag attrs of a solver_failure variable; ``what`` says what each value is about."""
    return {"long_name": f"why the ODE solve of {what} failed (0: it did not)", "units": "1",
            "flag_values": list(range(len(FAILURE_MEANINGS))), "flag_meanings": " ".join(FAILURE_MEANINGS)}


def _reason(err: SolverError) -> int:
    text = str(err)
    if isinstance(err, _OutOfTime):
        return TIME
    if "max_num_steps" in text:
        return STEPS
    if "underflow" in text:
        return UNDERFLOW
    return NON_FINITE


class SolveBudget:
    """Bounds on the solves of one sweep; :meth:`run` runs one solve under them (see the module docstring).

    max_num_steps: adaptive steps per output interval (integer >= 1); solve_budget_s: seconds per solve
    (> 0); time_budget_s: seconds for the whole sweep (> 0) or None (no total bound). The total clock starts
    when the budget is made.
    """

    def __init__(self, max_num_steps: int = DEFAULT_MAX_NUM_STEPS, solve_budget_s: float = DEFAULT_SOLVE_BUDGET_S,
                 time_budget_s: float | None = None):
        self.max_num_steps = check_int("max_num_steps", max_num_steps, minimum=1)
        self.solve_budget_s = check_real("solve_budget_s", solve_budget_s, lo=0.0, lo_open=True)
        self.time_budget_s = None if time_budget_s is None else check_real(
            "time_budget_s", time_budget_s, lo=0.0, lo_open=True)
        self._start = time.monotonic()
        self._deadline = float("inf")

    def exhausted(self) -> bool:
        """Whether the total time budget is spent (then no further solve is started)."""
        return self.time_budget_s is not None and time.monotonic() - self._start >= self.time_budget_s

    def _check_clock(self, *_) -> None:
        if time.monotonic() > self._deadline:
            raise _OutOfTime("ODE solver stopped: out of its wall-clock time budget")

    @contextlib.contextmanager
    def limits(self, model: nn.Module) -> Iterator[None]:
        """Within this block, the model's ODE blocks obey the step cap and the clock (restored afterwards)."""
        blocks = [m for m in model.modules() if isinstance(m, ODEBlock)]
        saved = [b.solver for b in blocks]
        hooks = [b.func.register_forward_pre_hook(self._check_clock) for b in blocks]
        try:
            for b in blocks:
                if b.solver.adaptive:
                    own = b.solver.max_num_steps
                    b.solver = b.solver.replace(max_num_steps=min(own or self.max_num_steps, self.max_num_steps))
            yield
        finally:
            for b, s in zip(blocks, saved, strict=True):
                b.solver = s
            for h in hooks:
                h.remove()

    def run(self, solve: Callable[[], tuple]) -> tuple[int, tuple | None]:
        """(failure code, result of ``solve()``): code 0 with the result, or a FAILURE_MEANINGS code and None.

        Call inside :meth:`limits`. A result whose first element (logits) holds a non-finite value is a
        non_finite failure. No solve is started once the total budget is spent (code time_budget).
        """
        if self.exhausted():
            return TIME, None
        now = time.monotonic()
        total_end = float("inf") if self.time_budget_s is None else self._start + self.time_budget_s
        self._deadline = min(now + self.solve_budget_s, total_end)
        try:
            out = solve()
        except SolverError as err:
            return _reason(err), None
        finally:
            self._deadline = float("inf")
        if torch.is_tensor(out[0]) and not bool(torch.isfinite(out[0]).all()):
            return NON_FINITE, None
        return OK, out
