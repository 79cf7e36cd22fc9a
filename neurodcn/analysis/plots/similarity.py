"""Figures of model-brain comparison datasets ("rsa" of vc.rsa, "predictivity" of vc.predictivity).

Datasets with a time_bin dim are plotted one bin at a time (``ds.isel(time_bin=j)``).

* :func:`plot_similarity_over_time`: similarity (or median r) against time after onset (ms), one line per
  block with its bootstrap CI, the noise ceiling as a grey band, one panel per region.
* :func:`plot_block_region_matrix`: block x region matrix of the best similarity over model time.
* :func:`plot_predictivity_distributions`: per-neuron r per block at the block's best model time.
* :func:`plot_paired_differences`: a model's best score minus each baseline's, per region, with paired bootstrap
  CIs (a dataset of neurodcn.analysis.compare.paired).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from neurodcn.analysis.compare.paired import paired_table
from neurodcn.analysis.plots.style import band, check_dataset, colors, new_figure
from neurodcn.validate import check_bool

__all__ = ["plot_similarity_over_time", "plot_block_region_matrix", "plot_predictivity_distributions",
           "plot_paired_differences"]

_SCORE = {"rsa": "similarity", "predictivity": "median_r"}
"""The score variable of each experiment."""


def _score(ds, experiments=("rsa", "predictivity")) -> str:
    """The score variable of ``ds``, an "rsa" or "predictivity" dataset without a time_bin dim."""
    check_dataset(ds, experiments)
    if "time_bin" in ds.dims:
        raise ValueError("ds has a time_bin dim: plot one bin at a time, e.g. ds.isel(time_bin=0)")
    return _SCORE[ds.attrs["neurodcn_experiment"]]


def _label(ds, var: str) -> str:
    if var == "similarity":
        return f"RDM similarity ({ds.attrs.get('method', '?')})"
    return "median held-out r"


def plot_similarity_over_time(ds: xr.Dataset, ax=None) -> Figure:
    """Score against time after stimulus onset (ms) per block, CI bands, noise ceiling band, one panel per
    region (``ax``: one Axes per region)."""
    var = _score(ds)
    regions = list(ds["region"].values)
    fig, axes = new_figure(ax, ncols=len(regions), width=4.0, height=3.2)
    x = ds["time_ms"].values
    blocks = ds["block"].values
    for a, region in zip(axes, regions, strict=True):
        sub = ds.sel(region=region)
        if "ceiling_lower" in ds and np.isfinite(sub["ceiling_lower"]).all():
            a.axhspan(float(sub["ceiling_lower"]), float(sub["ceiling_upper"]), color="0.85", label="noise ceiling")
        for block, color in zip(blocks, colors(len(blocks)), strict=True):
            b = sub.sel(block=block)
            a.plot(x, b[var].values, marker="o", ms=3, color=color, label=str(block))
            band(a, x, b[f"{var}_ci_low"].values, b[f"{var}_ci_high"].values, color)
        a.axhline(0, color="0.5", lw=0.5)
        a.set_title(str(region))
        a.set_xlabel("time after stimulus onset (ms)")
        a.set_ylabel(_label(ds, var))
    axes[-1].legend(fontsize="small", frameon=False)
    return fig


def _best(ds: xr.Dataset, var: str) -> xr.DataArray:
    """Index along time of each (block, region)'s best score."""
    return ds[var].fillna(-np.inf).argmax("time")


