"""Figures of pattern-completion datasets: accuracy against the side of a centred mask (DCN paper Fig. 3c)
and the normalised difference D(t) inside the ODE blocks (Fig. 4)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from neurodcn.analysis.plots.style import (
    accuracy_label,
    band,
    block_numbers,
    chance_level,
    chance_line,
    check_dataset,
    ci_band,
    colors,
    named_datasets,
    new_figure,
)
from neurodcn.validate import check_real

__all__ = ["plot_accuracy_vs_mask", "plot_completion_dynamics"]


def plot_accuracy_vs_mask(data, ax=None, chance="auto", seed: int = 0) -> Figure:
    """Accuracy against mask side (px), one line per model, each with its 95 % bootstrap CI over images (from
    the per-image ``correct``, which pattern_completion datasets hold; seeded with ``seed``), and a dashed
    chance line. data: a "pattern_completion"
    dataset or a dict name -> dataset (several models on one axis). chance: "auto" (1 / num_classes of the
    first model), a number, or None for no line."""
    named = named_datasets(data, "pattern_completion", ["accuracy"], ["mask_size"])
    first = next(iter(named.values()))
    level = chance_level(first) if chance == "auto" else chance
    if level is not None:
        level = check_real("chance", level, lo=0, hi=1, lo_open=True, hi_open=True)
    fig, (ax,) = new_figure(ax)
    for (name, ds), color in zip(named.items(), colors(len(named)), strict=True):
        sizes = ds["mask_size"].values
        if "correct" in ds:
            ci_band(ax, sizes, ds["correct"].transpose("stimulus", "mask_size").values, color, seed)
        images = f" ({ds.sizes['stimulus']} images)" if "stimulus" in ds.dims else ""
        ax.plot(sizes, ds["accuracy"].values, marker="o", color=color, label=f"{name}{images}")
    if level is not None:
        chance_line(ax, level)
    ax.set_ylim(0, 1)
    ax.set_xlabel("side of the centred mask (px)")
    ax.set_ylabel(accuracy_label(named))
    ax.legend(frameon=False, fontsize="small")
    return fig


def _time_map(ds: xr.Dataset) -> tuple[float, float]:
    """(onset_ms, ms_per_unit_time) from the attrs, else from the time and time_ms coords."""
    if "onset_ms" in ds.attrs and "ms_per_unit_time" in ds.attrs:
        return float(ds.attrs["onset_ms"]), float(ds.attrs["ms_per_unit_time"])
    t, ms = np.asarray(ds["time"].values, dtype=float), np.asarray(ds["time_ms"].values, dtype=float)
    if t.size < 2:
        raise ValueError("ds needs attrs onset_ms and ms_per_unit_time when it has a single time point")
    slope = (ms[-1] - ms[0]) / (t[-1] - t[0])
    return float(ms[0] - slope * t[0]), float(slope)


def plot_completion_dynamics(ds: xr.Dataset, mask_size=None, ax=None) -> Figure:
    """D(t) (mean +- SD over stimuli) of every block against time_ms, for one mask size (default the largest);
    a secondary top axis shows model time. Where ds holds the solver's step times (solver_step_time_block{k}),
    each block's own solver states for that mask (masked and intact solves) are ticks along the bottom:
    between them D(t) is the solver's interpolation. ds: "pattern_completion"."""
    check_dataset(ds, "pattern_completion", coords=["mask_size", "time", "time_ms"])
    blocks = block_numbers(ds, "D_block")
    if not blocks:
        raise ValueError("ds (pattern_completion) lacks D_block{k} variables")
    sizes = ds["mask_size"].values
    mask_size = sizes.max() if mask_size is None else mask_size
    if mask_size not in sizes:
        raise ValueError(f"mask_size must be one of {sizes.tolist()}, got {mask_size!r}")
    onset, scale = _time_map(ds)
    fig, (ax,) = new_figure(ax)
    ms = ds["time_ms"].values
    for k, color in zip(blocks, colors(len(blocks)), strict=True):
        d = ds[f"D_block{k}"].sel(mask_size=mask_size)
        mean, sd = d.mean("stimulus").values, d.std("stimulus").values
        ax.plot(ms, mean, color=color, label=f"block {k}")
        band(ax, ms, mean - sd, mean + sd, color)
    for j, (k, color) in enumerate(zip(blocks, colors(len(blocks)), strict=True)):
        if f"solver_step_time_block{k}" not in ds:
            continue
        steps = ds[f"solver_step_time_block{k}"].sel(mask_size=[0, mask_size] if 0 in sizes else [mask_size])
        t = np.unique(np.round(steps.values[np.isfinite(steps.values)], 6))
        t = t[(t >= ds["time"].values.min()) & (t <= ds["time"].values.max())]  # a last step may overshoot T
        ax.plot(onset + scale * t, np.full(t.size, 0.03 + 0.04 * j), "|", color=color, ms=8,
                transform=ax.get_xaxis_transform(), label="solver states" if j == 0 else None)
    ax.set_xlabel("time after stimulus onset (ms)")
    ax.set_ylabel("D(t), mean ± SD over images")
    top = ax.secondary_xaxis("top", functions=(lambda x: (x - onset) / scale, lambda t: onset + scale * t))
    top.set_xlabel("model time t")
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small",
              title=f"mask {mask_size} x {mask_size} px\n{ds.sizes['stimulus']} images", title_fontsize="small")
    return fig
