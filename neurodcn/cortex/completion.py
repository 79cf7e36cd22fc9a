"""Pattern completion: centred zero masks, accuracy and D(t) (experiment "pattern_completion"; Figs. 3c, 4).

Mask placement: an n x n square of zeros (all channels) at rows top..top+n-1 and columns left..left+n-1 with
top = (H - n) // 2 and left = (W - n) // 2. When H - n is even the square is exactly centred; when odd it
sits half a pixel above (left of) the centre. For n = 14 on 32 x 32 this is x[:, :, 9:23, 9:23], the DCN
reference's placement. n = 0 is the intact image.

D(t) of ODE block k, per image and time (DCN paper Eq. 4):
    D(t) = sum |h_im(t) - h_masked(t)| / A(t),   A(t) = sum |h_im(t)|,
both sums over the block's whole feature map (channels x rows x columns) at the same model time t, h_im the
state for the intact image and h_masked for the masked one. D is 0 at mask size 0 and NaN/inf if h_im(t) is 0.
Intact and masked images are solved in separate passes of the same batch of images, every image with its own
adaptive steps (neurodcn.cortex.sweep), so D(t) of an image does not depend on its batch. Solver effort is
bounded; an image whose solve fails or runs out of its budget is flagged, never raised: it gets correct = -1,
D = NaN and solver_failure = why (per mask size and stimulus; a failed intact solve fails every mask size of its
image), the accuracy of an affected mask size is NaN, and everything else is kept.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from neurodcn.cortex.inputs import batch_slices, check_labels, check_times
from neurodcn.cortex.record import propagate
from neurodcn.cortex.solver_states import padded_steps
from neurodcn.cortex.sweep import DEFAULT_MAX_NUM_STEPS, DEFAULT_SOLVE_BUDGET_S, Sweep, failure_attrs, ode_end_time
from neurodcn.schema import PIXELS, stimulus_coords, time_coords
from neurodcn.validate import check_int

__all__ = ["DEFAULT_NUM_TIMES", "mask_slices", "center_mask", "pattern_completion"]

DEFAULT_NUM_TIMES = 11
"""With times=None, D(t) is reported at this many evenly spaced model times over [0, T]."""


def mask_slices(height: int, width: int, n: int) -> tuple[slice, slice]:
    """(rows, columns) of the centred n x n mask on a height x width image (see module docstring)."""
    height, width, n = (check_int(name, v, 0) for name, v in (("height", height), ("width", width), ("n", n)))
    if n > min(height, width):
        raise ValueError(
            f"mask size n must be within [0, {min(height, width)}] for a {height} x {width} image, got {n}"
        )
    top, left = (height - n) // 2, (width - n) // 2
    return slice(top, top + n), slice(left, left + n)


def center_mask(images: torch.Tensor, n: int) -> torch.Tensor:
    """A copy of images [N, C, H, W] with the centred n x n square set to 0 in every channel."""
    rows, cols = mask_slices(images.shape[-2], images.shape[-1], n)
    out = images.clone()
    out[..., rows, cols] = 0
    return out


def _mask_sizes(mask_sizes, image_size) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(mask_sizes))
    top = min(image_size)
    if (
        arr.ndim != 1
        or arr.size == 0
        or arr.dtype.kind not in "iu"
        or np.any(arr < 0)
        or np.any(arr > top)
        or np.unique(arr).size != arr.size
    ):
        raise ValueError(
            f"mask_sizes must be distinct integers in [0, {top}] (side of the centred square, px), "
            f"got {arr.tolist()}"
        )
    return arr.astype(np.int64)


def _abs_sum(h: torch.Tensor) -> torch.Tensor:
    """sum |h| over (C, H, W) of a trajectory [time, N, C, H, W], in float64: [time, N]."""
    return h.abs().to(torch.float64).sum(dim=(2, 3, 4))


def pattern_completion(
    vc,
    images,
    labels,
    mask_sizes,
    times=None,
    stimulus_table=None,
    max_num_steps: int = DEFAULT_MAX_NUM_STEPS,
    solve_budget_s: float = DEFAULT_SOLVE_BUDGET_S,
    time_budget_s: float | None = None,
) -> xr.Dataset:
    """Accuracy per mask size and D(t) per ODE block, image and time (experiment "pattern_completion").

    D(t) = sum|h_intact(t) - h_masked(t)| / A(t), with A(t) = sum|h_intact(t)| over the block's whole feature
    map at the same t. Needs a staged classifier; solver failures are flagged, not raised.

    Args:
        images: [N, C, H, W] in [0, 1] (overshoot within float rounding is clipped, as in ``record``).
        labels: N class indices.
        mask_sizes: side n (px) of each centred square mask (0 = intact).
        times: model times in [0, T] for D(t) (None: ``DEFAULT_NUM_TIMES`` points over [0, T]). For models without
            ODE blocks (ResNets) only accuracy and correct are computed and times must be None.
        stimulus_table: optional stimulus table, as in ``record``.
        max_num_steps: step attempts per image and block solve (``neurodcn.cortex.sweep``).
        solve_budget_s: seconds per batch and mask size (s).
        time_budget_s: seconds for the whole experiment (s), or None.

    Returns:
        A Dataset with ``accuracy`` (mask_size), ``correct`` and ``solver_failure`` (mask_size, stimulus), and per
        ODE block ``D_block{k}`` (mask_size, stimulus, time) and ``solver_step_time_block{k}``.

    Examples:
        >>> import neurodcn as nd
        >>> vc = nd.VirtualCortex.pretrained(progress=False)
        >>> stim = nd.load_stimuli("cifar10-demo", num_images=2)
        >>> pc = vc.pattern_completion(stim.images, stim.labels, mask_sizes=[0, 8], times=[0, 2])
        >>> pc.D_block1.dims
        ('mask_size', 'stimulus', 'time')
        >>> float(pc.D_block1.sel(mask_size=0).max())  # an intact image differs from itself by 0
        0.0
    """
    model = vc.model
    ode = [i for i, _ in model.ode_blocks()]
    x = vc.check_images(images)
    n = x.shape[0]
    y = check_labels(labels, n, vc.num_classes)
    sizes = _mask_sizes(mask_sizes, vc.image_size)
    stim = stimulus_coords(n, stimulus_table, images=x.cpu().numpy())
    if ode:
        end = ode_end_time(model)
        times = np.linspace(0.0, end, DEFAULT_NUM_TIMES) if times is None else check_times(times, end)
    elif times is not None:
        raise ValueError(
            f"times must be None for a model without ODE blocks ({vc.name!r}): D(t) needs "
            f"continuous-time blocks; got {times!r}"
        )
    correct = np.zeros((sizes.size, n), np.int8)
    failure = np.zeros((sizes.size, n), np.int8)
    D = {i: np.full((sizes.size, n, len(times)), np.nan) for i in ode}
    steps = {i: [[] for _ in sizes] for i in ode}  # per block and mask: one step-time row per stimulus
    t = times if ode else None
    batches = [sl for _, sl in batch_slices(n, vc.batch_size, False, "")]
    passes = (1 + int((sizes > 0).sum())) * len(batches)  # the intact pass, then one per mask size > 0
    with Sweep(model, max_num_steps=max_num_steps, solve_budget_s=solve_budget_s, time_budget_s=time_budget_s,
               progress=vc.progress, desc="pattern completion", total=passes, unit="pass") as sweep:
        for sl in batches:
            m = sl.stop - sl.start
            first = sweep.run(lambda: propagate(model, x[sl], t), m)  # noqa: B023
            amplitude = {i: _abs_sum(first.result[1][i]) for i in ode} if first.result is not None else {}
            for mi, size in enumerate(sizes):
                done = first if size == 0 else sweep.run(
                    lambda s=int(size): propagate(model, center_mask(x[sl], s), t), m  # noqa: B023
                )
                codes = np.where(first.codes > 0, first.codes, done.codes)
                failure[mi, sl], correct[mi, sl] = codes, -1
                for i in ode:
                    solves = done.solves.get(model.blocks[i])
                    steps[i][mi] += [np.empty(0)] * m if solves is None else list(solves.step_times)
                if done.result is None or first.result is None:
                    continue
                ok = codes == 0
                correct[mi, sl] = np.where(ok, (done.result[0].argmax(1).cpu() == y[sl]).numpy(), -1)
                for i in ode:
                    d = (_abs_sum(first.result[1][i] - done.result[1][i]) / amplitude[i]).T.cpu().numpy()
                    D[i][mi, sl] = np.where(ok[:, None], d, np.nan)
    failed = (failure > 0).any(axis=1)
    coords = {
        "mask_size": (
            "mask_size",
            sizes,
            {"long_name": "side of the centred zero square in pixels (0: intact)", "units": PIXELS},
        ),
        **stim,
    }
    data = {
        "accuracy": (
            "mask_size",
            np.where(failed, np.nan, correct.mean(axis=1, dtype=np.float64)),
            {"long_name": "fraction correct (NaN: solver failed)", "units": "1"},
        ),
        "correct": (
            ("mask_size", "stimulus"),
            correct,
            {
                "long_name": "image classified correctly",
                "units": "1",
                "flag_values": [-1, 0, 1],
                "flag_meanings": "solver_failed incorrect correct",
            },
        ),
    }
    if ode:
        data["solver_failure"] = (("mask_size", "stimulus"), failure, failure_attrs("the image's pass"))
        coords.update(time_coords(times, vc.ms_per_unit_time, vc.onset_ms))
        for i in ode:
            data[f"D_block{i + 1}"] = (
                ("mask_size", "stimulus", "time"),
                D[i],
                {
                    "long_name": f"normalised difference D(t) = sum|h_im - h_masked| / "
                    f"sum|h_im| of ODE block {i + 1}",
                    "units": "1",
                },
            )
            longest = max(len(r) for rows in steps[i] for r in rows)
            data[f"solver_step_time_block{i + 1}"] = (
                ("mask_size", "stimulus", f"step_block{i + 1}"),
                np.stack([padded_steps(rows, longest) for rows in steps[i]]),
                {
                    "long_name": f"model times of the ODE solver's own states in block {i + 1} when solving "
                    "the masked images (mask 0: the intact ones); NaN: fewer steps",
                    "units": "1",
                    "interpolant": model.blocks[i].solver.interpolant,
                },
            )
    return vc.stamp(xr.Dataset(data, coords=coords), "pattern_completion", stimulus_size=np.shape(images)[-2:])
