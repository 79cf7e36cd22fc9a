"""Figures of virtual-cortex datasets: one function per figure kind, each returning a matplotlib Figure.

Every function takes the dataset of one experiment (schemas: DESIGN.md "Dataset conventions"), draws on a new
Figure (built without pyplot, so nothing accumulates in pyplot's figure list) or on the ``ax`` given, labels
every axis with its unit, and saves nothing: :func:`save_figure` writes a figure atomically.

* :func:`plot_sigma_vs_depth`: sigma per SRF layer against depth, coloured by block (DCN paper Fig. 3a).
* :func:`plot_sigma_distributions`: histograms of sigma_ji per ODE block with the fitted log-normal pdf
  (Fig. 3b).
* :func:`plot_accuracy_vs_mask`: accuracy against the side of the central mask, one line per model.
* :func:`plot_completion_dynamics`: D(t) mean +- SD over stimuli, one line per block (Fig. 4).
* :func:`plot_contrast_sweep`: accuracy and NFE (per block and total) against contrast (Fig. 5).
* :func:`plot_srf_filters`: a grid of the K x K kernels of one SRF layer.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import seaborn as sns
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from neurodcn.io.atomic import atomic_path

__all__ = [
    "plot_sigma_vs_depth",
    "plot_sigma_distributions",
    "plot_accuracy_vs_mask",
    "plot_completion_dynamics",
    "plot_contrast_sweep",
    "plot_srf_filters",
    "save_figure",
]

_FORMATS = (".png", ".pdf", ".svg")


def _check(ds, experiment: str, variables=(), coords=(), what: str = "ds") -> xr.Dataset:
    """ValueError naming the experiment or the variables/coords that ``ds`` lacks."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"{what} must be an xarray.Dataset, got {type(ds).__name__}")
    got = ds.attrs.get("neurodcn_experiment")
    if got != experiment:
        raise ValueError(f"{what} must be a {experiment!r} dataset (attrs neurodcn_experiment), got {got!r}")
    missing = [v for v in variables if v not in ds.data_vars] + [c for c in coords if c not in ds.coords]
    if missing:
        raise ValueError(f"{what} ({experiment}) lacks the variables/coords {missing}")
    return ds


def _named(data, what: str, attr: str = "model") -> dict:
    """A dataset or a dict name -> dataset, as a dict (a lone dataset is named by its attr ``attr``)."""
    if isinstance(data, xr.Dataset):
        return {str(data.attrs.get(attr, data.attrs.get("model", "model"))): data}
    if isinstance(data, dict) and data and all(isinstance(v, xr.Dataset) for v in data.values()):
        return {str(k): v for k, v in data.items()}
    raise TypeError(f"{what} must be an xarray.Dataset or a non-empty dict name -> Dataset, got {type(data)}")


def _figure(ax, ncols: int = 1, width: float = 4.5, height: float = 3.5):
    if ax is None:
        fig = Figure(figsize=(width * ncols, height), layout="constrained")
        axes = fig.subplots(1, ncols, squeeze=False)[0]
        return fig, list(axes)
    axes = [ax] if isinstance(ax, Axes) else list(np.ravel(ax))
    if len(axes) != ncols or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(
            f"ax must be {'an Axes' if ncols == 1 else f'a sequence of {ncols} Axes'}, got {ax!r}"
        )
    return axes[0].figure, axes


