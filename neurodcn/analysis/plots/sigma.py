"""Figures of receptive-field datasets: learned sigma against depth (DCN paper Fig. 3a), trained against
initial sigma with the map stride separated from learning (a "learned_scales" dataset), sigma_ji histograms
with their log-normal fits (Fig. 3b), and the kernels of one SRF layer (an "srf_kernels" dataset)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from scipy import stats

from neurodcn.analysis.plots.style import block_numbers, check_dataset, colors, new_figure
from neurodcn.validate import check_choice, check_int

__all__ = ["plot_sigma_vs_depth", "plot_learned_scales", "plot_sigma_distributions", "plot_srf_filters"]


def _at_time(ds: xr.Dataset, time) -> xr.Dataset:
    """For a receptive_fields dataset with a ``time`` dim (time-dependent sigma), the values at model time
    ``time`` (default: the last one, t = T); ValueError for a time not recorded or for a time without dim."""
    if "time" not in ds.dims:
        if time is not None:
            raise ValueError(
                f"time must be None: ds has no time dim (its sigma does not depend on t), got {time!r}"
            )
        return ds
    times = ds["time"].values
    if time is None:
        return ds.isel(time=-1)
    if time not in times:
        raise ValueError(f"time must be one of the recorded model times {times.tolist()}, got {time!r}")
    return ds.sel(time=time)


def _time_note(ds: xr.Dataset) -> str:
    """'' or ', t = <model time>' for a dataset selected at one time by :func:`_at_time`."""
    return f", t = {float(ds['time']):g}" if "time" in ds.coords and ds["time"].ndim == 0 else ""


def plot_sigma_vs_depth(ds: xr.Dataset, unit: str = "px", time=None, ax=None) -> Figure:
    """sigma of every SRF layer against its depth, markers coloured by block (0: stem/transitions), joined in
    depth order by grey lines. A px sigma is in pixels of the layer's own input map, so in px only layers on
    one map grid (equal ``map_stride_px``, where ds has it) are joined; in deg all are. ds:
    "receptive_fields"; unit: "px" (sigma_px) or "deg" (sigma_deg); time: for time-dependent sigma, the model
    time to show (default the last, t = T)."""
    unit = check_choice("unit", unit, ("px", "deg"))
    name = f"sigma_{unit}"
    ds = _at_time(check_dataset(ds, "receptive_fields", [name], ["depth", "block"]), time)
    fig, (ax,) = new_figure(ax)
    depth, sigma, block = (np.asarray(ds[n].values) for n in ("depth", name, "block"))
    order = np.argsort(depth)
    grid = (np.asarray(ds["map_stride_px"].values)[order] if unit == "px" and "map_stride_px" in ds.coords
            else np.zeros(depth.size))
    for run in np.split(order, np.flatnonzero(np.diff(grid)) + 1):  # consecutive layers on one grid
        if run.size > 1:
            ax.plot(depth[run], sigma[run], color="0.7", lw=1, zorder=1)
    kinds = np.unique(block)
    for k, color in zip(kinds, colors(len(kinds)), strict=True):
        sel = block == k
        label = "outside blocks" if k == 0 else f"block {k}"
        ax.scatter(depth[sel], sigma[sel], color=color, label=label, zorder=2)
    ax.set_xlabel("depth (SRF layer)")
    ax.set_ylabel(f"sigma ({unit})")
    if _time_note(ds):
        ax.set_title(_time_note(ds)[2:])
    ax.legend(frameon=False)
    return fig


def plot_learned_scales(ds: xr.Dataset, time=None, axes=None) -> Figure:
    """Trained against initial sigma of every SRF layer, with the map stride kept apart from learning; three
    panels against depth: sigma in pixels of the layer's own input map (no stride in it), sigma in degrees
    (stride included), and the learning factor trained / initial with a line at 1. Initial sigma: open grey
    circles; trained: filled, coloured by block, joined to the initial value by a grey segment. The x ticks
    give depth and map stride (x1, x2, ...). ds: "learned_scales" (VirtualCortex.learned_scales); time: for
    time-dependent sigma, the model time to show (default the last, t = T); axes: three Axes or None."""
    names = ["sigma_trained_px", "sigma_initial_px", "sigma_trained_deg", "sigma_initial_deg", "learning_factor",
             "stride_factor"]
    ds = _at_time(check_dataset(ds, "learned_scales", names, ["depth", "block"]), time)
    fig, axs = new_figure(axes, ncols=3, width=3.6, height=3.4)
    depth, block, factor = (np.asarray(ds[n].values) for n in ("depth", "block", "learning_factor"))
    kinds = np.unique(block)
    palette = dict(zip(kinds.tolist(), colors(len(kinds)), strict=True))
    ticks = [f"{d}\nx{s:g}" for d, s in zip(depth, ds["stride_factor"].values, strict=True)]
    for ax, unit, what in zip(axs[:2], ("px", "deg"), ("map px: learning only", "degrees: learning x stride"),
                              strict=True):
        trained, initial = (np.asarray(ds[f"sigma_{w}_{unit}"].values) for w in ("trained", "initial"))
        ax.vlines(depth, np.minimum(trained, initial), np.maximum(trained, initial), color="0.7", lw=1, zorder=1)
        ax.scatter(depth, initial, facecolors="none", edgecolors="0.4", label="at initialisation", zorder=2)
        ax.set_ylabel(f"sigma ({'px of the layer input map' if unit == 'px' else 'deg'})")
        ax.set_title(f"sigma in {what}", fontsize="medium")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        for k in kinds:
            sel = block == k
            ax.scatter(depth[sel], trained[sel], color=palette[k], zorder=3,
                       label=f"trained, {'outside blocks' if k == 0 else f'block {k}'}")
    axs[0].legend(frameon=False, fontsize="small")
    ax = axs[2]
    ax.axhline(1.0, color="0.4", ls="--", lw=1, label="no change")
    ax.vlines(depth, 1.0, factor, color="0.7", lw=1, zorder=1)
    ax.scatter(depth, factor, color=[palette[k] for k in block.tolist()], zorder=2)
    for d, f in zip(depth, factor, strict=True):
        ax.annotate(f"{f:.2f}", (d, f), textcoords="offset points", xytext=(0, 6 if f >= 1 else -12),
                    ha="center", fontsize="small")
    span = max(float(np.max(np.abs(np.log2(factor)))), np.log2(1.1)) * 1.4
    ax.set_yscale("log", base=2)
    ax.set_ylim(2.0**-span, 2.0**span)
    ax.set_ylabel("learning factor (trained / initial)")
    ax.set_title("learning factor", fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    for ax in axs:
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(depth, ticks)
        ax.set_xlabel("SRF layer (depth, map stride)")
    if _time_note(ds):
        fig.suptitle(_time_note(ds)[2:])
    return fig


def _block_fit(ds: xr.Dataset, k: int) -> tuple[float, float]:
    """(shape, scale) of block k: scalar lognorm_*_block{k} vars, or lognorm_* on a dim named block."""
    out = []
    for key in ("shape", "scale"):
        name = f"lognorm_{key}"
        if f"{name}_block{k}" in ds.data_vars:
            out.append(float(ds[f"{name}_block{k}"]))
        elif name in ds.data_vars and "block" in ds[name].dims:
            var = ds[name]
            out.append(float(var.sel(block=k) if "block" in var.coords else var.isel(block=k - 1)))
        else:
            raise ValueError(f"ds (receptive_fields) lacks the log-normal fit of block {k}: {name}_block{k}")
    return out[0], out[1]


def plot_sigma_distributions(ds: xr.Dataset, bins: int = 30, time=None, axes=None, initial=None) -> Figure:
    """One panel per ODE block: density histogram of sigma_ji (px) and the fitted log-normal pdf,
    scipy.stats.lognorm.pdf(x, shape, scale=scale) on 200 points from 0 to the largest sample; given
    ``initial``, the histogram at initialisation as a dashed outline on the same bins.
    ds: "receptive_fields" of a per-pair model (sigma_ji_block{k} and the fits lognorm_shape/scale);
    time: for time-dependent sigma, the model time to show (default the last, t = T); initial: the same
    model's "learned_scales" dataset (VirtualCortex.learned_scales: sigma_ji_initial_block{k}) or None."""
    ds = _at_time(check_dataset(ds, "receptive_fields"), time)
    if initial is not None:
        initial = _at_time(check_dataset(initial, "learned_scales", what="initial"), time)
    blocks = block_numbers(ds, "sigma_ji_block")
    if not blocks:
        raise ValueError("ds (receptive_fields) lacks sigma_ji_block{k} variables (per-pair models only)")
    bins = check_int("bins", bins, minimum=1)
    fits = {k: _block_fit(ds, k) for k in blocks}
    fig, axs = new_figure(axes, ncols=len(blocks), width=3.8)
    for ax, k, color in zip(axs, blocks, colors(len(blocks)), strict=True):
        samples = np.asarray(ds[f"sigma_ji_block{k}"].values, dtype=np.float64)
        shape, scale = fits[k]
        edges = np.histogram_bin_edges(samples, bins=bins)
        ax.hist(samples, bins=edges, density=True, color=color, alpha=0.5, label="sigma_ji")
        if initial is not None:
            ax.hist(np.asarray(initial[f"sigma_ji_initial_block{k}"].values, dtype=np.float64), bins=edges,
                    density=True, histtype="step", color="0.3", ls="--", label="at initialisation")
        x = np.linspace(0.0, samples.max(), 200)
        ax.plot(
            x,
            stats.lognorm.pdf(x, shape, scale=scale),
            color="k",
            lw=1.5,
            label=f"log-normal (s={shape:.2f}, scale={scale:.2f} px)",
        )
        ax.set_title(f"block {k} (n={samples.size}{_time_note(ds)})")
        ax.set_xlabel("sigma_ji (px)")  # the dataset's units are UDUNITS' dimensionless "1"
        ax.set_ylabel("probability density (1/px)")
        ax.legend(frameon=False, fontsize="small", loc="upper right")
    return fig


