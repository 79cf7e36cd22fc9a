"""Figure of contrast sweeps (DCN paper Fig. 5): accuracy and solver effort against contrast, one column per
regime (or model)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from neurodcn.analysis.plots.style import (
    accuracy_label,
    chance_level,
    chance_line,
    ci_band,
    colors,
    named_datasets,
    new_figure,
)

__all__ = ["REGIME_TITLES", "plot_contrast_sweep"]

BLOCK_STYLES = ("-", "--", ":", "-.")
BLOCK_MARKERS = ("o", "s", "^", "D")
"""Line style and marker per ODE block, so blocks with equal NFE stay visible on top of each other."""

REGIME_TITLES = {
    "naive": "naive: input c x image",
    "scale_T_block1": "block 1 integrates to c T",
    "scale_all": "every block to c T, maps scaled by c",
}
"""Column titles of the regimes of neurodcn.cortex.contrast."""


def plot_contrast_sweep(data, axes=None, seed: int = 0) -> Figure:
    """One column per entry of ``data`` (a "contrast_sweep" dataset, named by its regime, or a dict name ->
    dataset): accuracy against contrast on top (with a dashed chance line), forward NFE per ODE block (one
    colour per block) and in total (black) below; log contrast axis ticked at the contrasts, shared y axes
    along each row. With
    per-image results (``per_image=True`` sweeps: ``correct``, ``nfe_per_image``) every line has its 95 %
    bootstrap CI over images (seeded with ``seed``). Contrasts where the solver failed are NaN and leave gaps.
    axes: None or 2 x n Axes (row-major)."""
    named = named_datasets(data, "contrast_sweep", ["accuracy", "nfe", "nfe_total"], ["contrast", "block"], "regime")
    n = len(named)
    fig, flat = new_figure(axes, ncols=n, nrows=2, width=3.6, height=2.9)
    acc_axes, nfe_axes = flat[:n], flat[n:]
    n_blocks = max(ds.sizes["block"] for ds in named.values())
    block_colors = colors(n_blocks)
    chance = chance_level(next(iter(named.values())))
    for j, (name, ds) in enumerate(named.items()):
        acc_ax, nfe_ax = acc_axes[j], nfe_axes[j]
        c = ds["contrast"].values
        if "correct" in ds:
            correct = ds["correct"].transpose("stimulus", "contrast").values.astype(np.float64)
            ci_band(acc_ax, c, np.where(correct < 0, np.nan, correct), "k", seed)
        acc_ax.plot(c, ds["accuracy"].values, color="k", marker=".", label="accuracy")
        if chance is not None:
            chance_line(acc_ax, chance)
        per_image = None
        if "nfe_per_image" in ds:
            per_image = ds["nfe_per_image"].transpose("stimulus", "contrast", "block").values
        for b, k in enumerate(ds["block"].values):
            if per_image is not None:
                ci_band(nfe_ax, c, per_image[:, :, b], block_colors[b], seed)
            nfe_ax.plot(
                c,
                ds["nfe"].sel(block=k).values,
                color=block_colors[b],
                ls=BLOCK_STYLES[b % len(BLOCK_STYLES)],
                marker=BLOCK_MARKERS[b % len(BLOCK_MARKERS)],
                ms=4,
                lw=1.2,
                label=f"block {k}",
            )
        if ds.sizes["block"]:
            if per_image is not None:
                ci_band(nfe_ax, c, per_image.sum(axis=2), "k", seed)
            nfe_ax.plot(c, ds["nfe_total"].values, color="k", lw=2.2, label="total")
        acc_ax.set_title(REGIME_TITLES.get(name, name), fontsize="medium")
        for ax in (acc_ax, nfe_ax):  # log axis ticked at the contrasts run: no crowded minor labels
            ax.set_xscale("log")
            ax.set_xticks(c, [f"{v:g}" for v in c])
            ax.xaxis.set_minor_formatter(NullFormatter())
        nfe_ax.set_xlabel("contrast")
        acc_ax.set_ylim(0, 1)
        if j:
            acc_ax.tick_params(labelleft=False)
            nfe_ax.tick_params(labelleft=False)
    top = np.nanmax([np.nanmax(ds["nfe_total"].values, initial=0.0) for ds in named.values()])
    for ax in nfe_axes:  # one NFE scale for every column, from 0 to the largest total
        ax.set_ylim(0, 1.1 * top if top > 0 else 1.0)
    acc_axes[0].set_ylabel(accuracy_label(named))
    nfe_axes[0].set_ylabel("function evaluations (forward NFE)")
    acc_axes[0].legend(frameon=False, fontsize="small", loc="upper left")
    if nfe_axes[0].lines:  # a model without ODE blocks has no NFE to show
        nfe_axes[0].legend(frameon=False, fontsize="small")
    return fig