def _blocks(ds, prefix: str) -> list[int]:
    return sorted(
        int(n[len(prefix) :])
        for n in map(str, ds.data_vars)
        if n.startswith(prefix) and n[len(prefix) :].isdigit()
    )


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
    depth order by a grey line. ds: "receptive_fields"; unit: "px" (sigma_px) or "deg" (sigma_deg); time: for
    time-dependent sigma, the model time to show (default the last, t = T)."""
    if unit not in ("px", "deg"):
        raise ValueError(f"unit must be 'px' or 'deg', got {unit!r}")
    name = f"sigma_{unit}"
    ds = _at_time(_check(ds, "receptive_fields", [name], ["depth", "block"]), time)
    fig, (ax,) = _figure(ax)
    depth, sigma, block = (np.asarray(ds[n].values) for n in ("depth", name, "block"))
    order = np.argsort(depth)
    ax.plot(depth[order], sigma[order], color="0.7", lw=1, zorder=1)
    kinds = np.unique(block)
    for k, color in zip(kinds, sns.color_palette("colorblind", len(kinds)), strict=True):
        sel = block == k
        label = "outside blocks" if k == 0 else f"block {k}"
        ax.scatter(depth[sel], sigma[sel], color=color, label=label, zorder=2)
    ax.set_xlabel("depth (SRF layer index, 1)")
    ax.set_ylabel(f"sigma ({unit})")
    if _time_note(ds):
        ax.set_title(_time_note(ds)[2:])
    ax.legend(frameon=False)
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


def plot_sigma_distributions(ds: xr.Dataset, bins: int = 30, time=None, axes=None) -> Figure:
    """One panel per ODE block: density histogram of sigma_ji (px) and the fitted log-normal pdf,
    scipy.stats.lognorm.pdf(x, shape, scale=scale) on 200 points from 0 to the largest sample.
    ds: "receptive_fields" of a per-pair model (sigma_ji_block{k} and the fits lognorm_shape/scale);
    time: for time-dependent sigma, the model time to show (default the last, t = T)."""
    ds = _at_time(_check(ds, "receptive_fields"), time)
    blocks = _blocks(ds, "sigma_ji_block")
    if not blocks:
        raise ValueError("ds (receptive_fields) lacks sigma_ji_block{k} variables (per-pair models only)")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    fits = {k: _block_fit(ds, k) for k in blocks}
    fig, axs = _figure(axes, ncols=len(blocks), width=3.8)
    for ax, k, color in zip(axs, blocks, sns.color_palette("colorblind", len(blocks)), strict=True):
        samples = np.asarray(ds[f"sigma_ji_block{k}"].values, dtype=np.float64)
        shape, scale = fits[k]
        ax.hist(samples, bins=bins, density=True, color=color, alpha=0.5, label="sigma_ji")
        x = np.linspace(0.0, samples.max(), 200)
        ax.plot(
            x,
            stats.lognorm.pdf(x, shape, scale=scale),
            color="k",
            lw=1.5,
            label=f"log-normal (s={shape:.2f}, scale={scale:.2f} px)",
        )
        ax.set_title(f"block {k} (n={samples.size}{_time_note(ds)})")
        ax.set_xlabel(f"sigma_ji ({ds[f'sigma_ji_block{k}'].attrs.get('units', 'px')})")
        ax.set_ylabel("probability density (1/px)")
        ax.legend(frameon=False, fontsize="small")
    return fig


def plot_accuracy_vs_mask(data, ax=None) -> Figure:
    """Accuracy against mask side (px), one line per model. data: a "pattern_completion" dataset or a dict
    name -> dataset (several models on one axis)."""
    named = _named(data, "data")
    for name, ds in named.items():
        _check(ds, "pattern_completion", ["accuracy"], ["mask_size"], what=f"data[{name!r}]")
    fig, (ax,) = _figure(ax)
    for (name, ds), color in zip(named.items(), sns.color_palette("colorblind", len(named)), strict=True):
        ax.plot(ds["mask_size"].values, ds["accuracy"].values, marker="o", color=color, label=name)
    ax.set_xlabel("mask side (px)")
    ax.set_ylabel("accuracy (fraction correct, 1)")
    ax.legend(frameon=False)
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
    a secondary top axis shows model time. ds: "pattern_completion"."""
    _check(ds, "pattern_completion", coords=["mask_size", "time", "time_ms"])
    blocks = _blocks(ds, "D_block")
    if not blocks:
        raise ValueError("ds (pattern_completion) lacks D_block{k} variables")
    sizes = ds["mask_size"].values
    mask_size = sizes.max() if mask_size is None else mask_size
    if mask_size not in sizes:
        raise ValueError(f"mask_size must be one of {sizes.tolist()}, got {mask_size!r}")
    onset, scale = _time_map(ds)
    fig, (ax,) = _figure(ax)
    ms = ds["time_ms"].values
    for k, color in zip(blocks, sns.color_palette("colorblind", len(blocks)), strict=True):
        d = ds[f"D_block{k}"].sel(mask_size=mask_size)
        mean, sd = d.mean("stimulus").values, d.std("stimulus").values
        ax.plot(ms, mean, color=color, label=f"block {k}")
        ax.fill_between(ms, mean - sd, mean + sd, color=color, alpha=0.25, lw=0)
    ax.set_xlabel("time after stimulus onset (ms)")
    ax.set_ylabel("D(t), mean +- SD over stimuli (1)")
    ax.set_title(f"mask {mask_size} x {mask_size} px")
    top = ax.secondary_xaxis("top", functions=(lambda x: (x - onset) / scale, lambda t: onset + scale * t))
    top.set_xlabel("model time t (1)")
    ax.legend(frameon=False)
    return fig