def plot_srf_filters(ds: xr.Dataset, max_out: int = 8, max_in: int = 8) -> Figure:
    """The K x K kernels of one SRF layer as a grid (rows: output channels, columns: input channels), one
    symmetric colour scale for all, axes in pixels of the layer's input map. ds: "srf_kernels"
    (VirtualCortex.srf_kernels: kernel [out_channel, in_channel, y_offset, x_offset]); at most max_out x max_in
    kernels are shown."""
    ds = check_dataset(ds, "srf_kernels", ["kernel", "sigma_px"], ["y_offset", "x_offset", "layer_name"])
    max_out, max_in = check_int("max_out", max_out, minimum=1), check_int("max_in", max_in, minimum=1)
    w = ds["kernel"].transpose("out_channel", "in_channel", "y_offset", "x_offset").values[:max_out, :max_in]
    y, x = ds["y_offset"].values, ds["x_offset"].values
    rows, cols = w.shape[:2]
    vmax = float(np.abs(w).max()) or 1.0
    fig = Figure(figsize=(1.2 * cols + 1.2, 1.2 * rows + 0.8), layout="constrained")
    axs = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    extent = (x[0] - 0.5, x[-1] + 0.5, y[-1] + 0.5, y[0] - 0.5)  # offsets in px, y down as in the image
    for o in range(rows):
        for c in range(cols):
            image = axs[o, c].imshow(w[o, c], cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=extent)
            axs[o, c].set_xticks([x[0], 0, x[-1]])
            axs[o, c].set_yticks([y[0], 0, y[-1]])
        axs[o, 0].set_ylabel(f"out {o}")
    for c in range(cols):
        axs[0, c].set_title(f"in {c}", fontsize="small")
    fig.suptitle(f"{ds['layer_name'].item()}: sigma = {float(ds['sigma_px']):.3g} px{_time_note(ds)}")
    fig.supxlabel("x offset (px)")
    fig.supylabel("y offset (px)")
    fig.colorbar(image, ax=axs, shrink=0.8, label="filter weight")
    return fig
