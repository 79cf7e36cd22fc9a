"""Figures of ensemble datasets (neurodcn.analysis.ensembles): each member's accuracy alone, and the accuracy
of ensembles of the first k members against the single pass."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from neurodcn.analysis.plots.style import BAND_ALPHA, CI_LEVEL, check_dataset, colors, new_figure

__all__ = ["ENSEMBLE_EXPERIMENTS", "plot_ensemble_accuracy"]

ENSEMBLE_EXPERIMENTS = ("cc_scale_ensemble", "dcn_cc_step_orders")
"""The experiments whose datasets hold ensemble_accuracy's variables."""


def _errorbar(ax, x, ds, name, color, label):
    y = ds[name].values
    err = np.stack([y - ds[f"{name}_low"].values, ds[f"{name}_high"].values - y])
    ax.errorbar(x, y, yerr=err, fmt="o", color=color, capsize=3, label=label)


def plot_ensemble_accuracy(ds: xr.Dataset, axes=None) -> Figure:
    """Left: test accuracy (percent) of every member alone; right: of the ensemble of the first k members, both
    with their bootstrap intervals, and the single pass as a line with its interval as a band."""
    check_dataset(ds, ENSEMBLE_EXPERIMENTS, variables=["member_accuracy", "accuracy", "gain"],
                  coords=["member", "members"])
    fig, (alone, together) = new_figure(axes, ncols=2, width=4.0)
    one, many = colors(2)
    single, (lo, hi) = ds.attrs["single_pass_accuracy"], ds.attrs["single_pass_interval"]
    for ax in (alone, together):
        ax.axhline(single, color="0.3", lw=1, label="single pass")
        ax.axhspan(lo, hi, color="0.3", alpha=BAND_ALPHA, lw=0)
    names = [str(n) for n in ds["member"].values]
    _errorbar(alone, np.arange(len(names)), ds, "member_accuracy", one, "member alone")
    alone.set_xticks(np.arange(len(names)), names, rotation=30, ha="right", fontsize="small")
    alone.set_xlabel("member (test-time setting)")
    alone.set_ylabel(f"test accuracy (%, {CI_LEVEL:.0%} CI)")
    k = ds["members"].values
    _errorbar(together, k, ds, "accuracy", many, "ensemble of the first k")
    together.set_xticks(k)
    together.set_xlabel("members averaged")
    together.sharey(alone)
    bottom, top = alone.get_ylim()
    alone.set_ylim(bottom, top + 0.2 * (top - bottom))  # headroom: the legend sits above the intervals
    for ax in (alone, together):
        ax.legend(frameon=False, fontsize="small", loc="upper center", ncols=2)
    return fig