def plot_contrast_sweep(data, axes=None) -> Figure:
    """Left: accuracy against contrast; right: NFE per block (thin) and total (thick) against contrast; log x.
    data: a "contrast_sweep" dataset (named by its regime) or a dict name -> dataset (e.g. one per regime or
    model; line style per entry). Contrasts where the solver failed are NaN and leave gaps."""
    named = _named(data, "data", attr="regime")
    for name, ds in named.items():
        _check(
            ds,
            "contrast_sweep",
            ["accuracy", "nfe", "nfe_total"],
            ["contrast", "block"],
            what=f"data[{name!r}]",
        )
    fig, (acc_ax, nfe_ax) = _figure(axes, ncols=2)
    styles = ["-", "--", ":", "-."]
    n_blocks = max(ds.sizes["block"] for ds in named.values())
    colors = sns.color_palette("colorblind", n_blocks + 1)
    for i, (name, ds) in enumerate(named.items()):
        ls, c = styles[i % len(styles)], ds["contrast"].values
        acc_ax.plot(c, ds["accuracy"].values, ls=ls, color="k", marker=".", label=name)
        for j, k in enumerate(ds["block"].values):
            nfe_ax.plot(
                c, ds["nfe"].sel(block=k).values, ls=ls, color=colors[j], lw=1, label=f"{name}: block {k}"
            )
        nfe_ax.plot(c, ds["nfe_total"].values, ls=ls, color=colors[-1], lw=2.5, label=f"{name}: total")
    for ax in (acc_ax, nfe_ax):
        ax.set_xscale("log")
        ax.set_xlabel("contrast c (1)")
        ax.legend(frameon=False, fontsize="small")
    acc_ax.set_ylabel("accuracy (fraction correct, 1)")
    nfe_ax.set_ylabel("forward NFE (count)")
    return fig


def plot_srf_filters(layer, t=None, max_out: int = 8, max_in: int = 8) -> Figure:
    """The K x K kernels of an SRF layer as a grid (rows: output channels, columns: input channels), one
    symmetric colour scale for all. layer: an SRFConv2d (its kernel(t) is drawn) or an array [out, in, K, K];
    at most max_out x max_in kernels are shown."""
    from neurodcn.nn.srf import SRFConv2d

    for name, v in (("max_out", max_out), ("max_in", max_in)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if isinstance(layer, SRFConv2d):
        import torch

        with torch.no_grad():
            w = layer.kernel(t).detach().cpu().numpy()
    else:
        w = np.asarray(layer.detach().cpu() if hasattr(layer, "detach") else layer, dtype=np.float64)
    if w.ndim != 4 or w.shape[2] != w.shape[3] or w.shape[2] % 2 == 0:
        raise ValueError(
            f"layer must be an SRFConv2d or an array [out, in, K, K] with odd K, got shape {w.shape}"
        )
    w = w[:max_out, :max_in]
    rows, cols, h = w.shape[0], w.shape[1], w.shape[2] // 2
    vmax = float(np.abs(w).max()) or 1.0
    fig = Figure(figsize=(1.2 * cols + 1.2, 1.2 * rows + 0.6), layout="constrained")
    axs = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    extent = (-h - 0.5, h + 0.5, h + 0.5, -h - 0.5)  # offsets in px, y down as in the image
    for o in range(rows):
        for c in range(cols):
            image = axs[o, c].imshow(w[o, c], cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=extent)
            axs[o, c].set_xticks([-h, 0, h])
            axs[o, c].set_yticks([-h, 0, h])
        axs[o, 0].set_ylabel(f"out {o}")
    for c in range(cols):
        axs[0, c].set_title(f"in {c}", fontsize="small")
    fig.supxlabel("x offset (px)")
    fig.supylabel("y offset (px)")
    fig.colorbar(image, ax=axs, shrink=0.8, label="filter weight (1)")
    return fig


def save_figure(fig: Figure, path, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (.png, .pdf or .svg), atomically (temporary name, then rename)."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if p.suffix not in _FORMATS:
        raise ValueError(f"path must end in one of {_FORMATS}, got {str(path)!r}")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"the directory of path {str(p)!r} does not exist")
    with atomic_path(p) as tmp:
        fig.savefig(tmp, format=p.suffix[1:], dpi=dpi)
    return p