def plot_block_region_matrix(ds: xr.Dataset, ax=None, relative: bool = False) -> Figure:
    """Block x region matrix of the best score over model time, annotated with the model time in ms of the
    best, or "flat in CI" where every time's score lies inside the best time's CI (``<score>_ci_low``): no
    time is then better than another. relative: divide by the region's lower noise ceiling (nan where there
    is none)."""
    relative = check_bool("relative", relative)
    var = _score(ds)
    fig, (a,) = new_figure(ax, width=1.4 * ds.sizes["region"] + 2.5, height=0.6 * ds.sizes["block"] + 1.8)
    best = _best(ds, var)
    score = ds[var].isel(time=best)
    if relative:
        score = score / ds["ceiling_lower"]
    low = ds.get(f"{var}_ci_low")
    flat = (ds[var] >= low.isel(time=best)).all("time") if low is not None else xr.zeros_like(best, dtype=bool)
    ms = ds["time_ms"].values[best.transpose("block", "region").values]
    flat = flat.transpose("block", "region").values
    m = score.transpose("block", "region").values
    image = a.imshow(m, cmap="viridis", aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            a.text(
                j,
                i,
                f"{m[i, j]:.2f}\n" + ("flat in CI" if flat[i, j] else f"{ms[i, j]:g} ms"),
                ha="center",
                va="center",
                fontsize="small",
                color="white" if m[i, j] < np.nanmean(m) else "black",
            )
    a.set_xticks(range(m.shape[1]), [str(r) for r in ds["region"].values], rotation=30, ha="right")
    a.set_yticks(range(m.shape[0]), [str(b) for b in ds["block"].values])
    what = _label(ds, var) + (" / lower noise ceiling" if relative else "")
    fig.colorbar(image, ax=a, label=f"best {what}")
    return fig


def plot_predictivity_distributions(ds: xr.Dataset, region=None, ax=None) -> Figure:
    """Violin plots of per-neuron held-out r per block, each at its best model time (by median r), for
    ``region`` (default the first)."""
    _score(ds, "predictivity")
    region = ds["region"].values[0] if region is None else region
    if region not in ds["region"].values:
        raise ValueError(f"region must be one of {list(ds['region'].values)}, got {region!r}")
    fig, (a,) = new_figure(ax, width=1.2 * ds.sizes["block"] + 2.0, height=3.2)
    best = _best(ds, "median_r").sel(region=region)
    neurons = ds["neuroid_region"].values == region
    data, labels = [], []
    for block in ds["block"].values:
        t = int(best.sel(block=block))
        r = ds["r"].sel(block=block).isel(time=t).values[neurons]
        data.append(r[np.isfinite(r)])
        labels.append(f"{block}\n{ds['time_ms'].values[t]:g} ms")
    a.violinplot(data, showmedians=True)
    a.axhline(0, color="0.5", lw=0.5)
    a.set_xticks(range(1, len(labels) + 1), labels)
    a.set_ylabel("held-out Pearson r per neuron")
    a.set_title(f"{region}: {int(neurons.sum())} neurons")
    return fig


def plot_paired_differences(ds: xr.Dataset, ax=None) -> Figure:
    """Point ranges of each model's best score minus each baseline's (the comparisons of paired_table): one panel
    per model, regions along x, one colour per baseline, the point the difference and the bar its paired
    bootstrap CI (``ax``: one Axes per model with comparisons)."""
    table = paired_table(ds)
    if "time_bin" in table:
        raise ValueError("ds has a time_bin dim: plot one bin at a time, e.g. ds.isel(time_bin=0)")
    compared = set(table["model"])
    models = [m for m in ds["model"].values.tolist() if m in compared]
    baselines = ds["baseline"].values.tolist()
    regions = ds["region"].values.tolist()
    fig, axes = new_figure(ax, ncols=len(models), width=1.0 * len(regions) + 2.5, height=3.2)
    width = 0.6 / len(baselines)
    for a, model in zip(axes, models, strict=True):
        rows = table[table["model"] == model]
        for k, (base, color) in enumerate(zip(baselines, colors(len(baselines)), strict=True)):
            r = rows[rows["baseline"] == base]
            if r.empty:
                continue
            x = np.array([regions.index(g) for g in r["region"]]) + (k - (len(baselines) - 1) / 2) * width
            a.vlines(x, r["difference_ci_low"], r["difference_ci_high"], color=color, lw=1.5)
            a.plot(x, r["difference"], "o", ms=4, color=color, label=f"minus {base}")
        a.axhline(0, color="0.5", lw=0.5)
        a.set_xticks(range(len(regions)), [str(g) for g in regions], rotation=30, ha="right")
        a.set_xlim(-0.5, len(regions) - 0.5)
        a.set_title(str(model))
        a.legend(fontsize="small", frameon=False)
    axes[0].set_ylabel(ds["difference"].attrs.get("long_name", "model minus baseline").replace(", ", "\n", 1))
    return fig
