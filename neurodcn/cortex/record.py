"""Recording h(t): the state of every recorded layer at chosen model times (experiment "record").

The recorded layers are the cortex's (neurodcn.cortex.readout): ODE blocks and other continuous blocks over
model time, or discrete layers with their one state at model time 0. A recording is an xarray DataTree with one
group per block (neurodcn.schema): blocks have maps of different sizes, and one group each keeps their dims
apart; ``rec.dcn.to_dataframe()`` (neurodcn.schema) is its tidy table, one row per value of h.

A continuous block's h(t) comes from the solver's own output grid (its trajectory), never from hooks (a hook
inside the vector field fires at every solver stage, not at output times). The block's end time T is always on
the grid, so the state handed on to the next stage is h(T) of the same solve, exactly as the model's forward
computes it.
Every image gets its own adaptive steps (neurodcn.cortex.sweep), so its h(t) does not depend on which images
share its batch. Every recorded time is flagged as that image's solver state or an interpolation
(neurodcn.cortex.solver_states). Solver effort is bounded (neurodcn.cortex.sweep); an image whose solve fails
or runs out of its budget keeps the states it reached, is NaN after, and is flagged in ``solver_failure`` (per
stimulus: why); the other images are kept (streamed to zarr batch by batch).
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import torch
import xarray as xr

from neurodcn.cortex.readout import trajectory_at
from neurodcn.cortex.solver_states import flag_variable, step_variable
from neurodcn.cortex.sweep import DEFAULT_MAX_NUM_STEPS, DEFAULT_SOLVE_BUDGET_S, failure_attrs, sweep_readout
from neurodcn.io.files import ZarrStreamWriter, load_dataset
from neurodcn.io.limits import check_budget, memory_budget
from neurodcn.nn.dynamics import ODEBlock
from neurodcn.nn.srf import SRFConv2d
from neurodcn.schema import (
    BLOCK_DIMS,
    PIXELS,
    STIMULUS,
    TIME,
    block_coords,
    block_name,
    json_default,
    stimulus_coords,
    time_coords,
)
from neurodcn.validate import check_bool

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
                traj, h = trajectory_at(block, h, np.asarray(times, dtype=np.float64), end)
        else:
            h = block(h)
        trajectories.append(traj)
    return model.head(h), trajectories


def _in_group(variables: dict, k: int) -> dict:
    """Variables named ``*_block{k}`` on dims ``*_block{k}`` (neurodcn.cortex.solver_states) as they sit in
    group block{k}: without the suffix."""
    suffix = f"_block{k}"
    return {
        name.removesuffix(suffix): (tuple(d.removesuffix(suffix) for d in dims), *rest)
        for name, (dims, *rest) in variables.items()
    }


def _tree(vc, hs: dict, times: np.ndarray, stim: dict, steps: dict, failure: np.ndarray, attrs) -> xr.DataTree:
    """The recording of hs = {k: array [n, time, C, H, W]} for the ODE blocks k (1-based): stimulus and time
    coords, solver_failure (failure: [n] codes of neurodcn.cortex.sweep) and ``attrs`` at the root, one group
    block{k} per block holding h with its map coords, solver_state and solver_step_time
    (neurodcn.cortex.solver_states; steps: {k: list of n step-time rows}; streamed batches pad it along
    ``step``)."""
    root = xr.Dataset({"solver_failure": (STIMULUS, failure, failure_attrs("the stimulus's batch"))},
                      coords=dict(stim, **time_coords(times, vc.ms_per_unit_time, vc.onset_ms)), attrs=attrs)
    groups = {"/": root}
    for k, arr in hs.items():
        g = vc.geometry[k - 1]
        name, block, T = vc.readout.layers[k - 1]
        what = f"hidden state h(t) of continuous block {k}" if T is not None else f"output of layer {k}"
        h = {"long_name": f"{what} ({name})", "units": "1"}
        coords = block_coords(g.channels, *g.degrees(vc.image_size, vc.visual_degrees))
        srf = [m for m in block.modules() if isinstance(m, SRFConv2d) and m.out_channels == g.channels]
        if srf:
            long_name = "SRF scale sigma of the block's last SRF layer (SRFConv2d.sigma_summary), in pixels"
            coords["sigma"] = ((), srf[-1].sigma_summary(), {"long_name": long_name, "units": PIXELS})
        data = {"h": ((STIMULUS, TIME, *BLOCK_DIMS), arr, h)}
        if T is not None:
            data.update(_in_group(flag_variable(k, times, steps[k], vc.readout.interpolant(k - 1)), k))
            data.update(_in_group(step_variable(k, steps[k]), k))
        groups[f"/{block_name(k)}"] = xr.Dataset(
            data,
            coords=coords,
            attrs={"block_index": k, "layer": name, "time_axis": "continuous" if T is not None else "discrete",
                   "map_stride_px": float(g.stride), "map_geometry": vc.geometry_method[k - 1]},
        )
    return xr.DataTree.from_dict(groups)


def record(
    vc,
    images,
    times,
    out=None,
    stimulus_table=None,
    stimulus_set=None,
    max_num_steps: int = DEFAULT_MAX_NUM_STEPS,
    solve_budget_s: float = DEFAULT_SOLVE_BUDGET_S,
    time_budget_s: float | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> xr.DataTree:
    """Record h(t) of every recorded layer for every image at the given model times (experiment "record").

    A continuous block's group also says which recorded times are the solver's own states: ``solver_state``
    (stimulus, time) is 1 at a step boundary of that stimulus's own solve and 0 where it was interpolated, and
    ``solver_step_time`` (stimulus, step) lists the step times (``neurodcn.cortex.solver_states``). A failed
    image is NaN after its failure and flagged in ``solver_failure``; the others are kept.

    Args:
        images: [N, C, H, W] in [0, 1]; values that overshoot [0, 1] by float rounding only (e.g. 1.0000001 after
            an antialiased resize; up to 4 float32 epsilons) are clipped to it, anything further is an error.
        times: model times in [0, T] (None: 5 evenly spaced; discrete layers: None or [0.0], their one state).
        out: None (in memory) or a ".zarr" path: batches are streamed there (memory bounded by one batch) and the
            lazily opened store is returned. Interrupted (Ctrl-C), a streamed recording keeps its finished
            batches in ``<out stem>.partial.zarr`` (``load_dataset`` reads them) and says so in one line; the same
            call with ``resume=True`` continues it. A recording in memory that would need more than
            ``neurodcn.io.limits.memory_budget()`` is refused up front, with the size it needs; so is one batch that
            would.
        stimulus_table: optional pandas DataFrame (N rows, a ``stimulus_id`` column, e.g. ``load_stimuli(...).table``;
            see ``neurodcn.data.stimuli``) whose columns become stimulus coords.
        stimulus_set: the name that makes integer ids unique (default: a content hash of the images; see
            ``neurodcn.schema.stimulus_coords``).
        max_num_steps: step attempts per image and block solve (``neurodcn.cortex.sweep``).
        solve_budget_s: seconds per batch (s).
        time_budget_s: seconds for the whole recording (s), or None.
        overwrite: replace an existing ``out`` (otherwise an existing store is an error).
        resume: continue the interrupted recording kept in ``<out stem>.partial.zarr``: only the stimuli after its
            finished rows are recorded, appended to it, and the whole moved to ``out`` as usual; the result equals
            an uninterrupted recording. The kept rows must be of the same request (their stimulus ids the first of
            this call's; the same times, recorded layers, map shapes and provenance attrs but ``created``), else
            ValueError naming what differs. Needs ``out``; no partial store there is a FileNotFoundError; not with
            ``overwrite=True``. ``time_budget_s`` counts this call only.

    Returns:
        An ``xarray.DataTree`` (see ``neurodcn.schema``): the root holds the stimulus coords (index ``stimulus`` =
        ``stimulus_id``), ``time`` and ``time_ms``, ``solver_failure`` (stimulus) and the provenance attrs (attr
        ``t_end``: the end T of the recorded interval in model time; 0 for discrete layers); group ``block{k}``
        (one per recorded layer) holds ``h`` (stimulus, time, channel, y, x) with coords channel, y, x, y_deg,
        x_deg and attrs block_index, layer (module name), time_axis ("continuous" or "discrete"), map_stride_px,
        map_geometry ("walked" or "centred", ``neurodcn.cortex.readout.layer_geometry``), and for a continuous
        block ``solver_state`` (stimulus, time) and ``solver_step_time`` (stimulus, step).

    Examples:
        >>> import neurodcn as nd
        >>> vc = nd.VirtualCortex.pretrained(progress=False)
        >>> stim = nd.load_stimuli("cifar10-demo", num_images=2)
        >>> rec = vc.record(stim.images, times=[0, 1, 2], stimulus_table=stim.table)
        >>> rec["block1"].h.dims
        ('stimulus', 'time', 'channel', 'y', 'x')
        >>> rec.time_ms.values.tolist()  # onset_ms + ms_per_unit_time * t
        [50.0, 75.0, 100.0]
        >>> rec["block1"].solver_state.sel(time=0).values.tolist()  # t = 0 is the initial state
        [1, 1]
    """
    if check_bool("resume", resume) and (out is None or overwrite):
        raise ValueError("resume=True continues the partial store of an interrupted record(..., out=...): it needs "
                         "out and cannot be combined with overwrite=True")
    readout = vc.readout
    layers = range(len(readout.layers))
    cont = [i for i in layers if readout.layers[i].T is not None]
    x = vc.check_images(images)
    t_end = readout.t_end
    times = readout.times(times)
    n = x.shape[0]
    stim = stimulus_coords(n, stimulus_table, stimulus_set, images=x.cpu().numpy())
    attrs = vc.stamp(xr.Dataset(), "record", stimulus_size=np.shape(images)[-2:]).attrs
    attrs["t_end"] = float(t_end)  # the end of the recorded interval [0, T] in model time
    per_stimulus = 4 * len(times) * sum(math.prod(vc.map_shape(i)) for i in layers)  # float32 maps
    what = f"record ({len(times)} times x the maps of {len(layers)} blocks, float32)"
    if out is None:
        check_budget(f"{what} of {n} stimuli in memory", n * per_stimulus, memory_budget(), hint="pass "
                     "out='recording.zarr' to stream the batches to disk (memory bounded by one batch), or record "
                     "fewer stimuli or times")
    batch = min(n, vc.batch_size)  # a batch's trajectories and their copy
    check_budget(f"{what} of one batch of {batch} stimuli", 2 * batch * per_stimulus, memory_budget(),
                 hint="lower the cortex's batch_size or record fewer times")
    writer = None if out is None else ZarrStreamWriter(out, dim=STIMULUS, overwrite=overwrite, pad=("step",),
                                                       resume=resume)  # solver_step_time is ragged along step
    start = writer.size if writer else 0
    if resume:
        try:
            _check_resumable(vc, writer, stim, times, attrs)
        except BaseException:
            writer.keep()
            raise
    full = None if writer else {i + 1: np.empty((n, len(times), *vc.map_shape(i)), np.float32) for i in layers}
    steps = {i + 1: [] for i in cont}

    def keep(sl: slice, done) -> None:
        sl, m = slice(start + sl.start, start + sl.stop), sl.stop - sl.start
        hs = {}
        for i in layers:
            if done.result is None:
                hs[i + 1] = np.full((m, len(times), *vc.map_shape(i)), np.nan, np.float32)
            else:
                hs[i + 1] = done.result[1][i].transpose(0, 1).to(torch.float32).cpu().numpy()
                if hs[i + 1].shape[2:] != vc.map_shape(i):
                    raise RuntimeError(f"block {i + 1} map is {hs[i + 1].shape[2:]} but the geometry "
                                       f"predicts {vc.map_shape(i)}")
        rows = {i + 1: [np.empty(0)] * m if done.result is None else readout.step_rows[i] for i in cont}
        if writer is None:
            for k, arr in hs.items():
                full[k][sl] = arr
            for k, r in rows.items():
                steps[k] += r
        else:
            writer.append(_tree(vc, hs, times, {c: (d, v[sl], a) for c, (d, v, a) in stim.items()}, rows,
                                done.codes, attrs))

    try:
        failure = sweep_readout(vc, x[start:], times, "record", keep, max_num_steps=max_num_steps,
                                solve_budget_s=solve_budget_s, time_budget_s=time_budget_s)
    except BaseException as err:
        if writer is not None:
            if writer.stop_after(err) is not None:
                print(f"record interrupted: the {writer.size} of {n} stimuli finished are kept in "
                      f"{str(writer.partial)!r} (load_dataset reads them; the same record call with resume=True "
                      "continues it)", file=sys.stderr)
        raise
    if writer is None:
        return _tree(vc, full, times, stim, steps, failure, attrs)
    return load_dataset(writer.close(attrs=attrs), lazy=True)


def _check_resumable(vc, writer: ZarrStreamWriter, stim: dict, times: np.ndarray, attrs: dict) -> None:
    """Refuse to continue the finished rows of an interrupted recording (``writer.finished``) unless they are of
    the same request: their stimulus ids the first of this one's, the same times, recorded layers and map shapes,
    and every provenance attr but ``created``."""
    kept, ids = writer.finished, list(stim[STIMULUS][1])
    shapes = {block_name(i + 1): vc.map_shape(i) for i in range(len(vc.readout.layers))}
    differ = [what for what, same in (
        ("stimulus ids", list(kept[STIMULUS].values) == ids[:writer.size]),
        ("times", np.array_equal(kept[TIME].values, times)),
        ("recorded layers or map shapes", {k: kept[k]["h"].shape[2:] for k in kept.children} == shapes),
    ) if not same]
    provenance = [k for k, v in attrs.items() if k != "created" and
                  json.dumps(kept.attrs.get(k), default=json_default) != json.dumps(v, default=json_default)]
    differ += [f"provenance attrs ({', '.join(provenance)})"] if provenance else []
    if differ:
        raise ValueError(f"cannot resume the interrupted recording in {str(writer.partial)!r}: its {', '.join(differ)} "
                         "differ from this call's; pass the same images, stimulus ids, times and cortex, or "
                         "overwrite=True (without resume) to record again")
