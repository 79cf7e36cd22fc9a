"""Which recorded times are the solver's own states and which are interpolated.

A solver returns h(t) at a requested time t either as a state it stepped to (t is a step boundary) or by
interpolating between the two states around t (SOLVERS[method].interpolant). Each image has its own steps in a
sweep (neurodcn.cortex.sweep), so the flags are per stimulus. torchode's last step ends exactly at the block's
end T; a torchdiffeq adaptive step may overshoot T, so there even h(T) can be interpolated.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TOLERANCE", "state_flags", "padded_steps", "flag_variable", "step_variable"]

TOLERANCE = 1e-9
"""A requested time within this (model time units) of a step boundary counts as a solver state."""


def state_flags(times: np.ndarray, step_times: np.ndarray) -> np.ndarray:
    """1 where a requested time [time] is one of the solver's step boundaries [steps], else 0 (int8 [time])."""
    times, step_times = np.asarray(times, np.float64), np.asarray(step_times, np.float64)
    return (np.abs(times[:, None] - step_times[None, :]) <= TOLERANCE).any(axis=1).astype(np.int8)


def padded_steps(rows: list[np.ndarray], width: int | None = None) -> np.ndarray:
    """Step-time rows of unequal length as one float array [rows, width], padded with NaN (width: the longest
    row unless given; it must hold every row)."""
    out = np.full((len(rows), max((len(r) for r in rows), default=0) if width is None else width), np.nan)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def flag_variable(k: int, times: np.ndarray, step_rows: list[np.ndarray], interpolant: str) -> dict:
    """``solver_state_block{k}`` [stimulus, time]: 1 where the recorded time is a state of block k's solver,
    0 where it is interpolated (by ``interpolant``)."""
    flags = np.stack([state_flags(times, row) for row in step_rows])
    return {f"solver_state_block{k}": (("stimulus", "time"), flags, {
        "long_name": f"recorded time is a state of the ODE solver in block {k}", "units": "1",
        "flag_values": np.array([0, 1], np.int8), "flag_meanings": "interpolated solver_state",
        "interpolant": interpolant})}


def step_variable(k: int, step_rows: list[np.ndarray]) -> dict:
    """``solver_step_time_block{k}`` [stimulus, step_block{k}]: the model times of block k's solver states
    for each stimulus (its batch's steps), NaN-padded."""
    return {f"solver_step_time_block{k}": (("stimulus", f"step_block{k}"), padded_steps(step_rows), {
        "long_name": f"model times of the ODE solver's own states in block {k} (NaN: fewer steps)",
        "units": "1"})}
