"""DCN paper Fig. 3a/3b: the learned SRF scale sigma against depth, and the distributions of sigma_ji.

Writes fig3_sigma.nc (VirtualCortex.receptive_fields: sigma, kernel size and preferred spatial frequency per
SRF layer; for per-pair models every sigma_ji with its log-normal fit per ODE block), fig3a_sigma_vs_depth.png
(sigma in px and in degrees against depth) and, for per-pair (dcn-sigma-ji) models only,
fig3b_sigma_ji.png (histograms of sigma_ji per block with the fitted log-normal pdf). No stimuli are needed.
"""

from __future__ import annotations

import numpy as np

from neurodcn.analysis.plots import plot_sigma_distributions, plot_sigma_vs_depth
from neurodcn.analysis.plots.style import block_numbers, new_figure
from neurodcn.paper.inputs import checkpoint_label, load_cortex
from neurodcn.paper.results import Outputs, Result
from neurodcn.validate import check_bool

__all__ = ["run"]

NAME = "fig3_sigma"


def run(checkpoint=None, out="results", quick: bool = False, progress: bool = True) -> Result:
    """Receptive fields of the checkpoint's model, saved and plotted (``quick`` changes nothing: the
    analysis reads only the weights)."""
    check_bool("quick", quick)
    vc = load_cortex(checkpoint, progress=progress)
    ds = vc.receptive_fields()
    blocks = block_numbers(ds, "sigma_ji_block")
    outputs = Outputs(out, NAME)
    pairs = ", every sigma_ji with log-normal fits per ODE block" if blocks else ""
    outputs.dataset(
        ds,
        f"{NAME}.nc",
        f"receptive fields of {vc.name}: sigma (px, deg), kernel size and preferred spatial frequency per "
        f"SRF layer{pairs}",
    )
    fig, axes = new_figure(ncols=2)
    plot_sigma_vs_depth(ds, unit="px", ax=axes[0])
    plot_sigma_vs_depth(ds, unit="deg", ax=axes[1])
    fig.suptitle(f"Fig. 3a: learned sigma against depth ({vc.name})")
    outputs.figure(
        fig,
        "fig3a_sigma_vs_depth.png",
        "Fig. 3a: sigma of every SRF layer against depth, in px of "
        "the layer's input map and in degrees of visual angle",
    )
    px = np.asarray(ds["sigma_px"].values)
    px = px[-1] if px.ndim == 2 else px  # time-dependent sigma: t = T
    summary = [
        f"{NAME}: {px.size} SRF layers, sigma {px.min():.3g} to {px.max():.3g} px "
        f"(first layer {px[0]:.3g}, last {px[-1]:.3g})"
    ]
    if blocks:
        fig = plot_sigma_distributions(ds)
        fig.suptitle(f"Fig. 3b: sigma_ji per ODE block with log-normal fits ({vc.name})")
        outputs.figure(
            fig,
            "fig3b_sigma_ji.png",
            "Fig. 3b: histograms of sigma_ji per ODE block with the fitted log-normal density",
        )
        for k in blocks:
            shape, skew = ds[f"lognorm_shape_block{k}"], ds[f"skewness_block{k}"]
            summary.append(
                f"  block {k}: log-normal shape {float(shape.values.ravel()[-1]):.3g}, "
                f"skewness {float(skew.values.ravel()[-1]):.3g}"
            )
    else:
        summary.append("  (shared sigma: no sigma_ji histograms; Fig. 3b needs a dcn-sigma-ji checkpoint)")
    settings = {"checkpoint": checkpoint_label(checkpoint), "model": vc.name}
    return outputs.finish(settings, summary)
