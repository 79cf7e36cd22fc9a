"""Recording h(t): the hidden state of every ODE block at chosen model times (experiment "record").

h(t) comes from the solver's own output grid (ODEBlock.trajectory), never from hooks (a hook inside the vector
field fires at every solver stage, not at output times). The block's end time T is always on the grid, so the
state handed on to the next stage is h(T) of the same solve, exactly as the model's forward computes it.
An adaptive solver takes one step size per batch, so h(t) depends on which images share a batch (within
the solver tolerance). Every recorded time is flagged as the solver's own state or an interpolation
(neurodcn.cortex.solver_states). Solver effort is bounded (neurodcn.cortex.budget); a batch whose solve fails or
runs out of its budget is recorded as NaN with no solver steps and flagged in ``solver_failure`` (per stimulus:
why), and the other batches are kept (streamed to zarr as they are done).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from neurodcn.cortex.budget import DEFAULT_MAX_NUM_STEPS, DEFAULT_SOLVE_BUDGET_S, SolveBudget, failure_attrs
from neurodcn.cortex.inputs import batch_slices, check_times
from neurodcn.cortex.solver_states import flag_variable, step_variable
from neurodcn.io.files import ZarrStreamWriter, load_dataset
from neurodcn.nn.dynamics import ODEBlock
from neurodcn.schema import block_coords, block_dims, stimulus_coords, time_coords

__all__ = ["propagate", "record"]


def propagate(model, x: torch.Tensor, times=None, T=None, input_scale=None):
    """Run a staged classifier as its forward does: stem, blocks with transitions between them, head.

    x: images [N, C, H, W]. times: model times (1-D, increasing, within [0, T_k]) at which to return each ODE
    block's state, or None. T: per block, the integration end time (None or a None entry: the block's
    solver.T). input_scale: per block, a factor applied to the map entering it (None: 1).
    Returns (logits [N, classes], trajectories): trajectories[i] is h of blocks[i] at ``times``,
    [len(times), N, C_i, H_i, W_i], or None (no times, or not an ODE block).
    """
    h, trajectories = x, []
    for stage in model.stages():
        if stage.kind != "block":
            h = stage.module(h)
            continue
        i, block = stage.index, stage.module
        if input_scale is not None and input_scale[i] != 1:
            h = h * input_scale[i]
        traj = None
        if isinstance(block, ODEBlock):
            end = block.solver.T if T is None or T[i] is None else float(T[i])
            if times is None:
                h = block(h, end)
            else:
                grid = np.union1d(np.asarray(times, dtype=np.float64), [end])
                out = block.trajectory(h, torch.as_tensor(grid))
                traj = out[torch.as_tensor(np.searchsorted(grid, times), device=out.device)]
                h = out[-1]
        else:
            h = block(h)
        trajectories.append(traj)
    return model.head(h), trajectories


def _batch_dataset(vc, hs: dict, times: np.ndarray, stim: dict, steps: dict, failure: np.ndarray) -> xr.Dataset:
    """hs: {k: array [n, time, C, H, W]} for the ODE blocks k (1-based); steps: {k: list of n step-time rows};
    failure: [n] codes (neurodcn.cortex.budget)."""
    coords = dict(stim, **time_coords(times, vc.ms_per_unit_time, vc.onset_ms))
    data = {"solver_failure": ("stimulus", failure, failure_attrs("the stimulus's batch"))}
    for k, arr in hs.items():
        g = vc.geometry[k - 1]
        coords.update(block_coords(k, g.channels, *g.degrees(vc.image_size, vc.visual_degrees)))
        data[f"h_block{k}"] = (
            ("stimulus", "time", *block_dims(k)),
            arr,
            {
                "long_name": f"hidden state h(t) of ODE block {k}",
                "units": "1",
                "block_index": k,
                "map_stride_px": float(g.stride),
            },
        )
        data.update(flag_variable(k, times, steps[k], vc.model.blocks[k - 1].solver.interpolant))
    return xr.Dataset(data, coords=coords)


def record(
    vc,
    images,
    times,
    out=None,
    stimulus_table=None,
    max_num_steps: int = DEFAULT_MAX_NUM_STEPS,
    solve_budget_s: float = DEFAULT_SOLVE_BUDGET_S,
    time_budget_s: float | None = None,
) -> xr.Dataset:
    """h(t) of every ODE block of ``vc.model`` for every image at the given model times (schema "record").

    images: [N, C, H, W] in [0, 1]; values that overshoot [0, 1] by float rounding only (e.g. 1.0000001 after
    an antialiased resize; up to 4 float32 epsilons) are clipped to it, anything further is an error.
    times: model times in [0, T]; stimulus_table: optional pandas DataFrame (N rows, a stimulus_id column; see
    neurodcn.data.stimuli) whose columns become stimulus coords.
    out: None (return an in-memory dataset) or a ".zarr" path: batches are streamed there (memory bounded by
    one batch) and the lazily opened store is returned. max_num_steps, solve_budget_s (s), time_budget_s (s or
    None): the solver-effort bounds of neurodcn.cortex.budget.SolveBudget; a failed batch is NaN, flagged in
    solver_failure, and the others are kept.
    """
    model = vc.model
    ode = [i for i, _ in model.ode_blocks()]
    if not ode:
        raise ValueError(
            f"record needs ODE blocks (h(t) over continuous time); model {vc.name!r} has none "
            "(its blocks are discrete, e.g. ResBlocks)"
        )
    x = vc.check_images(images)
    times = check_times(times, min(model.blocks[i].solver.T for i in ode))
    n = x.shape[0]
    stim = stimulus_coords(n, stimulus_table)
    budget = SolveBudget(max_num_steps, solve_budget_s, time_budget_s)
    writer = ZarrStreamWriter(out, dim="stimulus") if out is not None else None
    full = None if writer else {i + 1: np.empty((n, len(times), *vc.map_shape(i)), np.float32) for i in ode}
    steps = {i + 1: [] for i in ode}
    failure = np.zeros(n, np.int8)
    model.eval()
    try:
        with budget.limits(model), torch.no_grad():
            for _, sl in batch_slices(n, vc.batch_size, vc.progress, "record"):
                code, result = budget.run(lambda: propagate(model, x[sl], times))  # noqa: B023
                failure[sl] = code
                m = sl.stop - sl.start
                hs, batch_steps = {}, {}
                for i in ode:
                    if code:
                        batch_steps[i + 1] = [np.empty(0)] * m
                        hs[i + 1] = np.full((m, len(times), *vc.map_shape(i)), np.nan, np.float32)
                    else:
                        batch_steps[i + 1] = [model.blocks[i].step_times.cpu().numpy()] * m
                        hs[i + 1] = result[1][i].transpose(0, 1).to(torch.float32).cpu().numpy()
                        if hs[i + 1].shape[2:] != vc.map_shape(i):
                            raise RuntimeError(f"block {i + 1} map is {hs[i + 1].shape[2:]} but the geometry "
                                               f"predicts {vc.map_shape(i)}")
                    steps[i + 1] += batch_steps[i + 1]
                if writer is None:
                    for k, arr in hs.items():
                        full[k][sl] = arr
                else:
                    writer.append(_batch_dataset(vc, hs, times, {c: (d, v[sl], a) for c, (d, v, a) in stim.items()},
                                                 batch_steps, failure[sl]))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        ds = _batch_dataset(vc, full, times, stim, steps, failure)
        return vc.stamp(ds.assign(_step_variables(steps)), "record")
    attrs = vc.stamp(xr.Dataset(), "record").attrs
    return load_dataset(writer.close(attrs=attrs, extra=xr.Dataset(_step_variables(steps))), lazy=True)


def _step_variables(steps: dict) -> dict:
    """The solver's step times of every block (ragged across batches, so written once, after the batches)."""
    out = {}
    for k, rows in steps.items():
        out.update(step_variable(k, rows))
    return out
