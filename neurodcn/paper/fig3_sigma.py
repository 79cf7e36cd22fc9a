"""DCN paper Fig. 3a/3b: the learned SRF scale sigma against depth, trained against initial, and the
distributions of sigma_ji.

Writes fig3_sigma.nc (VirtualCortex.receptive_fields: sigma, kernel size and preferred spatial frequency per
SRF layer; for per-pair models every sigma_ji with its log-normal fit per ODE block), fig3_learned_scales.nc
(VirtualCortex.learned_scales: every layer's sigma trained and at initialisation, in px of its input map, px of
the input image and degrees, the learning factor trained / initial and the map stride), fig3a_sigma_vs_depth.png
and, for per-pair (dcn-sigma-ji) models only, fig3b_sigma_ji.png (histograms of sigma_ji per block with the
fitted log-normal pdf and the histogram at initialisation dashed). No stimuli are needed.

Controls. Fig. 3a: sigma in input pixels or degrees is sigma at initialisation x learning factor x map stride
(x1/2/4 for dcn-ode), so growth with depth says something about learning only through the learning factor; the
figure shows sigma in map px (learning alone) and in degrees (with the stride), trained beside initial, and the
learning factor with a line at 1. Fig. 3b: sigma_ji starts log-normal (log2 sigma ~ N(0, (2/3)^2)), so a
log-normal trained distribution says something only if training moved it. The initial model is rebuilt as the
seed in its config initialised it; a model whose config names no seed gets sigma against depth alone.
"""

from __future__ import annotations

import numpy as np

from neurodcn.analysis.plots import plot_learned_scales, plot_sigma_distributions, plot_sigma_vs_depth
from neurodcn.analysis.plots.style import block_numbers, new_figure
from neurodcn.paper.inputs import checkpoint_label, load_cortex
from neurodcn.paper.results import Outputs, Result
from neurodcn.validate import check_bool

__all__ = ["run"]

NAME = "fig3_sigma"
CLOSE = 0.05
"""A layer whose learning factor is within this fraction of 1 is summarised as left near its initial sigma."""


def _at_end(ds, name: str) -> np.ndarray:
    """Values of ``name`` at t = T when they depend on time."""
    var = ds[name]
    return np.asarray((var.isel(time=-1) if "time" in var.dims else var).values)


def _scale_lines(scales) -> list[str]:
    """Per layer: sigma trained vs initial (px of its input map), learning factor, stride, input px and deg."""
    get = {n: _at_end(scales, n) for n in ("sigma_trained_px", "sigma_initial_px", "learning_factor",
                                           "stride_factor", "sigma_trained_input_px", "sigma_initial_input_px",
                                           "sigma_trained_deg", "sigma_initial_deg")}
    lines = [f"  {name} (block {k}): sigma {get['sigma_trained_px'][j]:.3g} px trained vs "
             f"{get['sigma_initial_px'][j]:.3g} initial (learning x{get['learning_factor'][j]:.3f}), map stride "
             f"x{get['stride_factor'][j]:g} -> {get['sigma_trained_input_px'][j]:.3g} vs "
             f"{get['sigma_initial_input_px'][j]:.3g} input px, {get['sigma_trained_deg'][j]:.3g} vs "
             f"{get['sigma_initial_deg'][j]:.3g} deg"
             for j, (name, k) in enumerate(zip(scales["layer_name"].values, scales["block"].values, strict=True))]
    close = int(np.sum(np.abs(get["learning_factor"] - 1) <= CLOSE))
    return lines + [f"  {close} of {len(lines)} layers within {CLOSE:.0%} of their initial sigma"]


def run(checkpoint=None, out="results", quick: bool = False, progress: bool = True) -> Result:
    """Receptive fields of the checkpoint's model against its initialisation, saved and plotted (``quick``
    changes nothing: the analysis reads only the weights)."""
    check_bool("quick", quick)
    outputs = Outputs(out, NAME)  # starts the clock
    vc = load_cortex(checkpoint, progress=progress)
    ds = vc.receptive_fields()
    blocks = block_numbers(ds, "sigma_ji_block")
    scales = vc.learned_scales() if getattr(vc.model, "config", {}).get("seed") is not None else None
    pairs = ", every sigma_ji with log-normal fits per ODE block" if blocks else ""
    outputs.dataset(ds, f"{NAME}.nc", f"receptive fields of {vc.name}: sigma (px, deg), kernel size and preferred "
                    f"spatial frequency per SRF layer{pairs}")
    px = _at_end(ds, "sigma_px")
    summary = [f"{NAME}: {px.size} SRF layers, sigma {px.min():.3g} to {px.max():.3g} px of the layer's input map "
               f"(first layer {px[0]:.3g}, last {px[-1]:.3g})"]
    if scales is None:
        fig, axes = new_figure(ncols=2)
        plot_sigma_vs_depth(ds, unit="px", ax=axes[0])
        plot_sigma_vs_depth(ds, unit="deg", ax=axes[1])
        fig.suptitle(f"Fig. 3a: learned sigma against depth ({vc.name}; no seed, so no initial sigma)")
        summary.append("  (the model's config names no seed: sigma at initialisation unknown)")
    else:
        outputs.dataset(scales, "fig3_learned_scales.nc", f"sigma of every SRF layer of {vc.name} trained vs "
                        "initialisation: px of its input map, input px, deg, learning factor and map stride")
        fig = plot_learned_scales(scales)
        fig.suptitle(f"Fig. 3a: sigma trained vs initialisation against depth ({vc.name})")
        summary += _scale_lines(scales)
    outputs.figure(fig, "fig3a_sigma_vs_depth.png", "Fig. 3a: sigma of every SRF layer against depth, trained vs "
                   "initialisation where the seed is known: in px of the layer's input map, in degrees of visual "
                   "angle, and the learning factor trained / initial")
    if not blocks:
        summary.append("  (shared sigma: no sigma_ji histograms; Fig. 3b needs a dcn-sigma-ji checkpoint)")
        return outputs.finish({"checkpoint": checkpoint_label(checkpoint), "model": vc.name}, summary)
    fig = plot_sigma_distributions(ds, initial=scales)
    fig.suptitle(f"Fig. 3b: sigma_ji per ODE block with log-normal fits ({vc.name})")
    outputs.figure(fig, "fig3b_sigma_ji.png", "Fig. 3b: histograms of sigma_ji per ODE block with the fitted "
                   "log-normal density and, where the seed is known, the histogram at initialisation (dashed)")
    for k in blocks:
        fit = {n: float(_at_end(ds, f"{n}_block{k}")) for n in ("lognorm_shape", "lognorm_ks_pvalue",
                                                                "normal_ks_pvalue", "skewness")}
        line = (f"  block {k}: log-normal shape {fit['lognorm_shape']:.3g}, KS p {fit['lognorm_ks_pvalue']:.3g} "
                f"(normal: {fit['normal_ks_pvalue']:.3g}), skewness {fit['skewness']:.3g}")
        if scales is not None:
            sel = scales.isel(layer=np.flatnonzero((scales["block"].values == k) & (scales["pairs"].values > 1)))
            line += "; trained vs initial: " + ", ".join(
                f"conv {int(c)} median x{f:.3f}, r(log) {r:.4f}, median |change of log2 sigma| {d:.3g}"
                for c, f, r, d in zip(sel["conv"].values, _at_end(sel, "learning_factor"),
                                      _at_end(sel, "log_correlation"), _at_end(sel, "median_log2_change"),
                                      strict=True))
        summary.append(line)
    return outputs.finish({"checkpoint": checkpoint_label(checkpoint), "model": vc.name}, summary)
